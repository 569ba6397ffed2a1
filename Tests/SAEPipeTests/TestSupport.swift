import Foundation
import EngineTestSupport
import SAEPipe
import SAEPipeEngine
import XCTest

/// A fresh directory under the system temp dir, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, file: StaticString = #filePath) throws -> String {
    let path = NSTemporaryDirectory() + "saepipe-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func fixturePath(_ relative: String) -> String {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(relative).path
}

func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// The directory holding the test bundle's sibling executables (EngineTestHelper).
func builtProductsDirectory() -> URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}

/// The tiny-neox project of `TinyProject` in a fresh temporary directory.
func makeTinyProject(_ test: XCTestCase, collectExtra: String = "", extraConfig: String = "") throws -> (directory: String, config: String) {
    let directory = try temporaryDirectory(test)
    try TinyProject.write(in: directory, model: fixturePath("tiny-neox"), collectExtra: collectExtra, extraConfig: extraConfig)
    return (directory, "\(directory)/config.yaml")
}

/// What a run of the tiny project ran.
struct TinyRun { var ran: [String] }

/// Runs the product pipeline on a tiny project's config, up to `until`.
func runTinyProject(_ config: String, until: String?, overrides: [String] = []) throws -> TinyRun {
    let experiment = try Experiment.load(configPath: config, overrides: overrides)
    let report = try experiment.runner().run(RunOptions(selection: RunSelection(until: until)))
    return TinyRun(ran: report.ranStages.map(\.rawValue))
}

/// Inflates gzip data with the system's gzip (an independent reader of what saepipe wrote).
func gunzip(_ data: Data) throws -> Data? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/usr/bin/gzip") ? "/usr/bin/gzip" : "/bin/gzip")
    process.arguments = ["-dc"]
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    // Written from another thread so a large output cannot block the input.
    let writer = Thread { input.fileHandleForWriting.write(data); try? input.fileHandleForWriting.close() }
    writer.start()
    let result = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? result : nil
}
