import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeLinalg
import SAEPipeModels
import SAEPipeSAE

/// interpret.A / interpret.B: what each feature of one SAE responds to, on both datasets.
public enum InterpretStage {
    public static let configFields: [ConfigField] = [
        ConfigField("interpret", .section(ConfigSection([
            ConfigField("top_k", .int(1...1000), default: .int(10), doc: "top activating contexts kept per feature"),
            ConfigField("reservoir", .int(4...10_000), default: .int(64), doc: "firing rows sampled per feature for quantile examples and token counts"),
            ConfigField("context_before", .int(0...512), default: .int(10), doc: "tokens shown before the activating token"),
            ConfigField("context_after", .int(0...512), default: .int(4), doc: "tokens shown after it"),
            ConfigField("logit_tokens", .int(1...100), default: .int(8), doc: "tokens listed as most promoted and most suppressed"),
            ConfigField("markdown_features", .int(1...10_000), default: .int(20), doc: "features per section of the Markdown summary"),
            ConfigField("selective_ratio", .double(1...1000), default: .double(2), doc: "a feature is selective for a dataset when its mean activation there is at least this many times its mean on the other"),
            ConfigField("ablation_contexts", .int(0...100), default: .int(5), doc: "top contexts per listed feature on which its ablation effect is measured (0: skip)"),
        ])), doc: "feature summaries"),
    ]

    /// The `interpret` section.
    struct InterpretSettings: Decodable {
        var topK: Int
        var reservoir: Int
        var contextBefore: Int
        var contextAfter: Int
        var logitTokens: Int
        var markdownFeatures: Int
        var selectiveRatio: Double
        var ablationContexts: Int

        enum CodingKeys: String, CodingKey {
            case topK = "top_k", reservoir, contextBefore = "context_before", contextAfter = "context_after"
            case logitTokens = "logit_tokens", markdownFeatures = "markdown_features", selectiveRatio = "selective_ratio"
            case ablationContexts = "ablation_contexts"
        }
    }

