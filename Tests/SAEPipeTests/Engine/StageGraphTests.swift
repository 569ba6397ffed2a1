import EngineTestSupport
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine
import XCTest

final class StageGraphTests: XCTestCase {
    /// A project directory with a config whose paths point inside it.
    func makeProject(_ extra: String = "") throws -> (directory: String, config: String) {
        let directory = try temporaryDirectory(self)
        let config = "\(directory)/exp.yaml"
        try write("""
            paths:
              artifacts: \(directory)/artifacts
              outputs: \(directory)/outputs
            \(extra)
            """, to: config)
        return (directory, config)
    }

    func ranStages(_ directory: String) -> [String] {
        let log = (try? String(contentsOfFile: "\(directory)/artifacts/ran.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
    }

    func run(_ config: String, _ overrides: [String] = [], _ options: RunOptions = RunOptions()) throws -> RunReport {
        try TestPipeline.load(config, overrides: overrides).runner().run(options)
    }

    func testSecondIdenticalRunDoesNoStageWork() throws {
        let (directory, config) = try makeProject()
        let first = try run(config)
        XCTAssertEqual(Set(first.ranStages), ["collect.A", "collect.B", "train.A", "train.B", "interpret.A", "interpret.B"])
        let start = Date()
        let second = try run(config)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(second.ranStages, [])
        XCTAssertEqual(ranStages(directory).count, 6)
        print("second identical run took \(String(format: "%.3f", seconds)) s")
        // The run directory names every entry and carries what stages publish.
        let manifest = try ConfigValue(parsingJSON: String(contentsOfFile: "\(directory)/outputs/exp/manifest.json", encoding: .utf8))
        XCTAssertEqual(manifest["run_name"], .string("exp"))
        XCTAssertEqual(manifest["stages"].listValue?.count, 6)
        XCTAssertEqual(manifest["stages"].listValue?.allSatisfy { $0["status"] == .string("cached") }, true)
        let activationA = manifest[path: "activations.A"].stringValue!
        XCTAssertTrue(FileManager.default.fileExists(atPath: activationA + "/data.txt"))
        XCTAssertNotNil(manifest[path: "saes.B"].stringValue)
        XCTAssertEqual(manifest[path: "config.train.steps"], .int(10))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/outputs/exp/features/A.md"))
    }

    func testTrainingKeyInvalidatesTrainingAndDownstreamOnly() throws {
        let (directory, config) = try makeProject()
        _ = try run(config)
        let experiment = try TestPipeline.load(config, overrides: ["train.l1_coefficient=5"])
        let plans = try experiment.runner().plan()
        let willRun = plans.filter { $0.action == .run }.map(\.stage.id)
        XCTAssertEqual(Set(willRun), ["train.A", "train.B", "interpret.A", "interpret.B"])
        let trainA = plans.first { $0.stage.id == "train.A" }!
        XCTAssertEqual(trainA.reasons, ["config train.l1_coefficient: 3.0 → 5.0"])
        let interpretA = plans.first { $0.stage.id == "interpret.A" }!
        XCTAssertEqual(interpretA.reasons, ["upstream train.A will run"])
        let status = StatusReport.render(plans)
        XCTAssertTrue(status.contains("collect.A    cached"), status)
        XCTAssertTrue(status.contains("config train.l1_coefficient: 3.0 → 5.0"), status)

        let report = try experiment.runner().run(RunOptions())
        XCTAssertEqual(Set(report.ranStages), Set(willRun))
        XCTAssertEqual(ranStages(directory).filter { $0.hasPrefix("collect") }.count, 2)
        // Going back to the old value finds the old entries still cached.
        XCTAssertEqual(try run(config).ranStages, [])
    }

    func testUnrelatedKeysDoNotInvalidateAnything() throws {
        let (_, config) = try makeProject()
        _ = try run(config)
        let report = try run(config, ["notes=changed", "runtime.blas_threads=1", "run_name=other"])
        XCTAssertEqual(report.ranStages, [])
    }

    func testInputFileContentIsPartOfTheKey() throws {
        let (directory, config) = try makeProject("collect:\n  dataset: DATA\n")
        let data = "\(directory)/data.txt"
        try write("hello", to: data)
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "DATA", with: data)
            .write(toFile: config, atomically: true, encoding: .utf8)
        _ = try run(config)
        XCTAssertEqual(try run(config).ranStages, [])
        try write("hello, world", to: data)
        let plans = try TestPipeline.load(config).runner().plan()
        XCTAssertEqual(plans.first { $0.stage.id == "collect.A" }?.reasons, ["input \(data) changed"])
        XCTAssertEqual(Set(try run(config).ranStages).count, 6)
    }

    func testMissingOutputIsReportedAndRedone() throws {
        let (_, config) = try makeProject()
        let first = try run(config)
        let trainA = first.plans.first { $0.stage.id == "train.A" }!
        let entry = CacheStore(root: try TestPipeline.load(config).paths.cache).entryDirectory(kind: "train", key: trainA.key)
        try FileManager.default.removeItem(atPath: entry + "/weights.txt")
        let plans = try TestPipeline.load(config).runner().plan()
        XCTAssertEqual(plans.first { $0.stage.id == "train.A" }?.reasons, ["output weights.txt is missing"])
        XCTAssertEqual(plans.first { $0.stage.id == "train.B" }?.action, .cached)
        XCTAssertEqual(try run(config).ranStages, ["train.A"])
    }

    func testSelectionOnlyFromUntilAndForce() throws {
        let (_, config) = try makeProject()
        XCTAssertEqual(Set(try run(config, [], RunOptions(selection: RunSelection(until: "train.A"))).ranStages), ["collect.A", "train.A"])
        XCTAssertThrowsError(try run(config, [], RunOptions(selection: RunSelection(only: "interpret.B")))) { error in
            XCTAssertTrue((error as! SAEPipeError).message.contains("not cached"))
        }
        XCTAssertEqual(Set(try run(config, [], RunOptions(selection: RunSelection(only: "interpret.A"))).ranStages), ["interpret.A"])
        _ = try run(config)
        XCTAssertEqual(Set(try run(config, [], RunOptions(selection: RunSelection(force: ["train"]))).ranStages), ["train.A", "train.B"])
        XCTAssertEqual(Set(try run(config, [], RunOptions(selection: RunSelection(force: ["all"], from: "train.B"))).ranStages), ["train.B", "interpret.B"])
        XCTAssertThrowsError(try run(config, [], RunOptions(selection: RunSelection(only: "trian")))) { error in
            XCTAssertTrue((error as! SAEPipeError).message.contains("did you mean `train`"))
            XCTAssertEqual((error as! SAEPipeError).exitCode, 2)
        }
    }

    func testFailedStageLeavesNoEntryAndNothingHalfWritten() throws {
        let (directory, config) = try makeProject()
        XCTAssertThrowsError(try run(config, ["train.fail=true"])) { error in
            XCTAssertTrue("\(error)".contains("training diverged"))
        }
        let cache = "\(directory)/artifacts/cache/train"
        let names = try FileManager.default.contentsOfDirectory(atPath: cache)
        XCTAssertTrue(names.allSatisfy { $0.hasSuffix(".lock") }, "\(names)")
        // Upstream work that finished is kept, and independent stages ran (train.B failed too: same config).
        XCTAssertEqual(Set(ranStages(directory)), ["collect.A", "collect.B", "train.A", "train.B"])
        XCTAssertEqual(try run(config, ["train.fail=true"], RunOptions(selection: RunSelection(until: "collect"))).ranStages, [])
    }

    func testIndependentStagesRunConcurrentlyWithJobs() throws {
        let (directory, config) = try makeProject()
        _ = try run(config, ["train.sleep_ms=400"], RunOptions(jobs: 2))
        let log = try String(contentsOfFile: "\(directory)/artifacts/ran.log", encoding: .utf8)
        let starts = Dictionary(uniqueKeysWithValues: log.split(separator: "\n").map { line -> (String, Double) in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Double(parts[2])!)
        })
        XCTAssertEqual(starts.count, 6)
        // Each train stage sleeps 0.4 s; with two jobs they overlap.
        XCTAssertLessThan(abs(starts["train.A"]! - starts["train.B"]!), 0.3)
    }

