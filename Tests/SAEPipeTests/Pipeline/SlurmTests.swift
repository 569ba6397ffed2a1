import EngineTestSupport
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine
import XCTest

/// The Slurm executor: its settings and state parsing here, and a tiny two-variant sweep
/// through a real Slurm when one answers (`scripts/slurm-cluster.sh start` makes a one-node
/// cluster; the test command starts it).
final class SlurmTests: XCTestCase {
    func saepipe(_ arguments: [String], in directory: String) throws -> (status: Int32, out: String, err: String) {
        let result = try Subprocess.run(builtProductsDirectory().appendingPathComponent("saepipe").path, arguments, in: directory)
        return (result.status, result.output, result.error)
    }

    func testSettingsMergePerStageKindAndRefuseMalformedValues() throws {
        let (_, config) = try makeTinyProject(self, extraConfig: """
            slurm:
              partition: cpu
              time: "2:00:00"
              mem: 4G
              extra_args: ["--qos=short"]
              stages:
                collect: {mem: 16G, extra_args: ["--exclusive"]}
                train: {time: 1-00:00:00, cpus_per_task: 8}

            """)
        let settings = try SlurmSettings.read(try Experiment.load(configPath: config).config.value)
        XCTAssertEqual(settings.options(forKind: "collect").sbatchArguments,
                       ["--partition=cpu", "--time=2:00:00", "--cpus-per-task=2", "--mem=16G", "--qos=short", "--exclusive"])
        XCTAssertEqual(settings.options(forKind: "train").sbatchArguments,
                       ["--partition=cpu", "--time=1-00:00:00", "--cpus-per-task=8", "--mem=4G", "--qos=short"])
        XCTAssertEqual(settings.options(forKind: "eval").sbatchArguments, ["--partition=cpu", "--time=2:00:00", "--cpus-per-task=2", "--mem=4G", "--qos=short"])
        XCTAssertEqual(settings.pollSeconds, 10)

        for (key, value, message) in [("slurm.time", "2h", "not a Slurm time limit"), ("slurm.stages.collect.mem", "lots", "not a Slurm memory size"),
                                      ("slurm.extra_args", "[qos=short]", "not an sbatch option")] {
            let experiment = try Experiment.load(configPath: config, overrides: ["\(key)=\(value)"])
            XCTAssertThrowsError(try SlurmSettings.read(experiment.config.value), key) { error in
                let text = (error as? SAEPipeError)?.description ?? "\(error)"
                XCTAssertTrue(text.contains(message) && text.contains(key), text)
            }
        }
        XCTAssertThrowsError(try Experiment.load(configPath: config, overrides: ["slurm.stages.trian.mem=4G"]))
    }

    func testJobStatesFoldSlurmsNames() {
        XCTAssertEqual(SlurmJobState(slurmState: "PENDING", reason: "Dependency"), .pending(reason: "Dependency"))
        XCTAssertEqual(SlurmJobState(slurmState: "PENDING", reason: "DependencyNeverSatisfied"), .ended("DEPENDENCY_NEVER_SATISFIED"))
        XCTAssertEqual(SlurmJobState(slurmState: "COMPLETING"), .running)
        XCTAssertEqual(SlurmJobState(slurmState: "COMPLETED"), .completed)
        XCTAssertEqual(SlurmJobState(slurmState: "CANCELLED by 0"), .ended("CANCELLED"))
        XCTAssertEqual(SlurmJobState(slurmState: "OUT_OF_MEMORY"), .ended("OUT_OF_MEMORY"))
        XCTAssertFalse(SlurmJobState.ended("TIMEOUT").isActive)
    }

    func testExecutorOptionsAreCheckedBeforeAnyWork() throws {
        let (directory, config) = try makeTinyProject(self, extraConfig: "sweep: {grid: {train.l1_coefficient: [1, 4]}}\n")
        let status = try saepipe(["sweep", config, "--status"], in: directory)
        XCTAssertEqual(status.status, 2)
        XCTAssertTrue(status.err.contains("--executor slurm"), status.err)
        let detach = try saepipe(["run", config, "--detach"], in: directory)
        XCTAssertEqual(detach.status, 2)
        XCTAssertTrue(detach.err.contains("--detach is for --executor slurm"), detach.err)
        let force = try saepipe(["run", config, "--executor", "slurm", "--force", "train"], in: directory)
        XCTAssertEqual(force.status, 2)
        let nothingYet = try saepipe(["sweep", config, "--executor", "slurm", "--status"], in: directory)
        XCTAssertEqual(nothingYet.status, 0, nothingYet.err)
        XCTAssertTrue(nothingYet.err.contains("no Slurm jobs were submitted for it yet"), nothingYet.err)
        XCTAssertFalse(FileSystem.exists("\(directory)/artifacts/cache/collect"), "nothing ran")
        XCTAssertFalse(FileSystem.exists("\(directory)/outputs/sweeps/config/sweep.json"), "no sweep state was written")
    }

