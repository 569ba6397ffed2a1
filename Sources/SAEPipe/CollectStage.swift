import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels

/// collect.A / collect.B: tokenize a dataset into windows, run the model to the hooked
/// layer, stream the activations to `acts.mmap`.
public enum CollectStage {
    static let datasetFields = ConfigSection([
        ConfigField("label", .string, doc: "a name for the dataset in summaries (e.g. prose, code); defaults to A / B"),
        ConfigField("path", .string, doc: "a local file or glob: .txt (text), .jsonl, .parquet"),
        ConfigField("hub", .string, doc: "a Hugging Face dataset id, e.g. Salesforce/wikitext (instead of path)"),
        ConfigField("config", .string, doc: "the Hub dataset's config (subset), e.g. wikitext-2-raw-v1"),
        ConfigField("split", .string, default: .string("train"), doc: "the Hub dataset's split"),
        ConfigField("revision", .string, default: .string("main"), doc: "the Hub dataset's revision, with `files`"),
        ConfigField("files", .string, doc: "a glob over the Hub repo's own files (e.g. data/train-*.parquet) instead of its Parquet conversion"),
        ConfigField("format", .choice(["text", "jsonl", "parquet"]), doc: "file format; by default from the extension"),
        ConfigField("field", .string, default: .string("text"), doc: "JSONL field or Parquet column with the text"),
        ConfigField("split_text", .choice(["file", "blank_lines", "lines"]), default: .string("file"),
                    doc: "how a text file is cut into documents: the whole file, paragraphs, or lines"),
        ConfigField("filter", .dictionary(.list(.string)), default: .map([:]),
                    doc: "keep rows whose column equals one of the values, e.g. {language: Python}"),
    ])

