import Collections
import Foundation
import Logging
import SAEPipeCore

public struct RunOptions: Sendable {
    public var selection: RunSelection
    public var dryRun: Bool
    /// How many independent stages may run at once.
    public var jobs: Int
    /// Build the run directory afterwards. A Slurm job computes one cache entry and leaves
    /// the run directory to the command that submitted it.
    public var assemble: Bool

    public init(selection: RunSelection = RunSelection(), dryRun: Bool = false, jobs: Int = 1, assemble: Bool = true) {
        self.selection = selection
        self.dryRun = dryRun
        self.jobs = max(1, jobs)
        self.assemble = assemble
    }
}

public struct RunReport: Sendable {
    public struct StageOutcome: Sendable {
        public var id: StageID
        public var status: StageStatus
        public var seconds: Double
    }

    public var plans: [StagePlan]
    public var outcomes: [StageOutcome]
    public var runDirectory: String?
    /// Why the outputs are not at `outputs/<run_name>/` (another config's run is there).
    public var runNote: String?
    public var seconds: Double

    public var ranStages: [StageID] { outcomes.filter { $0.status == .ran }.map(\.id) }
}

/// Runs a stage graph against the cache: plans, executes what must run (up to
/// `jobs` at once), then assembles the run directory.
public final class PipelineRunner: @unchecked Sendable {
    public let graph: StageGraph
    public let config: ResolvedConfig
    public let runName: String
    public let paths: ProjectPaths
    let cache: CacheStore
    let fileHashes: FileHashCache
    let logger = Logger(label: "saepipe")

    public init(graph: StageGraph, config: ResolvedConfig, runName: String, paths: ProjectPaths) {
        self.graph = graph
        self.config = config
        self.runName = runName
        self.paths = paths
        cache = CacheStore(root: paths.cache)
        fileHashes = FileHashCache(storePath: paths.fileHashStore)
    }

    /// Where this config's outputs go: `outputs/<run_name>/` unless another config's run is there.
    public func location() -> RunLocation { RunLocation.choose(paths: paths, runName: runName, config: config.value, defaults: config.defaults) }

    var manifestPath: String { "\(location().path)/\(RunManifest.fileName)" }

    public func plan(_ selection: RunSelection = RunSelection()) throws -> [StagePlan] {
        let planner = Planner(
            graph: graph, cache: cache, fileHashes: fileHashes,
            previous: RunManifest.previousRecords(at: manifestPath))
        defer { fileHashes.save() }
        return try planner.plan(selection)
    }

    public func run(_ options: RunOptions) throws -> RunReport {
        let started = Date()
        let plans = try plan(options.selection)
        if options.dryRun {
            return RunReport(plans: plans, outcomes: [], runDirectory: nil, runNote: nil, seconds: Date().timeIntervalSince(started))
        }
        removeDeadLeftovers()
        var outcomes = try execute(plans, jobs: options.jobs, forced: Set(plans.filter(\.forced).map(\.stage.id)))
        guard options.assemble else {
            return RunReport(plans: plans, outcomes: outcomes, runDirectory: nil, runNote: nil, seconds: Date().timeIntervalSince(started))
        }
        let location = location()
        if let note = location.note { logger.notice("\(note)") }
        let runDirectory = try assembleRunDirectory(at: location.path, plans: plans, outcomes: &outcomes, started: started)
        return RunReport(plans: plans, outcomes: outcomes, runDirectory: runDirectory, runNote: location.note,
                         seconds: Date().timeIntervalSince(started))
    }

    /// Temporaries that killed runs left (named with their dead pid) in the run directories'
    /// parent and the cache, removed before this run adds its own.
    func removeDeadLeftovers() {
        let kinds = ((try? FileManager.default.contentsOfDirectory(atPath: cache.root)) ?? [])
            .map { "\(cache.root)/\($0)" }.filter(FileSystem.isDirectory)
        for directory in [paths.outputs, cache.root] + kinds {
            for name in FileSystem.removeDeadLeftovers(in: directory) {
                logger.debug("removed \(directory)/\(name), left by a process that no longer runs")
            }
        }
    }

    // MARK: - Execution

    /// Scheduler state shared by the worker threads; every access holds `condition`.
    private final class Schedule: @unchecked Sendable {
        let condition = NSCondition()
        var running = 0
        var finished = Set<StageID>()
        var failure: Error?
        var results: [StageID: RunReport.StageOutcome] = [:]
    }

