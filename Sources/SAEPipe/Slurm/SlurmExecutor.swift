import Foundation
import SAEPipeCore
import SAEPipeEngine

/// Runs the stages of one or more experiments (a run, or a sweep's variants) as Slurm jobs:
/// one job per cache entry that must be computed, with `afterok` dependencies mirroring the
/// stage graph. Each job runs `saepipe stage-job`, which writes an ordinary cache entry under
/// its lock, so the cache and outputs must be on a filesystem every node shares. An entry that
/// is complete, or that a queued or running job (of this or another command) is computing,
/// is not submitted again.
public final class SlurmExecutor: @unchecked Sendable {
    public struct Unit: Sendable {
        public var name: String
        public var experiment: Experiment
        public var selection: RunSelection

        public init(name: String, experiment: Experiment, selection: RunSelection) {
            self.name = name
            self.experiment = experiment
            self.selection = selection
        }
    }

    /// A cache entry some unit needs computed, with every stage it serves.
    public struct Need: Sendable {
        public var entry: String
        public var kind: String
        public var key: String
        public var stageId: StageID
        public var units: [String]
        /// Entries this one reads that also had to be computed.
        public var upstream: [String]
    }

    public enum State: String, Sendable {
        /// Not yet submitted (a command that stopped half-way, or `--status` before any submission).
        case notSubmitted = "not submitted"
        case pending, running, done, failed
        public var isActive: Bool { self == .pending || self == .running }
    }

    public struct Row: Sendable {
        public var need: Need
        public var state: State
        public var job: SlurmJobsFile.Job?
        /// Slurm's word for it: the pending reason or the failure state.
        public var detail: String?
    }

    public let units: [Unit]
    /// Holds jobs.json, the configs the jobs read and their logs.
    public let directory: String
    public let settings: SlurmSettings
    let client: SlurmClient
    let binary: String
    let workingDirectory: String
    public private(set) var needs: [Need] = []

    public init(units: [Unit], directory: String, settings: SlurmSettings, client: SlurmClient = SlurmClient(),
                binary: String? = nil) throws {
        self.units = units
        self.directory = directory
        self.settings = settings
        self.client = client
        self.binary = binary ?? settings.binary ?? SlurmExecutor.currentExecutable()
        workingDirectory = FileManager.default.currentDirectoryPath
        let recorded = Set(try SlurmJobsFile.read(directory: directory).jobs.map(\.entry))
        needs = try SlurmExecutor.needs(of: units, recorded: recorded)
    }

    /// The saepipe binary running now (jobs run the same one unless `slurm.binary` says otherwise).
    static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    static func entry(kind: String, key: String) -> String { "\(kind)/\(key)" }
    /// `saepipe-<kind>-<key prefix>-<cache tag>`: the same entry of another cache (another
    /// project's) is a different job, since its output goes elsewhere.
    func jobName(_ need: Need) -> String {
        let cache = absolute(unit(need.units[0]).experiment.paths.cache)
        return "saepipe-\(need.kind)-\(need.key.prefix(12))-\(Hashing.sha256Hex(cache).prefix(6))"
    }

    /// What must be computed (and what earlier jobs of this directory computed, to show them
    /// done), in an order where every entry follows the entries it reads.
    static func needs(of units: [Unit], recorded: Set<String>) throws -> [Need] {
        var needs: [Need] = []
        var index: [String: Int] = [:]
        for unit in units {
            let plans = try unit.experiment.runner().plan(unit.selection)
            let byId = Dictionary(uniqueKeysWithValues: plans.map { ($0.stage.id, $0) })
            for plan in plans where plan.action == .run
                || (plan.action == .cached && recorded.contains(entry(kind: plan.stage.kind, key: plan.key))) {
                if plan.forced {
                    throw SAEPipeError.input("--force is not supported with --executor slurm",
                                             hint: "rerun the forced stage locally, or remove its cache entry so the jobs compute it")
                }
                let entry = entry(kind: plan.stage.kind, key: plan.key)
                if let existing = index[entry] {
                    needs[existing].units.append(unit.name)
                    continue
                }
                let upstream = plan.stage.upstream.compactMap { id -> String? in
                    guard let up = byId[id], up.action == .run else { return nil }
                    return SlurmExecutor.entry(kind: up.stage.kind, key: up.key)
                }
                index[entry] = needs.count
                needs.append(Need(entry: entry, kind: plan.stage.kind, key: plan.key, stageId: plan.stage.id, units: [unit.name], upstream: upstream))
            }
        }
        return needs
    }