    public static let configFields: [ConfigField] = [
        ConfigField("model", .section(ConfigSection([
            ConfigField("name", .string, default: .string("artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
                        doc: "a model directory, a .gguf file, or a Hub id ORG/NAME[@REV]"),
            ConfigField("layer", .int(0...1000), default: .int(3), doc: "the block whose activations are collected"),
            ConfigField("stream", .choice(["mlp_output", "attn_output", "resid_post", "resid_pre"]),
                        default: .string("mlp_output"), doc: "which activation of the block"),
            ConfigField("hook", .string, doc: "a hook name instead of layer/stream: layers.3.mlp_out or blocks.3.hook_mlp_out"),
        ])), doc: "the language model and the activation the SAEs read"),
        ConfigField("collect", .section(ConfigSection([
            ConfigField("tokens", .int(1...1_000_000_000), default: .int(80_000), doc: "activation rows per dataset"),
            ConfigField("seq_len", .int(2...8192), default: .int(128), doc: "tokens per window"),
            ConfigField("batch_size", .int(1...4096), default: .int(16), doc: "windows per forward pass"),
            ConfigField("dtype", .choice(["float32", "float16"]), default: .string("float32"), doc: "acts.mmap element type"),
            ConfigField("documents", .choice(["concatenate", "separate"]), default: .string("concatenate"),
                        doc: "join documents with EOS and cut windows, or one window per document"),
            ConfigField("exclude_special", .bool, default: .bool(true),
                        doc: "keep BOS/EOS/special-token positions out of the activation set (they stay in the context)"),
            ConfigField("prepend_bos", .bool, default: .bool(false), doc: "start every window with the BOS token"),
            ConfigField("shuffle", .bool, default: .bool(true), doc: "sample windows at random (by seed) instead of taking the first"),
            ConfigField("pool_factor", .int(1...1000), default: .int(4), doc: "sample from this many times the windows needed"),
        ])), doc: "turning datasets into activations"),
        ConfigField("datasets", .section(ConfigSection([
            ConfigField("A", .section(datasetFields), doc: "dataset A (prose in the reference experiment)"),
            ConfigField("B", .section(datasetFields), doc: "dataset B (code in the reference experiment)"),
        ])), doc: "the two datasets compared"),
    ]

    /// The hook the config names.
    public static func hook(_ config: ConfigValue) throws -> HookPoint {
        if let name = config[path: "model.hook"].stringValue {
            do { return try HookPoint(parsing: name) } catch var error as SAEPipeError {
                error.keyPath = "model.hook"
                throw error
            }
        }
        return HookPoint(layer: config[path: "model.layer"].intValue ?? 3,
                         site: HookSite(stream: config[path: "model.stream"].stringValue ?? "mlp_output") ?? .mlpOut)
    }

    static func modelInputFiles(_ name: String) -> [String] {
        if name.hasSuffix(".gguf") { return FileSystem.exists(name) ? [name] : [] }
        guard FileSystem.isDirectory(name) else { return [] }  // a Hub id: keyed by name and revision
        return ["config.json", "tokenizer.json", "model.safetensors", "model.safetensors.index.json"]
            .map { "\(name)/\($0)" }.filter(FileSystem.exists)
            + ((try? ModelSource.shards(indexAt: "\(name)/model.safetensors.index.json"))?.map { "\(name)/\($0)" } ?? [])
    }

    public static func stage(side: String, config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        // The display label does not change the activations, so it stays out of the cache key.
        var dataset = config[path: "datasets.\(side)"].mapValue ?? [:]
        dataset.removeValue(forKey: "label")
        let slice = config.value.slice(["seed", "model", "collect"]).setting(.map(dataset), at: ["datasets", side])
        let spec = try DatasetSpec(config: config[path: "datasets.\(side)"], key: "datasets.\(side)")
        _ = try hook(config.value)
        let modelName = config[path: "model.name"].stringValue!
        return StageSpec(
            id: "collect.\(side)", kind: "collect", version: 2, config: slice,
            inputFiles: modelInputFiles(modelName) + (try spec.localFiles()),
            run: { context in
                try run(context, side: side, spec: spec, artifacts: artifacts)
            },
            publish: { context in ["activations": .map([side: .string(context.entryRelativePath)])] })
    }

    static func run(_ context: StageContext, side: String, spec: DatasetSpec, artifacts: String) throws {
        let config = context.config
        let hook = try hook(config)
        let hub = HubClient.fromEnvironment(artifacts: artifacts)
        let modelName = config[path: "model.name"].stringValue!
        let modelPath = try ModelSource.resolve(modelName, artifacts: artifacts, hub: hub)
        let tokenizer = try Tokenizer.load(model: modelPath)
        let model = try LanguageModel.load(modelPath, scope: .through(hook))
        context.logger.debug("collect.\(side): model loaded through \(hook) (\(ProcessStats.describeMemory()))")
        let options = TokenWindows.Options(
            seqLen: config[path: "collect.seq_len"].intValue!,
            documents: TokenWindows.DocumentHandling(rawValue: config[path: "collect.documents"].stringValue!)!,
            prependBOS: config[path: "collect.prepend_bos"].boolValue!,
            tokenBudget: config[path: "collect.tokens"].intValue!,
            excludeSpecial: config[path: "collect.exclude_special"].boolValue!,
            shuffle: config[path: "collect.shuffle"].boolValue!, poolFactor: config[path: "collect.pool_factor"].intValue!,
            seed: UInt64(config[path: "seed"].intValue!))
        context.logger.info("collect.\(side): reading and tokenizing \(spec.path ?? spec.hub ?? "")")
        let windows = try TokenWindows.build(reader: DocumentReader(spec: spec, hub: hub), tokenizer: tokenizer, options: options)
        context.logger.debug("collect.\(side): \(windows.count) windows from \(windows.documentsRead) documents (\(ProcessStats.describeMemory()))")
        if windows.activationCount < options.tokenBudget {
            context.logger.warning(
                "collect.\(side): the dataset gave \(windows.activationCount) of the \(options.tokenBudget) tokens asked for")
        }
        let dtype = ActivationStore.DType(rawValue: config[path: "collect.dtype"].stringValue!)!
        let started = Date()
        let positions = try ActivationCollector.collect(
            model: model, windows: windows, hook: hook, dtype: dtype,
            batchSize: config[path: "collect.batch_size"].intValue!, into: context.outputDirectory,
            label: "collect.\(side)")
        // Timing goes to the log and the cache manifest, never into meta.json: same config, same bytes.
        context.logger.info("collect.\(side): \(positions.count) activations, \(Int(Double(windows.tokens.count) / max(Date().timeIntervalSince(started), 1e-9))) tok/s, \(ProcessStats.describeMemory())")
        try ActivationStore.writeInt32(windows.tokens, to: context.output("tokens.mmap"))
        try ActivationStore.writeInt32(positions, to: context.output("positions.mmap"))
        let revision = modelPath.contains("/snapshots/") ? (modelPath as NSString).lastPathComponent : nil
        let meta: [String: Any] = [
            "format": "saepipe-activations/1",
            "dtype": dtype.rawValue,
            "shape": [positions.count, model.dimensions.dModel],
            "model": modelName,
            "model_revision": revision as Any,
            "model_architecture": model.dimensions.architecture,
            "hook": hook.description,
            "layer": hook.layer,
            "stream": config[path: "model.stream"].stringValue as Any,
            "dataset": jsonObject(config[path: "datasets.\(side)"]),
            "dataset_files": windows.filesRead,
            "documents_read": windows.documentsRead,
            "seq_len": options.seqLen,
            "documents": options.documents.rawValue,
            "exclude_special": options.excludeSpecial,
            "n_sequences": windows.count,
            "sequence_offsets": windows.offsets,
            "tokens": ["file": "tokens.mmap", "dtype": "int32", "shape": [windows.tokens.count]],
            "positions": ["file": "positions.mmap", "dtype": "int32", "shape": [positions.count],
                          "meaning": "index into tokens.mmap of each activation row"],
            "tokenizer_hash": tokenizer.fingerprint,
            "config_hash": context.key,
            "seed": options.seed,
            "saepipe_version": SAEPipeVersion.current,
        ]
        let data = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: context.output("meta.json")))
    }

    static func jsonObject(_ value: ConfigValue) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(value.canonicalJSON.utf8), options: .fragmentsAllowed)) ?? NSNull()
    }
}