    /// What a job runs: exactly the submitted entry, no run directory, and nothing when the key moved.
    func testAStageJobComputesItsEntryOrRefusesAChangedOne() throws {
        let (directory, config) = try makeTinyProject(self)
        let experiment = try Experiment.load(configPath: config)
        let key = try XCTUnwrap(try experiment.runner().plan().first { $0.stage.id == "collect.A" }).key
        XCTAssertThrowsError(try StageJob.run(configPath: config, stage: "collect.A", key: "0123456789ab")) { error in
            XCTAssertTrue("\(error)".contains("not the submitted 0123456789ab"), "\(error)")
        }
        XCTAssertFalse(FileSystem.exists("\(directory)/artifacts/cache/collect/\(key)"))
        XCTAssertEqual(try StageJob.run(configPath: config, stage: "collect.A", key: key), .ran)
        XCTAssertTrue(FileSystem.exists("\(directory)/artifacts/cache/collect/\(key)/manifest.json"))
        XCTAssertFalse(FileSystem.exists("\(directory)/outputs/tiny"), "the submitter builds run directories")
        XCTAssertEqual(try StageJob.run(configPath: config, stage: "collect.A", key: key), .cached)
    }

    /// Why no Slurm cluster can take jobs from here, or nil when one answers.
    static func clusterProblem() -> String? {
        if let reason = SlurmClient.unavailableReason() { return reason }
        guard let result = try? Subprocess.run("sinfo", ["--noheader", "--format=%T"]) else { return "sinfo did not start" }
        let text = result.output + result.error
        guard result.status == 0, ["idle", "mix", "alloc"].contains(where: text.contains) else {
            return "sinfo: \(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "no node")"
        }
        // Jobs of others would hold the test's jobs back for as long as they run.
        if let queue = try? SlurmClient().queue(), case let waiting = queue.filter(\.state.isActive), !waiting.isEmpty {
            return "the cluster is busy with \(waiting.count) other jobs"
        }
        return nil
    }