    func testKilledStageLeavesNothingCompleteAndIsRedone() throws {
        let (directory, config) = try makeProject()
        let helper = Process()
        helper.executableURL = builtProductsDirectory().appendingPathComponent("EngineTestHelper")
        helper.arguments = [config]
        helper.environment = ProcessInfo.processInfo.environment.merging([TestPipeline.hangVariable: "1"]) { $1 }
        try helper.run()
        let marker = "\(directory)/artifacts/train-started"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker), Date() < deadline, helper.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker), "helper never reached training")
        kill(helper.processIdentifier, SIGKILL)
        helper.waitUntilExit()

        let cache = "\(directory)/artifacts/cache/train"
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cache)
        XCTAssertTrue(leftovers.contains { $0.hasPrefix(".tmp-") }, "the killed write should be in a temporary dir: \(leftovers)")
        XCTAssertFalse(leftovers.contains { !$0.hasPrefix(".") && !$0.hasSuffix(".lock") }, "no complete entry: \(leftovers)")

        let plans = try TestPipeline.load(config).runner().plan()
        XCTAssertEqual(plans.first { $0.stage.id == "train.A" }?.action, .run)
        let report = try run(config)
        XCTAssertTrue(report.ranStages.contains("train.A") || report.ranStages.contains("train.B"))
        XCTAssertFalse(report.ranStages.contains("collect.A"))
        let after = try FileManager.default.contentsOfDirectory(atPath: cache)
        XCTAssertFalse(after.contains { $0.hasPrefix(".tmp-") }, "stale temporary dirs are cleaned: \(after)")
    }

    func testConcurrentCachedRunsOfOneConfigAllSucceed() throws {
        let (directory, config) = try makeProject()
        _ = try run(config)
        for round in 0..<8 {
            let helpers = (0..<16).map { _ -> Process in
                let helper = Process()
                helper.executableURL = builtProductsDirectory().appendingPathComponent("EngineTestHelper")
                helper.arguments = [config]
                helper.standardOutput = FileHandle.nullDevice
                helper.standardError = Pipe()
                return helper
            }
            for helper in helpers { try helper.run() }
            for helper in helpers {
                helper.waitUntilExit()
                let stderr = (helper.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
                XCTAssertEqual(helper.terminationStatus, 0, "round \(round): \(String(decoding: stderr, as: UTF8.self))")
            }
        }
        let outputs = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/outputs")
        XCTAssertEqual(outputs.filter { !$0.hasPrefix(".lock-") }, ["exp"], "no temporaries left: \(outputs)")
    }

    func testLeftoversOfDeadProcessesAreRemovedByTheNextRun() throws {
        let (directory, config) = try makeProject()
        _ = try run(config)
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = finished.processIdentifier
        let outputs = "\(directory)/outputs", cache = "\(directory)/artifacts/cache/train"
        let here = "\(dead)@\(FileSystem.hostTag)"
        let leftovers = ["\(outputs)/.tmp-exp-\(dead)-0badf00d", "\(outputs)/.old-exp-\(here)-0badf00d",
                         "\(cache)/.tmp-.resume-abc-\(here)-12345678", "\(outputs)/.results.json.tmp-\(dead)-abcdef12",
                         "\(outputs)/.summary.csv.tmp-\(here)-abcdef12"]
        // Another host's temporaries on a shared filesystem may belong to a live process there.
        let otherHost = FileSystem.hostTag == "0000beef" ? "0000feed" : "0000beef"
        let kept = ["\(outputs)/.tmp-exp-1-0badf00d", "\(outputs)/notes.tmp-\(dead)", "\(outputs)/.tmp-exp-\(getpid())-0badf00d",
                    "\(outputs)/.tmp-exp-\(dead)@\(otherHost)-0badf00d", "\(outputs)/.x.json.tmp-\(dead)@\(otherHost)-abcdef12"]
        for path in leftovers + kept { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        _ = try run(config)
        for path in leftovers { XCTAssertFalse(FileManager.default.fileExists(atPath: path), path) }
        for path in kept { XCTAssertTrue(FileManager.default.fileExists(atPath: path), path) }
    }

    func testTwoProcessesNeverWriteTheSameEntry() throws {
        let (directory, config) = try makeProject("train:\n  sleep_ms: 1500\n")
        let helper = Process()
        helper.executableURL = builtProductsDirectory().appendingPathComponent("EngineTestHelper")
        helper.arguments = [config, "--until", "train.A"]
        try helper.run()
        // Start the second run once the helper is inside train.A (holding its lock).
        let deadline = Date().addingTimeInterval(60)
        while !ranStages(directory).contains("train.A"), Date() < deadline, helper.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let report = try run(config, [], RunOptions(selection: RunSelection(until: "train.A")))
        helper.waitUntilExit()
        XCTAssertEqual(helper.terminationStatus, 0)
        XCTAssertEqual(report.ranStages, [], "the second process waited for the lock and found the entry complete")
        XCTAssertEqual(ranStages(directory).filter { $0 == "train.A" }.count, 1)
    }

    func testCacheKeyIsDeterministicAndCoversEveryPart() {
        let stage = StageSpec(id: "s", kind: "train", version: 1, config: .map(["a": .int(1)]), run: { _ in })
        let up = [EntryManifest.Upstream(id: "u", key: "k1")]
        let input = [EntryManifest.Input(path: "p", sha256: "h1")]
        let base = Planner.key(stage: stage, upstream: up, inputs: input)
        XCTAssertEqual(base, Planner.key(stage: stage, upstream: up, inputs: input))
        var other = stage
        other.version = 2
        XCTAssertNotEqual(base, Planner.key(stage: other, upstream: up, inputs: input))
        other = stage
        other.config = .map(["a": .int(2)])
        XCTAssertNotEqual(base, Planner.key(stage: other, upstream: up, inputs: input))
        XCTAssertNotEqual(base, Planner.key(stage: stage, upstream: [.init(id: "u", key: "k2")], inputs: input))
        XCTAssertNotEqual(base, Planner.key(stage: stage, upstream: up, inputs: [.init(path: "p", sha256: "h2")]))
        // The id does not enter the key: identical work is shared.
        other = stage
        other.id = "t"
        XCTAssertEqual(base, Planner.key(stage: other, upstream: up, inputs: input))
    }

    func testDagRendersEveryFormat() throws {
        let (_, config) = try makeProject()
        let graph = try TestPipeline.load(config).graph
        XCTAssertTrue(DAGRenderer.render(graph, format: .text).contains("train.A  ← collect.A"))
        XCTAssertTrue(DAGRenderer.render(graph, format: .dot).contains("\"collect.A\" -> \"train.A\";"))
        XCTAssertTrue(DAGRenderer.render(graph, format: .mermaid).contains("collect_A --> train_A"))
    }
}