    private func execute(_ plans: [StagePlan], jobs: Int, forced: Set<StageID>) throws -> [RunReport.StageOutcome] {
        let byId = Dictionary(uniqueKeysWithValues: plans.map { ($0.stage.id, $0) })
        var pending = plans.filter { $0.action == .run }.map(\.stage.id)
        let toRun = Set(pending)
        let schedule = Schedule()
        let condition = schedule.condition

        // After a failure, stages that do not depend on it still run (nothing independent
        // is lost); those downstream of it never become ready.
        condition.lock()
        while true {
            do {
                while schedule.running < jobs,
                    let index = pending.firstIndex(where: { id in
                        byId[id]!.stage.upstream.allSatisfy { !toRun.contains($0) || schedule.finished.contains($0) }
                    })
                {
                    let plan = byId[pending.remove(at: index)]!
                    schedule.running += 1
                    let thread = Thread { [self] in
                        let outcome: Result<RunReport.StageOutcome, Error> = Result {
                            try self.executeStage(plan, plans: byId, forced: forced.contains(plan.stage.id))
                        }.mapError { SAEPipeError.fromSystem($0) as Error }
                        condition.lock()
                        schedule.running -= 1
                        switch outcome {
                        case .success(let result):
                            schedule.results[plan.stage.id] = result
                            schedule.finished.insert(plan.stage.id)
                        case .failure(let error):
                            // The first failure is what the run throws (and the command prints);
                            // saying it here too would print it twice.
                            if schedule.failure == nil {
                                schedule.failure = error
                                Logger(label: plan.stage.id.rawValue).error("failed")
                            } else {
                                Logger(label: plan.stage.id.rawValue).error("failed: \(error)")
                            }
                        }
                        condition.signal()
                        condition.unlock()
                    }
                    thread.stackSize = 16 << 20
                    thread.start()
                }
            }
            if schedule.running == 0 { break }
            condition.wait()
        }
        condition.unlock()
        if let failure = schedule.failure { throw failure }
        return plans.map { plan in
            schedule.results[plan.stage.id]
                ?? RunReport.StageOutcome(
                    id: plan.stage.id, status: plan.action == .cached ? .cached : .notRun, seconds: 0)
        }
    }

    private func executeStage(_ plan: StagePlan, plans: [StageID: StagePlan], forced: Bool) throws -> RunReport.StageOutcome {
        let stage = plan.stage
        let stageLogger = Logger(label: stage.id.rawValue)
        let lock = try cache.lock(kind: stage.kind, key: plan.key) { holder in
            stageLogger.info("waiting for another saepipe (pid \(holder.map(String.init) ?? "?")) writing this entry")
        }
        defer { lock.release() }
        if !forced, cache.problem(kind: stage.kind, key: plan.key) == nil {
            stageLogger.info("cached (finished by another run while waiting)")
            return RunReport.StageOutcome(id: stage.id, status: .cached, seconds: 0)
        }
        stageLogger.info("running: \(plan.reasons.joined(separator: "; "))")
        let started = Date()
        try cache.write(kind: stage.kind, key: plan.key) { temporary in
            let context = StageContext(
                stageId: stage.id, key: plan.key, config: stage.config, outputDirectory: temporary,
                upstreamDirectories: Dictionary(uniqueKeysWithValues: stage.upstream.map {
                    ($0, cache.entryDirectory(kind: plans[$0]!.stage.kind, key: plans[$0]!.key))
                }),
                logger: stageLogger)
            try stage.run(context)
            return EntryManifest(
                saepipeVersion: SAEPipeVersion.current, stage: stage.kind, stageId: stage.id, version: stage.version,
                key: plan.key, config: stage.config.canonicalJSON, upstream: plan.upstreamKeys, inputs: plan.inputs,
                outputs: [], started: started.timeIntervalSince1970, finished: Date().timeIntervalSince1970,
                seconds: Date().timeIntervalSince(started))
        }
        let seconds = Date().timeIntervalSince(started)
        stageLogger.info("done in \(Progress.duration(seconds))")
        return RunReport.StageOutcome(id: stage.id, status: .ran, seconds: seconds)
    }

    // MARK: - Run directory

    /// Builds `outputs/<run>/` beside the old one and swaps it in, so a reader never
    /// sees a mix of two runs.
    private func assembleRunDirectory(at final: String, plans: [StagePlan], outcomes: inout [RunReport.StageOutcome], started: Date)
        throws -> String
    {
        try FileSystem.replaceDirectory(at: final) { temporary in
            var published: OrderedDictionary<String, ConfigValue> = [:]
            var records: [RunManifest.StageRecord] = []
            for (index, plan) in plans.enumerated() {
                let stage = plan.stage
                let entry = cache.entryDirectory(kind: stage.kind, key: plan.key)
                let complete = cache.problem(kind: stage.kind, key: plan.key) == nil
                if !complete { outcomes[index].status = .notRun }
                records.append(RunManifest.StageRecord(
                    id: stage.id, kind: stage.kind, version: stage.version, key: plan.key, entry: entry,
                    status: outcomes[index].status, seconds: outcomes[index].seconds,
                    config: stage.config.canonicalJSON, upstream: plan.upstreamKeys, inputs: plan.inputs))
                guard complete, let publish = stage.publish else { continue }
                let additions = try publish(PublishContext(
                    stageId: stage.id, entryDirectory: entry, runDirectory: temporary, entryRelativePath: entry))
                for (key, value) in additions {
                    published[key] = PipelineRunner.merge(published[key] ?? .null, value)
                }
            }
            let manifest = RunManifest(
                runName: runName, config: config.value, configFiles: config.sourceFiles, started: started,
                seconds: Date().timeIntervalSince(started), stages: records, published: published)
            try manifest.write(to: "\(temporary)/\(RunManifest.fileName)")
        }
        return final
    }

    static func merge(_ a: ConfigValue, _ b: ConfigValue) -> ConfigValue {
        guard case .map(var left) = a, case .map(let right) = b else { return b }
        for (key, value) in right { left[key] = merge(left[key] ?? .null, value) }
        return .map(left)
    }
}