    func isComplete(_ need: Need) -> Bool {
        CacheStore(root: unit(need.units[0]).experiment.paths.cache).problem(kind: need.kind, key: need.key) == nil
    }

    func unit(_ name: String) -> Unit { units.first { $0.name == name }! }

    // MARK: - Submitting

    /// Submits a job for every needed entry that is neither complete nor being computed; returns the rows.
    @discardableResult
    public func submit() throws -> [Row] {
        try FileSystem.createDirectory("\(directory)/logs")
        var file = try SlurmJobsFile.read(directory: directory)
        let queue = try client.queue()
        let active = Dictionary(queue.filter(\.state.isActive).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let activeByName = Dictionary(queue.filter(\.state.isActive).map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        var jobOf: [String: String] = [:]
        var configs: [String: String] = [:]
        for need in needs where !isComplete(need) {
            let name = jobName(need)
            if let job = file.job(forEntry: need.entry), active[job.id] != nil {
                jobOf[need.entry] = job.id
                continue
            }
            if let id = activeByName[name] {
                // Another sweep or run sharing this cache is computing the entry already.
                file.record(SlurmJobsFile.Job(entry: need.entry, name: name, id: id, stages: stageLabels(need), dependencies: [], log: "",
                                              submitted: SlurmExecutor.now(), attempts: file.job(forEntry: need.entry)?.attempts ?? 0))
                jobOf[need.entry] = id
                continue
            }
            let unitName = need.units[0]
            let config = try configs[unitName] ?? writeConfig(of: unit(unitName))
            configs[unitName] = config
            let dependencies = need.upstream.compactMap { jobOf[$0] }
            let logPattern = "\(absolute(directory))/logs/\(need.kind)-\(need.key.prefix(12))-%j.log"
            let command = [binary, "stage-job", config, "--stage", need.stageId.rawValue, "--key", need.key]
            let id = try client.submit(name: name, log: logPattern, workingDirectory: workingDirectory, dependencies: dependencies,
                                       options: settings.options(forKind: need.kind).sbatchArguments, command: command)
            jobOf[need.entry] = id
            file.record(SlurmJobsFile.Job(
                entry: need.entry, name: name, id: id, stages: stageLabels(need), dependencies: dependencies,
                log: logPattern.replacingOccurrences(of: "%j", with: id), submitted: SlurmExecutor.now(),
                attempts: (file.job(forEntry: need.entry)?.attempts ?? 0) + 1))
            // Saved after every submission: a command stopped half-way still knows its jobs.
            try file.write(directory: directory)
        }
        try file.write(directory: directory)
        return try status()
    }

    func stageLabels(_ need: Need) -> [String] {
        units.count == 1 ? [need.stageId.rawValue] : need.units.map { "\($0): \(need.stageId)" }
    }

    /// The unit's resolved config as JSON, which the job loads: it computes exactly what was
    /// submitted even if the config file is edited meanwhile.
    func writeConfig(of unit: Unit) throws -> String {
        let path = "\(absolute(directory))/configs/\(unit.name).json"
        try FileSystem.writeAtomically(unit.experiment.config.value.prettyJSON() + "\n", to: path)
        return path
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : "\(workingDirectory)/\(path)"
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    // MARK: - Following

    /// Each needed entry's state: done when its cache entry is complete, else what Slurm says of its job.
    public func status() throws -> [Row] {
        let file = try SlurmJobsFile.read(directory: directory)
        let complete = needs.map(isComplete)
        let ids = zip(needs, complete).compactMap { need, done in done ? nil : file.job(forEntry: need.entry)?.id }
        let states = try client.states(of: ids)
        return zip(needs, complete).map { need, done in
            let job = file.job(forEntry: need.entry)
            if done { return Row(need: need, state: .done, job: job, detail: nil) }
            guard let job else {
                // A job for the same stage but another entry: submitted for another config or saepipe version.
                let labels = Set(stageLabels(need))
                let earlier = file.jobs.last { !labels.isDisjoint(with: $0.stages) }
                return Row(need: need, state: .notSubmitted, job: nil,
                           detail: earlier.map { "job \($0.id) computes another version of it; rerun without --status to submit this one" })
            }
            switch states[job.id] {
            case .pending(let reason)?: return Row(need: need, state: .pending, job: job, detail: reason == "None" ? nil : reason)
            case .running?: return Row(need: need, state: .running, job: job, detail: nil)
            case .completed?: return Row(need: need, state: .failed, job: job, detail: "the job ended without writing the entry")
            case .ended(let state)?: return Row(need: need, state: .failed, job: job, detail: state)
            case nil: return Row(need: need, state: .failed, job: job, detail: "Slurm no longer lists the job")
            }
        }
    }

    /// Polls until no job is pending or running, calling `changed` for every state that differs
    /// from `shown` (the rows the caller printed) or from the previous look.
    public func wait(after shown: [Row], changed: (Row) -> Void) throws -> [Row] {
        var last = Dictionary(shown.map { ($0.need.entry, $0.state) }, uniquingKeysWith: { a, _ in a })
        if !shown.contains(where: \.state.isActive) { return shown }
        while true {
            let rows = try status()
            for row in rows where last[row.need.entry] != row.state {
                last[row.need.entry] = row.state
                changed(row)
            }
            if !rows.contains(where: \.state.isActive) { return rows }
            Thread.sleep(forTimeInterval: settings.pollSeconds)
        }
    }

    /// Cancels every pending or running job this directory lists; returns their ids.
    public func cancel() throws -> [String] {
        let ids = try status().filter(\.state.isActive).compactMap(\.job?.id)
        try client.cancel(ids)
        return ids
    }

    // MARK: - Results

    /// Why `unit` is not complete (its failed or missing entries), or nil when every entry it needs is.
    public func problem(of unitName: String, in rows: [Row]) -> String? {
        let mine = rows.filter { $0.need.units.contains(unitName) }
        guard let first = mine.first(where: { $0.state != .done }) else { return nil }
        return SlurmExecutor.describe(first)
    }

    static func describe(_ row: Row) -> String {
        var text = "\(row.need.stageId) \(row.state.rawValue)"
        if let job = row.job { text += " (job \(job.id)" + (row.detail.map { ": \($0)" } ?? "") + ")" }
        if row.state == .failed, let log = SlurmExecutor.log(row) { text += "; log: \(log)" }
        return text
    }

    /// The job's log, when it wrote one (a job cancelled while pending never did).
    static func log(_ row: Row) -> String? {
        guard let log = row.job?.log, !log.isEmpty, FileSystem.exists(log) else { return nil }
        return log
    }

    /// The terminal table: one row per job, with the variants it serves.
    public func table(_ rows: [Row]) -> String {
        TextTable.render(header: ["stage", units.count == 1 ? "run" : "variants", "job", "state", "log"], rows: rows.map { row in
            let served = row.need.units.count == units.count && units.count > 1 ? "all \(units.count)" : row.need.units.joined(separator: " ")
            let state = row.state.rawValue + (row.detail.map { " (\($0))" } ?? "")
            return [row.need.stageId.rawValue, served, row.job?.id ?? "-", state, row.state == .failed ? (SlurmExecutor.log(row) ?? "") : ""]
        })
    }

    /// One line for a state change: `slurm: train.A job 14 running (variants: …)`.
    public func line(_ row: Row) -> String {
        var text = "slurm: \(row.need.stageId)"
        if let job = row.job { text += " job \(job.id)" }
        text += " \(row.state.rawValue)" + (row.detail.map { " (\($0))" } ?? "")
        if units.count > 1 { text += row.need.units.count == units.count ? " [all variants]" : " [\(row.need.units.joined(separator: " "))]" }
        if row.state == .failed, let log = SlurmExecutor.log(row) { text += "; log: \(log)" }
        return text
    }
}