/// Batched forward passes over windows, keeping the rows the activation set wants.
public enum ActivationCollector {
    /// Writes `acts.mmap` into `directory` and returns each row's index into the window tokens.
    public static func collect(
        model: LanguageModel, windows: TokenWindows, hook: HookPoint, dtype: ActivationStore.DType, batchSize: Int,
        into directory: String, label: String, console: Console = .shared
    ) throws -> [Int32] {
        let d = model.dimensions.dModel
        let writer = try ActivationStore.RowWriter(path: "\(directory)/acts.mmap", dtype: dtype)
        var positions: [Int32] = []
        positions.reserveCapacity(windows.activationCount)
        let progress = Progress(label, total: windows.tokens.count, unit: "tok", console: console)
        // Windows of equal length share a batch (all of them, unless documents are kept separate).
        var byLength: [Int: [Int]] = [:]
        for index in 0..<windows.count { byLength[windows.window(index).count, default: []].append(index) }
        for length in byLength.keys.sorted() {
            let members = byLength[length]!
            for start in stride(from: 0, to: members.count, by: batchSize) {
                let batch = Array(members[start..<min(start + batchSize, members.count)])
                let ids = batch.flatMap { windows.window($0) }
                let result = try model.forward(TokenBatch(ids: ids, batch: batch.count, seqLen: length),
                                               ForwardRequest(capture: [hook]))
                let rows = result.captured[hook]!
                try rows.withUnsafeBufferPointer { buffer in
                    for (slot, window) in batch.enumerated() {
                        var kept = 0
                        for position in 0..<length where kept < windows.keptCounts[window] {
                            let token = windows.offsets[window] + position
                            if windows.excluded[token] { continue }
                            try writer.append(UnsafeBufferPointer(rebasing: buffer[((slot * length + position) * d)..<((slot * length + position + 1) * d)]))
                            positions.append(Int32(token))
                            kept += 1
                        }
                    }
                }
                progress.advance(by: ids.count)
            }
        }
        progress.finish()
        try writer.close()
        return positions
    }
}
