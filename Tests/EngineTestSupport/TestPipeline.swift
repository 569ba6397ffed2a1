import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine

/// A small pipeline with the real graph's shape (collect → train → interpret, for A
/// and B) whose stages do trivial, checkable work. Every execution appends a line to
/// `<artifacts>/ran.log`, so tests can count runs across processes.
public enum TestPipeline {
    public static let schema = ConfigSchema(ConfigSection(ExperimentSchema.core + [
        ConfigField("collect", .section(ConfigSection([
            ConfigField("tokens", .int(1...1_000_000), default: .int(100), doc: "how many tokens"),
            ConfigField("dataset", .string, doc: "optional input file"),
            ConfigField("stream", .choice(["mlp_output", "resid_post"]), default: .string("mlp_output"), doc: "hook"),
        ])), doc: "collect"),
        ConfigField("train", .section(ConfigSection([
            ConfigField("l1_coefficient", .double(0...1000), default: .double(3), doc: "L1 weight"),
            ConfigField("steps", .int(1...100_000), default: .int(10), doc: "steps"),
            ConfigField("sleep_ms", .int(0...60_000), default: .int(0), doc: "pretend to work this long"),
            ConfigField("fail", .bool, default: .bool(false), doc: "throw after writing half the output"),
            ConfigField("layers", .list(.int()), default: .list([.int(3)]), doc: "a list"),
        ])), doc: "train"),
        ConfigField("interpret", .section(ConfigSection([
            ConfigField("top_k", .int(1...100), default: .int(5), doc: "contexts"),
        ])), doc: "interpret"),
        ConfigField("datasets", .table(ConfigSection([
            ConfigField("path", .string, required: true, doc: "file"),
            ConfigField("field", .string, default: .string("text"), doc: "field"),
        ])), default: .map([:]), doc: "named datasets"),
        ConfigField("notes", .string, default: .string(""), doc: "read by no stage"),
    ]))

    /// Set in the helper process to make train hang after a partial write (so it can be killed).
    public static let hangVariable = "SAEPIPE_TEST_HANG_IN_TRAIN"

    public static func stages(_ config: ResolvedConfig) -> [StageSpec] {
        let artifacts = config[path: "paths.artifacts"].stringValue!
        let log = "\(artifacts)/ran.log"
        var stages: [StageSpec] = []
        for side in ["A", "B"] {
            // Each side reads its own data in the real pipeline; here the side name stands for it.
            let collectSlice = config.value.slice(["seed", "collect"]).setting(.string(side), at: ["side"])
            let dataset = config[path: "collect.dataset"].stringValue
            stages.append(StageSpec(
                id: StageID("collect.\(side)"), kind: "collect", version: 1, config: collectSlice,
                inputFiles: dataset.map { [$0] } ?? [],
                run: { context in
                    record(log, context.stageId)
                    var text = "tokens=\(context.config[path: "collect.tokens"].intValue!)\n"
                    if let dataset { text += try String(contentsOfFile: dataset, encoding: .utf8) }
                    try text.write(toFile: context.output("data.txt"), atomically: false, encoding: .utf8)
                },
                publish: { context in
                    ["activations": .map([side: .string(context.entryRelativePath)])]
                }))
            let trainSlice = config.value.slice(["seed", "train"])
            stages.append(StageSpec(
                id: StageID("train.\(side)"), kind: "train", version: 1, upstream: [StageID("collect.\(side)")], config: trainSlice,
                run: { context in
                    record(log, context.stageId)
                    let data = try String(contentsOfFile: context.upstream(StageID("collect.\(side)")) + "/data.txt", encoding: .utf8)
                    let partial = context.output("weights.txt")
                    try "partial".write(toFile: partial, atomically: false, encoding: .utf8)
                    if ProcessInfo.processInfo.environment[hangVariable] != nil {
                        try "started".write(toFile: "\(artifacts)/train-started", atomically: true, encoding: .utf8)
                        Thread.sleep(forTimeInterval: 120)
                    }
                    let sleep = context.config[path: "train.sleep_ms"].intValue!
                    if sleep > 0 { Thread.sleep(forTimeInterval: Double(sleep) / 1000) }
                    if context.config[path: "train.fail"].boolValue! {
                        throw SAEPipeError.runtime("training diverged (test)")
                    }
                    let l1 = context.config[path: "train.l1_coefficient"].doubleValue!
                    try "\(data.count) \(l1)\n".write(toFile: partial, atomically: false, encoding: .utf8)
                },
                publish: { context in
                    ["saes": .map([side: .string(context.entryRelativePath)])]
                }))
            stages.append(StageSpec(
                id: StageID("interpret.\(side)"), kind: "interpret", version: 1, upstream: [StageID("train.\(side)")],
                config: config.value.slice(["interpret"]),
                run: { context in
                    record(log, context.stageId)
                    let weights = try String(contentsOfFile: context.upstream(StageID("train.\(side)")) + "/weights.txt", encoding: .utf8)
                    try FileSystem.createDirectory(context.output("features"))
                    try "features of \(weights)".write(
                        toFile: context.output("features/summary.md"), atomically: false, encoding: .utf8)
                },
                publish: { context in
                    try FileSystem.copyReplacing(
                        context.entryDirectory + "/features/summary.md",
                        to: context.runDirectory + "/features/\(side).md")
                    return [:]
                }))
        }
        return stages
    }

    public static func load(_ path: String, overrides: [String] = []) throws -> Experiment {
        try Experiment.load(configPath: path, overrides: overrides, schema: schema, stages: stages)
    }

    private static let logLock = NSLock()

    /// Appends with O_APPEND so concurrent stages and processes never interleave lines.
    static func record(_ log: String, _ id: StageID) {
        logLock.lock()
        defer { logLock.unlock() }
        try? FileSystem.createDirectory((log as NSString).deletingLastPathComponent)
        let fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        let line = Array("\(id) \(getpid()) \(Date().timeIntervalSince1970)\n".utf8)
        _ = write(fd, line, line.count)
        close(fd)
    }
}
