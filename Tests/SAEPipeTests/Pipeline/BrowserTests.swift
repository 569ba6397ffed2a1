import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine
import SAEPipeServe
import XCTest

/// The feature browser in a real browser: headless Chromium driven by Selenium
/// (scripts/browser-test.py) on the tiny project's bundle from file://, and on a live
/// `saepipe serve` for "Test your text". The test command installs Chromium, its driver and
/// Selenium and sets SAEPIPE_REQUIRE_BROWSER, so CI fails rather than skips without them.
final class BrowserTests: XCTestCase {
    func testBrowserInHeadlessChromium() async throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../scripts/browser-test.py").standardized.path
        let missing = ["/usr/bin/chromedriver", script].filter { !FileManager.default.fileExists(atPath: $0) }
            + (FileManager.default.fileExists(atPath: "/usr/bin/chromium") || FileManager.default.fileExists(atPath: "/usr/bin/chromium-browser") ? [] : ["chromium"])
            + (try Self.runProcess("/usr/bin/env", ["python3", "-c", "import selenium"]).status == 0 ? [] : ["python3's selenium"])
        if !missing.isEmpty {
            let message = "the browser test needs " + missing.joined(separator: ", ") + " (scripts/test.sh installs them)"
            if ProcessInfo.processInfo.environment["SAEPIPE_REQUIRE_BROWSER"] != nil { XCTFail(message); return }
            throw XCTSkip(message)
        }
        let (directory, config) = try makeTinyProject(self)
        _ = try runTinyProject(config, until: nil, overrides: ServeTests.settings)
        let run = "\(directory)/outputs/tiny"
        let current = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(directory)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(current) }
        try BlogExport.export(run: run, to: "\(directory)/bundle", artifacts: "\(directory)/artifacts")

        let probe = try ActivationProbe(runDirectory: run, artifacts: "\(directory)/artifacts")
        let service = try FeatureService(runDirectory: run, probe: probe)
        let (port, server) = try await startServer(service: service, browser: "\(directory)/bundle/browser")
        defer { server.cancel() }
        let result = try await runProcessOffPool("/usr/bin/env", ["python3", script, "--bundle", "\(directory)/bundle", "--serve", "http://127.0.0.1:\(port)/",
                                                     "--text", "the cat sat on the mat"])
        print(result.output)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("browser test: passed"), result.output)
    }

    /// Waits for a program on a thread of its own, so the server keeps the cooperative pool's threads.
    func runProcessOffPool(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try BrowserTests.runProcess(executable, arguments) }) }.start()
        }
    }

    /// Runs a program to its end, output and errors together.
    static func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
