import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels
import SAEPipeSAE

/// eval: every (SAE, dataset) pair — reconstruction, sparsity, and the model's loss with
/// the hooked activation left alone, replaced by the SAE's reconstruction, or zeroed.
public enum EvalStage {
    public static let configFields: [ConfigField] = [
        ConfigField("eval", .section(ConfigSection([
            ConfigField("sequences", .int(1...100_000), default: .int(32), doc: "held-out windows per dataset for the spliced-loss evaluation (at most those training held out)"),
            ConfigField("batch_size", .int(1...1024), default: .int(8), doc: "windows per forward pass"),
            ConfigField("dense_threshold", .double(0...1), default: .double(0.1), doc: "a feature firing on more than this share of tokens counts as dense"),
        ])), doc: "evaluation of the SAEs on both datasets"),
    ]

    /// The `eval` section.
    struct EvalSettings: Decodable {
        var sequences: Int
        var batchSize: Int
        var denseThreshold: Double
        enum CodingKeys: String, CodingKey { case sequences, batchSize = "batch_size", denseThreshold = "dense_threshold" }
    }

    /// What eval reads: the model, the held-out split training used, and its own section.
    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        var eval: EvalSettings
        var split: ValidationSplit

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: try ModelSettings.read(reader),
                    eval: try reader.decode(EvalSettings.self, at: "eval"), split: try reader.decode(ValidationSplit.self, at: "train"))
            }
        }
    }

    /// The stage that evaluates both SAEs on both datasets.
    public static func stage(config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (_, slice) = try Settings.read(config.value)
        return StageSpec(
            id: .eval, kind: "eval", version: 3, upstream: Side.allCases.map(StageID.collect) + Side.allCases.map(StageID.train),
            config: slice,
            run: { context in try run(context, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/\(EvalResults.fileName)", to: context.runDirectory + "/\(EvalResults.fileName)")
                for name in FileSystem.listFiles(in: context.entryDirectory + "/tables") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/tables/\(name)", to: context.runDirectory + "/tables/\(name)")
                }
                return ["results": .string(EvalResults.fileName)]
            })
    }

    static func run(_ context: StageContext, artifacts: String) throws {
        let (settings, _) = try Settings.read(context.config)
        let hook = try settings.model.hookPoint()
        let modelPath = try ModelSource.resolve(settings.model.name, artifacts: artifacts)
        let model = try LanguageModel.load(modelPath)
        var saes: [Side: (SAEParameters, SAEActivation)] = [:]
        for side in Side.allCases { saes[side] = try SAECheckpoint.readSAELens(try context.upstream(.train(side))) }

        var metrics: [SAEPair: EvalResults.PairMetrics] = [:]
        for data in Side.allCases {
            let directory = try context.upstream(.collect(data))
            let dataset = try ActivationDataset(directory: directory, split: settings.split, seed: settings.seed)
            let windows = try SplicedLoss.heldOutWindows(directory, count: settings.eval.sequences, seed: settings.seed,
                                                         heldOut: dataset.validationWindows)
            context.logger.info("eval: spliced loss on \(windows.batch) held-out windows of \(data)")
            let losses = try SplicedLoss.measure(model: model, tokens: windows, hook: hook, saes: saes, batchSize: settings.eval.batchSize)
            for trained in Side.allCases {
                let (parameters, activation) = saes[trained]!
                // One encoder pass gives the metrics, the firing frequencies and the L0 distribution.
                let analysis = SAEEvaluator.analyze(parameters, activation: activation, dataset: dataset, rows: dataset.validation, batchSize: 1024)
                let dense = analysis.frequencies.filter { $0 > settings.eval.denseThreshold }.count
                metrics[SAEPair(trained, data)] = EvalResults.PairMetrics(
                    reconstruction: analysis.evaluation, denseFraction: Double(dense) / Double(max(analysis.frequencies.count, 1)),
                    ceClean: losses.clean, ceSAE: losses.sae[trained]!, ceZero: losses.zero, l0Histogram: analysis.l0Histogram)
            }
        }
        try ResultsWriter.write(EvalResults(model: settings.model.name, hook: hook.description, eval: metrics), to: context.outputDirectory)
    }
}
