import Collections
import Foundation
import SAEPipeCore
import SAEPipeEngine

/// Runs a sweep's variants (up to `jobs` at once), skipping those already finished, carrying
/// on past a failed one, and keeping `sweep.json` current so a killed sweep can be read and resumed.
public final class SweepRunner: @unchecked Sendable {
    public enum Status: String, Sendable, Codable {
        case pending, running
        /// Every selected stage was already cached and the run directory exists: nothing ran.
        case done
        /// Ran in this invocation and finished.
        case finished
        case failed
    }

    public struct Outcome: Sendable {
        public var variant: String
        public var status: Status
        public var seconds: Double
        public var ranStages: [StageID]
        public var error: String?
    }

    public let definition: SweepDefinition
    public let jobs: Int
    /// The summary table written at the end of `run()`.
    public internal(set) var summary: Table?
    private let lock = NSLock()
    var outcomes: [Outcome]

    public init(_ definition: SweepDefinition, jobs: Int = 1) {
        self.definition = definition
        self.jobs = max(1, jobs)
        outcomes = definition.variants.map { Outcome(variant: $0.name, status: .pending, seconds: 0, ranStages: [], error: nil) }
    }

    var selection: RunSelection { RunSelection(until: definition.until) }

    /// What each variant would run. A variant is finished when nothing is left to run and its
    /// run directory was assembled from exactly the cache entries the plan names.
    public func plan() throws -> [(variant: SweepVariant, toRun: [StageID], finished: Bool)] {
        try definition.variants.map { variant in
            let plans = try variant.experiment.runner().plan(selection)
            let toRun = plans.filter { $0.action == .run }.map(\.stage.id)
            let recorded = RunManifest.previousRecords(at: "\(variant.experiment.paths.runDirectory(variant.name))/\(RunManifest.fileName)")
            let current = plans.filter { $0.action == .cached }.allSatisfy { recorded[$0.stage.id]?.key == $0.key }
            return (variant, toRun, toRun.isEmpty && !recorded.isEmpty && current)
        }
    }

    /// Runs what is left and writes the summary; variant failures are in the outcomes, not thrown.
    public func run() throws -> [Outcome] {
        try FileSystem.createDirectory(definition.directory)
        let plans = try plan()
        let total = plans.count
        let left = plans.filter { !$0.finished }.count
        Console.shared.line("sweep \(definition.name): \(total) variants, \(total - left) finished earlier, \(left) to run"
                            + (jobs > 1 ? " (\(jobs) at a time)" : "") + " — \(definition.directory)/")
        for (index, plan) in plans.enumerated() where plan.finished {
            outcomes[index].status = .done
        }
        try saveState()
        let queue = WorkQueue(plans.indices.filter { !plans[$0].finished })
        let started = Date()
        let group = DispatchGroup()
        for _ in 0..<min(jobs, max(left, 1)) {
            group.enter()
            // Stages run deep call stacks (the model's forward pass); give them room.
            let thread = Thread { [self] in
                defer { group.leave() }
                while let (index, number) = queue.next() {
                    runVariant(index, plans[index].variant, number: number, of: left)
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        group.wait()
        try saveState()
        summary = try SweepSummary.write(definition, outcomes: snapshot())
        let failed = snapshot().filter { $0.status == .failed }
        Console.shared.line("sweep \(definition.name): \(total - failed.count) of \(total) variants complete"
                            + (failed.isEmpty ? "" : ", \(failed.count) failed") + " in \(Progress.duration(Date().timeIntervalSince(started)))")
        return snapshot()
    }

    private func runVariant(_ index: Int, _ variant: SweepVariant, number: Int, of count: Int) {
        update(index) { $0.status = .running }
        try? saveState()
        Console.shared.line("[\(number)/\(count)] \(variant.name)")
        let started = Date()
        do {
            variant.experiment.configureThreads(jobs: jobs)
            let report = try variant.experiment.runner().run(RunOptions(selection: selection))
            update(index) {
                $0.status = .finished
                $0.ranStages = report.ranStages
            }
        } catch {
            let message = (error as? SAEPipeError)?.description ?? String(describing: error)
            Console.shared.line("[\(number)/\(count)] \(variant.name) failed: \(message)")
            update(index) {
                $0.status = .failed
                $0.error = message
            }
        }
        let seconds = Date().timeIntervalSince(started)
        update(index) { $0.seconds = seconds }
        Console.shared.line("[\(number)/\(count)] \(variant.name): \(outcome(index).status.rawValue) in \(Progress.duration(seconds))"
                            + remainingEstimate(total: count))
        try? saveState()
    }

    /// "; about 12m left": the mean time of the variants run so far times those still to start or finish.
    private func remainingEstimate(total: Int) -> String {
        let ran = snapshot().filter { $0.status == .finished || $0.status == .failed }
        let left = total - ran.count
        guard left > 0, !ran.isEmpty else { return "" }
        let mean = ran.map(\.seconds).reduce(0, +) / Double(ran.count)
        return "; about \(Progress.duration(mean * Double(left) / Double(jobs))) left for \(left) more"
    }

    func update(_ index: Int, _ change: (inout Outcome) -> Void) {
        lock.lock()
        change(&outcomes[index])
        lock.unlock()
    }

    private func outcome(_ index: Int) -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        return outcomes[index]
    }

    func snapshot() -> [Outcome] {
        lock.lock()
        defer { lock.unlock() }
        return outcomes
    }

    /// `sweep.json`: the sweep's definition and each variant's state, rewritten whole on every change.
    func saveState() throws {
        let current = snapshot()
        let variants = zip(definition.variants, current).map { variant, outcome in
            var overrides: OrderedDictionary<String, ConfigValue> = [:]
            for key in definition.sweptKeys { overrides[key] = variant.value(of: key) }
            return SweepState.Variant(
                name: variant.name, overrides: .map(overrides), status: outcome.status, seconds: (outcome.seconds * 10).rounded() / 10,
                ran: outcome.ranStages.isEmpty ? nil : outcome.ranStages.map(\.rawValue), error: outcome.error)
        }
        let state = SweepState(
            name: definition.name, configFiles: definition.base.sourceFiles, until: definition.until,
            axes: definition.axes.map { SweepState.Axis(key: $0.key, kind: $0.kind.rawValue, values: $0.values.map(ConfigValue.init(untyped:))) },
            variants: variants)
        lock.lock()
        defer { lock.unlock() }
        try state.write(directory: definition.directory)
    }
}

/// Variant indices handed out to worker threads in order, with their 1-based position.
private final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: ArraySlice<Int>
    private var handedOut = 0

    init(_ items: [Int]) { self.items = items[...] }

    func next() -> (index: Int, number: Int)? {
        lock.lock()
        defer { lock.unlock() }
        guard let index = items.popFirst() else { return nil }
        handedOut += 1
        return (index, handedOut)
    }
}
