import Foundation
import XCTest

/// Ctrl-C and SIGTERM during training: a checkpoint at the current step, a message saying where
/// training stopped and how to resume, exit 130 / 143; the next run resumes from the checkpoint.
final class InterruptTests: XCTestCase {
    func start(_ config: String, log: String) throws -> Process {
        let process = Process()
        process.executableURL = builtProductsDirectory().appendingPathComponent("saepipe")
        process.arguments = ["run", config]
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    func waitFor(_ what: String, timeout: TimeInterval = 120, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition(), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(condition(), "timed out waiting for \(what)")
    }

    func testSignalsCheckpointTrainingAndSayHowToResume() throws {
        let (directory, config) = try makeTinyProject(
            self, extraConfig: "train: {tokens: 50000000, batch_size: 32, checkpoint_every: 20, validate_every: 0}\n")
        let trainCache = "\(directory)/artifacts/cache/train"
        func checkpoints() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: trainCache)) ?? []).filter { $0.hasPrefix(".resume-") }
        }
        let firstLog = "\(directory)/first.log"
        let first = try start(config, log: firstLog)
        waitFor("the first checkpoint") { !checkpoints().isEmpty }
        kill(first.processIdentifier, SIGINT)
        first.waitUntilExit()
        let firstText = try String(contentsOfFile: firstLog, encoding: .utf8)
        XCTAssertEqual(first.terminationStatus, 130, firstText)
        XCTAssertTrue(firstText.contains("interrupted by SIGINT"), firstText)
        XCTAssertTrue(firstText.contains("stopped at step") && firstText.contains("checkpoint written to"), firstText)
        XCTAssertTrue(firstText.contains("run the same command again"), firstText)

        let secondLog = "\(directory)/second.log"
        let second = try start(config, log: secondLog)
        waitFor("the resumed run") {
            ((try? String(contentsOfFile: secondLog, encoding: .utf8)) ?? "").contains("resuming from step")
        }
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        let secondText = try String(contentsOfFile: secondLog, encoding: .utf8)
        XCTAssertEqual(second.terminationStatus, 143, secondText)
        XCTAssertTrue(secondText.contains("interrupted by SIGTERM") && secondText.contains("stopped at step"), secondText)
    }
}