    /// What interpret reads: the model (for its tokenizer and unembedding), its section, the dataset labels.
    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        var interpret: InterpretSettings
        var labels: DatasetLabels
        var sides: [Side]
        var activations: ActivationSetChoice

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: try ModelSettings.read(reader),
                    interpret: try reader.decode(InterpretSettings.self, at: "interpret"), labels: try DatasetLabels.read(reader),
                    sides: try Side.present(reader), activations: try ActivationSetChoice.read(reader, config: config))
            }
        }
    }

    /// The stage that summarizes SAE `side`'s features on both datasets.
    public static func stage(side: Side, config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (_, slice) = try Settings.read(config.value)
        return StageSpec(
            id: .interpret(side), kind: "interpret", version: 8,
            upstream: Side.present(in: config.value).map(StageID.collect) + [.train(side)], config: slice,
            run: { context in try run(context, side: side, artifacts: artifacts) },
            publish: { context in
                for name in FileSystem.listFiles(in: context.entryDirectory + "/features") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/features/\(name)", to: context.runDirectory + "/features/\(name)")
                }
                return [:]
            })
    }

    static func run(_ context: StageContext, side: Side, artifacts: String) throws {
        let (settings, _) = try Settings.read(context.config)
        let (parameters, activation) = try SAECheckpoint.readSAELens(try context.upstream(.train(side)))
        let modelPath = try ModelSource.resolve(settings.model.name, artifacts: artifacts)
        let tokenizer = try Tokenizer.load(model: modelPath)
        let started = Date()
        var statistics: [Side: FeatureStatistics] = [:]
        var sources: [Side: ContextSource] = [:]
        var datasets: [Side: ActivationDataset] = [:]
        let sides = settings.sides
        for data in sides {
            let directory = try settings.activations.directory(entry: try context.upstream(.collect(data)))
            let dataset = try ActivationDataset(directory: directory, split: .none, seed: settings.seed,
                                                normalization: parameters.inputNormalization)
            let progress = SAEPipeCore.Progress("interpret.\(side) features on \(data)", total: dataset.rows, unit: "tok")
            statistics[data] = FeatureStatistics.compute(
                parameters, activation: activation, dataset: dataset, topK: settings.interpret.topK,
                reservoirSize: settings.interpret.reservoir, seed: settings.seed, progress: progress)
            progress.finish()
            sources[data] = try ContextSource(directory: directory, tokenizer: tokenizer)
            datasets[data] = dataset
        }
        let encoded = Date().timeIntervalSince(started)
        let hook = try settings.model.hookPoint()
        let model = try LanguageModel.load(modelPath)
        let logits = try LogitAttribution.compute(parameters, unembedding: model.unembedding!, count: settings.interpret.logitTokens)
        let layersAfter = model.dimensions.layerCount - 1 - hook.layer
        let logitCaveat = layersAfter > 1
            ? "direct attribution skips the \(layersAfter) layers after \(hook), so it is indicative only" : nil
        // The listed features' measured effect on the SAE's own dataset.
        var ablation: [Int: FeatureAblation.Effect] = [:]
        if settings.interpret.ablationContexts > 0 {
            let draft = FeatureSummaries(
                side: side, labels: settings.labels, statistics: statistics, sources: sources, logits: logits, logitCaveat: logitCaveat,
                ablation: [:], tokenizer: tokenizer, settings: settings.interpret)
            let lists = FeatureSummaries.notable(statistics: statistics, on: side, count: settings.interpret.markdownFeatures,
                                                 log2Ratio: draft.log2Ratio)
            let listed = Array(Set(lists.frequent + lists.towardA + lists.towardB)).sorted()
            let top = Dictionary(uniqueKeysWithValues: listed.map { ($0, statistics[side]!.top[$0]) })
            let progress = SAEPipeCore.Progress("interpret.\(side) ablation", total: listed.count, unit: "features")
            ablation = try FeatureAblation.measure(
                model: model, hook: hook, sae: parameters, activation: activation, source: sources[side]!, top: top, features: listed,
                contexts: settings.interpret.ablationContexts, progress: progress)
            progress.finish()
            context.logger.info("ablation effects of \(ablation.count) features in \(String(format: "%.1f", Date().timeIntervalSince(started) - encoded)) s")
        }
        let summaries = FeatureSummaries(
            side: side, labels: settings.labels, statistics: statistics, sources: sources, logits: logits, logitCaveat: logitCaveat,
            ablation: ablation, tokenizer: tokenizer, settings: settings.interpret)
        let output = context.output("features")
        try writeStore(side: side, parameters: parameters, activation: activation, statistics: statistics, sources: sources, datasets: datasets,
                       logits: logits, logitCaveat: logitCaveat, settings: settings, to: "\(output)/\(FeatureStore.fileName(sae: side))")
        for data in sides {
            try summaries.writeJSON(on: data, to: "\(output)/\(FeatureSummaryFile.fileName(sae: side, data: data))")
            try summaries.writeMarkdown(on: data, to: "\(output)/\(side)_on_\(data).md")
        }
        context.logger.info("\(parameters.features) features over \(statistics.values.reduce(0) { $0 + $1.rows }) tokens: encoder passes \(String(format: "%.1f", encoded)) s, all \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// Every feature's page data (contexts as token ids with per-token activations, histograms,
    /// neighbours) from a second encoder pass per dataset.
    static func writeStore(
        side: Side, parameters: SAEParameters, activation: SAEActivation, statistics: [Side: FeatureStatistics], sources: [Side: ContextSource],
        datasets: [Side: ActivationDataset], logits: LogitAttribution.Result, logitCaveat: String?, settings: Settings, to path: String
    ) throws {
        var views: [Side: [FeatureStore.View]] = [:]
        var infos: [FeatureStore.DatasetInfo] = []
        for data in settings.sides {
            let dataset = datasets[data]!
            let progress = SAEPipeCore.Progress("interpret.\(side) feature pages on \(data)", total: dataset.rows, unit: "tok")
            let (list, sampled) = FeatureDetails.views(
                parameters, activation: activation, dataset: dataset, source: sources[data]!, stats: statistics[data]!, data: data,
                before: settings.interpret.contextBefore, after: settings.interpret.contextAfter, progress: progress)
            progress.finish()
            views[data] = list
            infos.append(FeatureStore.DatasetInfo(data: data, label: settings.labels[data], tokens: dataset.rows, coFiringRows: sampled))
        }
        let nearest = FeatureDetails.nearest(parameters)
        let records = (0..<parameters.features).map { i in
            FeatureStore.Record(
                feature: i, views: settings.sides.map { views[$0]![i] }, nearest: nearest[i],
                promoted: logits.promoted[i].map { .init(token: Int32($0.token), logit: ($0.value * 1000).rounded() / 1000) },
                suppressed: logits.suppressed[i].map { .init(token: Int32($0.token), logit: ($0.value * 1000).rounded() / 1000) })
        }
        let header = FeatureStore.Header(
            format: FeatureStore.format, sae: side, features: parameters.features, datasets: infos,
            contextBefore: settings.interpret.contextBefore, contextAfter: settings.interpret.contextAfter,
            histogramBins: FeatureDetails.histogramBins, logitCaveat: logitCaveat,
            notes: [
                "tokens": "token ids of the model's tokenizer; values: the feature's activation on each token (0: not firing, or a position without an activation row)",
                "top": "the interpret.top_k highest activations on the dataset",
                "bands": "the activation range (0, max] in \(FeatureDetails.bands) equal intervals, highest first: the share of firing tokens in each and up to \(FeatureDetails.examplesPerBand) contexts sampled from a seeded reservoir",
                "histogram": "firing tokens' activations in equal bins over (0, max]",
                "co_firing": "features active on the same tokens, by Jaccard index over every n-th row (co_firing_rows rows)",
                "nearest": "this SAE's features with the highest decoder cosine",
                "promoted": "decoder row · W_U with the final norm ignored",
            ])
        try FeatureStore.write(header: header, records: records, to: path)
    }
}
