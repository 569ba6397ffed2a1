import Foundation
import SAEPipeCore

/// Which stages a run touches and how.
public struct RunSelection: Sendable {
    /// Stage selectors to rerun even if cached; `["all"]` forces every selected stage.
    public var force: [String] = []
    public var only: String?
    public var from: String?
    public var until: String?

    public init(force: [String] = [], only: String? = nil, from: String? = nil, until: String? = nil) {
        self.force = force
        self.only = only
        self.from = from
        self.until = until
    }
}

/// What a run will do with one stage, and why.
public struct StagePlan: Sendable {
    public enum Action: Sendable, Equatable {
        case cached
        case run
        /// Outside --only/--from/--until.
        case notSelected
    }

    public var stage: StageSpec
    public var key: String
    public var action: Action
    /// Why it runs (empty when cached): which part of its key changed, or which output is missing.
    public var reasons: [String]
    /// Rerun because of --force, even though a complete entry may exist.
    public var forced = false
    public var upstreamKeys: [EntryManifest.Upstream]
    public var inputs: [EntryManifest.Input]
}

/// Computes every stage's cache key and decides, against the cache and the previous
/// run's manifest, what runs and why.
public struct Planner: Sendable {
    public let graph: StageGraph
    public let cache: CacheStore
    public let fileHashes: FileHashCache
    /// The previous run's record of each stage, for explaining what changed.
    public let previous: [StageID: RunManifest.StageRecord]

    public init(graph: StageGraph, cache: CacheStore, fileHashes: FileHashCache,
                previous: [StageID: RunManifest.StageRecord]) {
        self.graph = graph
        self.cache = cache
        self.fileHashes = fileHashes
        self.previous = previous
    }

    public func plan(_ selection: RunSelection) throws -> [StagePlan] {
        let selected = try selectedIds(selection)
        let forced: Set<StageID> = try {
            if selection.force.contains("all") { return Set(graph.stages.map(\.id)) }
            return try selection.force.reduce(into: Set<StageID>()) { $0.formUnion(try graph.resolve(selector: $1)) }
        }()
        var plans: [StageID: StagePlan] = [:]
        var ordered: [StagePlan] = []
        for stage in graph.stages {
            let upstream = stage.upstream.map { EntryManifest.Upstream(id: $0, key: plans[$0]!.key) }
            let inputs = try stage.inputFiles.map { EntryManifest.Input(path: $0, sha256: try fileHashes.hash(of: $0)) }
            let key = Planner.key(stage: stage, upstream: upstream, inputs: inputs)
            var plan = StagePlan(stage: stage, key: key, action: .cached, reasons: [], upstreamKeys: upstream, inputs: inputs)
            let problem = cache.problem(kind: stage.kind, key: key)
            if !selected.contains(stage.id) {
                plan.action = .notSelected
                if problem != nil { plan.reasons = explain(plan, problem: problem!, plans: plans) }
            } else if forced.contains(stage.id) {
                plan.action = .run
                plan.forced = true
                plan.reasons = ["forced with --force"]
            } else if let problem {
                plan.action = .run
                plan.reasons = explain(plan, problem: problem, plans: plans)
            }
            plans[stage.id] = plan
            ordered.append(plan)
        }
        // A selected stage cannot run on an upstream that is neither cached nor running.
        for plan in ordered where plan.action == .run {
            for up in plan.stage.upstream {
                let upstreamPlan = plans[up]!
                if upstreamPlan.action == .notSelected, cache.problem(kind: upstreamPlan.stage.kind, key: upstreamPlan.key) != nil {
                    throw SAEPipeError.input(
                        "stage \(plan.stage.id) needs \(up), which is not cached and not selected",
                        hint: "run without --only/--from, or with --until \(plan.stage.id)")
                }
            }
        }
        return ordered
    }

    private func selectedIds(_ selection: RunSelection) throws -> Set<StageID> {
        if let only = selection.only { return try graph.resolve(selector: only) }
        var selected = Set(graph.stages.map(\.id))
        if let from = selection.from { selected = graph.descendants(of: try graph.resolve(selector: from)) }
        if let until = selection.until { selected.formIntersection(graph.ancestors(of: try graph.resolve(selector: until))) }
        return selected
    }

    /// SHA-256 over the stage kind, implementation version, canonical config slice,
    /// upstream keys and input content hashes.
    public static func key(stage: StageSpec, upstream: [EntryManifest.Upstream], inputs: [EntryManifest.Input]) -> String {
        let components: ConfigValue = .map([
            "stage": .string(stage.kind),
            "version": .int(stage.version),
            "config": stage.config,
            "upstream": .list(upstream.map { .string($0.key) }),
            "inputs": .list(inputs.map { .string($0.sha256) }),
        ])
        return Hashing.sha256Hex(components.canonicalJSON)
    }

    // MARK: - Explanations

    private func explain(_ plan: StagePlan, problem: String, plans: [StageID: StagePlan]) -> [String] {
        let stage = plan.stage
        let before: (version: Int, key: String, config: String, upstream: [EntryManifest.Upstream], inputs: [EntryManifest.Input])?
        if let record = previous[stage.id] {
            before = (record.version, record.key, record.config, record.upstream, record.inputs)
        } else if let manifest = cache.latestManifest(kind: stage.kind, stageId: stage.id) {
            before = (manifest.version, manifest.key, manifest.config, manifest.upstream, manifest.inputs)
        } else {
            before = nil
        }
        guard let before else { return [problem == "no cache entry" ? "first run: nothing cached yet" : "first run (\(problem))"] }
        if before.key == plan.key { return [problem] }
        var reasons: [String] = []
        if before.version != stage.version {
            reasons.append("implementation version \(before.version) → \(stage.version)")
        }
        reasons += Planner.configChanges(old: before.config, new: stage.config)
        for up in plan.upstreamKeys {
            let old = before.upstream.first { $0.id == up.id }
            if old?.key != up.key {
                let upstreamRuns = plans[up.id]?.action == .run
                reasons.append("upstream \(up.id) \(upstreamRuns ? "will run" : "changed")")
            }
        }
        for input in plan.inputs {
            if let old = before.inputs.first(where: { $0.path == input.path }) {
                if old.sha256 != input.sha256 { reasons.append("input \(input.path) changed") }
            } else {
                reasons.append("new input \(input.path)")
            }
        }
        for old in before.inputs where !plan.inputs.contains(where: { $0.path == old.path }) {
            reasons.append("input \(old.path) no longer used")
        }
        if reasons.isEmpty { reasons.append("cache key changed (\(problem))") }
        return reasons
    }

    /// `path: old → new` for every leaf that differs between two canonical config slices.
    static func configChanges(old: String, new: ConfigValue) -> [String] {
        guard let oldValue = try? ConfigValue(parsingJSON: old) else { return ["config changed"] }
        return configChanges(old: oldValue, new: new)
    }

    /// `config key: old → new` for every leaf that differs.
    public static func configChanges(old oldValue: ConfigValue, new: ConfigValue) -> [String] {
        var changes: [String] = []
        func walk(_ a: ConfigValue, _ b: ConfigValue, _ path: String) {
            if case .map(let left) = a, case .map(let right) = b {
                for key in Array(left.keys) + right.keys.filter({ left[$0] == nil }) {
                    walk(left[key] ?? .null, right[key] ?? .null, path.isEmpty ? key : "\(path).\(key)")
                }
            } else if a.canonicalJSON != b.canonicalJSON {
                changes.append("config \(path): \(a.canonicalJSON) → \(b.canonicalJSON)")
            }
        }
        walk(oldValue, new, "")
        return changes
    }
}