    /// Two λ over the tiny model through a real Slurm: collect submitted once, dependencies kept,
    /// outputs byte-identical to the local executor's, a job cancelled with scancel resubmitted on rerun.
    func testTinySweepRunsThroughSlurmLikeTheLocalExecutor() throws {
        if let problem = SlurmTests.clusterProblem() {
            throw XCTSkip("the Slurm executor's sweep test needs an idle Slurm cluster: \(problem); `scripts/slurm-cluster.sh start` starts a one-node one")
        }
        // One BLAS thread both ways: the forward pass's summation order follows the thread count.
        let sweep = """
            sae: {expansion: 2}
            train: {tokens: 2000, batch_size: 100, lr_warmup_steps: 2}
            eval: {sequences: 2}
            runtime: {blas_threads: 1}
            slurm: {cpus_per_task: 1, mem: 1G, poll_seconds: 0.5}
            sweep: {name: lambda, grid: {train.l1_coefficient: [1, 4]}}

            """
        let (directory, config) = try makeTinyProject(self, extraConfig: sweep)
        let slurmDirectory = "\(directory)/outputs/sweeps/lambda/slurm"

        // Submit and detach, then cancel the second variant's train.A while it waits for collect.
        let submitted = try saepipe(["sweep", config, "--executor", "slurm", "--detach"], in: directory)
        XCTAssertEqual(submitted.status, 0, submitted.err)
        XCTAssertTrue(submitted.err.contains("14 stage entries to compute (14 jobs submitted now)"), submitted.err)
        let jobs = try SlurmJobsFile.read(directory: slurmDirectory)
        XCTAssertEqual(jobs.jobs.count, 14)
        let collects = jobs.jobs.filter { $0.entry.hasPrefix("collect/") }
        XCTAssertEqual(collects.count, 2, "collect.A and collect.B once for both variants")
        XCTAssertEqual(collects.map(\.stages.count), [2, 2])
        let victim = try XCTUnwrap(jobs.jobs.first { $0.stages == ["l1_coefficient=4: train.A"] })
        XCTAssertEqual(victim.dependencies, [collects.first { $0.stages[0].hasSuffix("collect.A") }!.id], "train.A waits for collect.A")
        _ = try saepipe(["sweep", config, "--executor", "slurm", "--status", "--detach"], in: directory)
        XCTAssertEqual(try Subprocess.run("scancel", [victim.id]).status, 0)

        // Following the jobs: the first variant completes, the second fails at the cancelled job.
        let followed = try saepipe(["sweep", config, "--executor", "slurm", "--status"], in: directory)
        XCTAssertNotEqual(followed.status, 0)
        XCTAssertTrue(followed.err.contains("1 of 2 variants complete, 1 failed"), followed.err)
        XCTAssertTrue(followed.err.contains("train.A failed (job \(victim.id)"), followed.err)

        // The rerun submits only the cancelled job and those that depended on it.
        let rerun = try saepipe(["sweep", config, "--executor", "slurm"], in: directory)
        XCTAssertEqual(rerun.status, 0, rerun.err)
        XCTAssertTrue(rerun.err.contains("2 of 2 variants complete"), rerun.err)
        let after = try SlurmJobsFile.read(directory: slurmDirectory)
        let resubmitted = after.jobs.filter { $0.attempts == 2 }.flatMap(\.stages).sorted()
        XCTAssertEqual(resubmitted, ["l1_coefficient=4: eval", "l1_coefficient=4: interpret.A", "l1_coefficient=4: train.A", "l1_coefficient=4: viz"])
        XCTAssertEqual(after.job(forEntry: collects[0].entry)?.id, collects[0].id, "collect was not resubmitted")

        // Every stage started after the entries it reads were finished.
        let cache = CacheStore(root: "\(directory)/artifacts/cache")
        for job in after.jobs {
            let parts = job.entry.split(separator: "/").map(String.init)
            let manifest = try XCTUnwrap(cache.readManifest(kind: parts[0], key: parts[1]))
            for upstream in manifest.upstream {
                let up = try XCTUnwrap(after.jobs.first { $0.entry.hasSuffix("/\(upstream.key)") }, "\(upstream.id)")
                let upParts = up.entry.split(separator: "/").map(String.init)
                let upManifest = try XCTUnwrap(cache.readManifest(kind: upParts[0], key: upParts[1]))
                XCTAssertGreaterThanOrEqual(manifest.started, upManifest.finished, "\(job.stages) after \(up.stages)")
            }
        }

        // The local executor in a copy of the project gives the same bytes.
        let local = try temporaryDirectory(self)
        try TinyProject.write(in: local, model: fixturePath("tiny-neox"), extraConfig: sweep)
        let localRun = try saepipe(["sweep", "\(local)/config.yaml"], in: local)
        XCTAssertEqual(localRun.status, 0, localRun.err)
        for variant in ["l1_coefficient=1", "l1_coefficient=4"] {
            for file in ["results.json", "train/A/validation.json", "train/B/validation.json", "features/A_on_B.json", "figures/fve_matrix.png"] {
                let slurm = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/sweeps/lambda/\(variant)/\(file)"))
                let here = try Data(contentsOf: URL(fileURLWithPath: "\(local)/outputs/sweeps/lambda/\(variant)/\(file)"))
                XCTAssertEqual(slurm, here, "\(variant)/\(file)")
            }
        }
        // The cache entries behind them (keys differ: the projects' dataset paths do).
        for variant in ["l1_coefficient=1", "l1_coefficient=4"] {
            let slurmStages = try RunManifest.read(runDirectory: "\(directory)/outputs/sweeps/lambda/\(variant)").stages
            let localStages = try RunManifest.read(runDirectory: "\(local)/outputs/sweeps/lambda/\(variant)").stages
            for (stage, file) in [("collect.A", "acts.mmap"), ("collect.B", "acts.mmap"), ("train.A", "sae_weights.safetensors"), ("train.B", "sae_weights.safetensors")] {
                let slurmEntry = try XCTUnwrap(slurmStages.first { $0.id.rawValue == stage }).entry
                let localEntry = try XCTUnwrap(localStages.first { $0.id.rawValue == stage }).entry
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(slurmEntry)/\(file)")),
                               try Data(contentsOf: URL(fileURLWithPath: "\(localEntry)/\(file)")), "\(variant) \(stage)")
            }
        }
        let slurmSummary = try String(contentsOfFile: "\(directory)/outputs/sweeps/lambda/summary.csv", encoding: .utf8)
        XCTAssertEqual(slurmSummary, try String(contentsOfFile: "\(local)/outputs/sweeps/lambda/summary.csv", encoding: .utf8))

        // A rerun with everything cached submits nothing.
        let idle = try saepipe(["sweep", config, "--executor", "slurm"], in: directory)
        XCTAssertEqual(idle.status, 0, idle.err)
        XCTAssertTrue(idle.err.contains("(0 jobs submitted now)"), idle.err)
    }
}
