import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels

/// collect.A / collect.B: tokenize a dataset into windows, run the model to the hooked
/// layer, stream the activations to `acts.mmap` (docs/formats.md, "Activation sets").
public enum CollectStage {
    public static let configFields: [ConfigField] = [
        ModelSettings.configField,
        CollectSettings.configField,
        ConfigField("datasets", .section(ConfigSection([
            ConfigField("A", .section(DatasetSpec.configFields), doc: "dataset A (prose in the reference experiment); required"),
            ConfigField("B", .section(DatasetSpec.configFields), doc: "dataset B (code in the reference experiment); leave it out for a one-dataset run"),
        ])), doc: "the datasets: an SAE is trained on each, and with two each is also evaluated on the other"),
    ]

    /// What a collect stage reads; the display label stays out (it does not change the activations).
    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        /// With `model.layers`, the layers written (and `model.layer` stays out of the slice, so a
        /// sweep over it shares this stage).
        var layers: ActivationSetChoice
        var collect: CollectSettings
        var dataset: DatasetSpec

        /// The settings and the config slice they were read from.
        static func read(_ config: ConfigValue, side: Side) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                let layers = try ActivationSetChoice.read(reader, config: config, withLayer: false)
                let model = layers.layers == nil ? try ModelSettings.read(reader)
                    : ModelSettings(name: try reader.decode(String.self, at: "model.name"), layer: 0,
                                    stream: try reader.decode(String.self, at: "model.stream"), hook: nil)
                return Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: model, layers: layers,
                    collect: try CollectSettings.read(reader), dataset: try DatasetSpec.read(reader, at: "datasets.\(side)"))
            }
        }
    }

    static func modelInputFiles(_ name: String) -> [String] {
        if name.hasSuffix(".gguf") { return FileSystem.exists(name) ? [name] : [] }
        guard FileSystem.isDirectory(name) else { return [] }  // a Hub id: keyed by name and revision
        return ["config.json", "tokenizer.json", "model.safetensors", "model.safetensors.index.json"]
            .map { "\(name)/\($0)" }.filter(FileSystem.exists)
            + ((try? ModelSource.shards(indexAt: "\(name)/model.safetensors.index.json"))?.map { "\(name)/\($0)" } ?? [])
    }

    /// The stage that collects dataset `side`'s activations.
    public static func stage(side: Side, config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (settings, slice) = try Settings.read(config.value, side: side)
        _ = try settings.model.hookPoint()
        // The set this run's stages read: the entry, or its layer's set when collect wrote several.
        let choice = try ActivationSetChoice.read(ConfigReader(config.value), config: config.value)
        let published = choice.layers == nil ? "" : "/" + ActivationSetChoice.layerDirectory(choice.layer)
        return StageSpec(
            id: .collect(side), kind: "collect", version: 2, config: slice,
            inputFiles: modelInputFiles(settings.model.name) + (try settings.dataset.localFiles()),
            run: { context in
                try run(context, side: side, artifacts: artifacts)
            },
            publish: { context in ["activations": .map([side.rawValue: .string(context.entryRelativePath + published)])] })
    }

    static func run(_ context: StageContext, side: Side, artifacts: String) throws {
        let (settings, _) = try Settings.read(context.config, side: side)
        let label = "collect.\(side)"
        let hub = HubClient.fromEnvironment(artifacts: artifacts)
        let modelPath = try ModelSource.resolve(settings.model.name, artifacts: artifacts, hub: hub)
        let tokenizer = try Tokenizer.load(model: modelPath)
        var hooks = [try settings.model.hookPoint()]
        if settings.layers.layers != nil {
            let count = try LanguageModel.load(modelPath, scope: LoadScope(layers: 0, unembedding: false)).dimensions.layerCount
            hooks = try settings.layers.collected(layerCount: count).map { HookPoint(layer: $0, site: hooks[0].site) }
        }
        let model = try LanguageModel.load(modelPath, scope: .through(hooks.max()!))
        context.logger.debug("model loaded through \(hooks.max()!) (\(ProcessStats.describeMemory()))")
        let options = settings.collect.windowOptions(seed: settings.seed)
        context.logger.info("reading and tokenizing \(settings.dataset.path ?? settings.dataset.hub ?? "")")
        let windows = try TokenWindows.build(reader: DocumentReader(spec: settings.dataset, hub: hub), tokenizer: tokenizer, options: options)
        context.logger.debug("\(windows.count) windows from \(windows.documentsRead) documents (\(ProcessStats.describeMemory()))")
        if windows.activationCount < options.tokenBudget {
            context.logger.warning("the dataset gave \(windows.activationCount) of the \(options.tokenBudget) tokens asked for")
        }
        // One set at the entry, or one per layer under layers/<layer>/ sharing the entry's token files.
        let multi = settings.layers.layers != nil
        let directories = hooks.map { multi ? context.output(ActivationSetChoice.layerDirectory($0.layer)) : context.outputDirectory }
        for directory in directories { try FileSystem.createDirectory(directory) }
        let started = Date()
        let positions = try ActivationCollector.collect(
            model: model, windows: windows, hooks: hooks, dtype: settings.collect.dtype, batchSize: settings.collect.batchSize,
            into: directories, label: label)
        // Timing goes to the log and the cache manifest, never into meta.json: same config, same bytes.
        context.logger.info("\(positions.count) activations at \(hooks.count) hook\(hooks.count == 1 ? "" : "s"), \(Int(Double(windows.tokens.count) / max(Date().timeIntervalSince(started), 1e-9))) tok/s, \(ProcessStats.describeMemory())")
        try ActivationStore.writeInt32(windows.tokens, to: context.output("tokens.mmap"))
        try ActivationStore.writeInt32(positions, to: context.output("positions.mmap"))
        let revision = modelPath.contains("/snapshots/") ? FileSystem.lastComponent(of: modelPath) : nil
        for (hook, directory) in zip(hooks, directories) {
            if multi {
                for file in ["tokens.mmap", "positions.mmap"] {
                    try FileManager.default.linkItem(atPath: context.output(file), toPath: "\(directory)/\(file)")
                }
            }
            let meta = ActivationSetMeta(
                dtype: settings.collect.dtype.rawValue, rows: positions.count, width: model.dimensions.dModel,
                provenance: ActivationSetMeta.Provenance(
                    model: settings.model.name, modelRevision: revision, modelArchitecture: model.dimensions.architecture,
                    hook: hook.description, layer: hook.layer, stream: settings.model.stream,
                    dataset: context.config[path: "datasets.\(side)"], datasetFiles: windows.filesRead,
                    documentsRead: windows.documentsRead, documents: options.documents.rawValue, excludeSpecial: options.excludeSpecial,
                    tokenizerHash: tokenizer.fingerprint, configHash: context.key, seed: options.seed),
                windows: ActivationSetMeta.Windows(
                    seqLen: options.seqLen, sequenceOffsets: windows.offsets,
                    tokens: .init(file: "tokens.mmap", dtype: "int32", shape: [windows.tokens.count]),
                    positions: .init(file: "positions.mmap", dtype: "int32", shape: [positions.count],
                                     meaning: "index into tokens.mmap of each activation row")))
            try meta.write(directory: directory)
        }
    }
}
