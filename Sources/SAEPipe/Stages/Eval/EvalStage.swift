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
            ConfigField("sequences", .int(1...100_000), default: .int(192), doc: "held-out windows per dataset for the spliced-loss and KL evaluation (at most those training held out; results.json counts what was used)"),
            ConfigField("batch_size", .int(1...1024), default: .int(8), doc: "windows per forward pass"),
            ConfigField("dense_threshold", .double(0...1), default: .double(0.1), doc: "a feature firing on more than this share of tokens counts as dense"),
            ConfigField("bootstrap_resamples", .int(100...100_000), default: .int(1000), doc: "resamples of held-out windows behind every 95% interval"),
            ConfigField("match_threshold", .double(0...1), default: .double(0.7),
                        doc: "decoder cosine at which a one-to-one matched pair of A and B features counts as shared"),
        ])), doc: "evaluation of the SAEs on both datasets"),
    ]

    /// The `eval` section.
    struct EvalSettings: Decodable {
        var sequences: Int
        var batchSize: Int
        var denseThreshold: Double
        var bootstrapResamples: Int
        var matchThreshold: Double
        enum CodingKeys: String, CodingKey {
            case sequences, batchSize = "batch_size", denseThreshold = "dense_threshold", bootstrapResamples = "bootstrap_resamples"
            case matchThreshold = "match_threshold"
        }
    }

    /// What eval reads: the model, the held-out split training used, and its own section.
    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        var eval: EvalSettings
        var split: ValidationSplit
        var sides: [Side]
        var activations: ActivationSetChoice

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: try ModelSettings.read(reader),
                    eval: try reader.decode(EvalSettings.self, at: "eval"), split: try reader.decode(ValidationSplit.self, at: "train"),
                    sides: try Side.present(reader), activations: try ActivationSetChoice.read(reader, config: config))
            }
        }
    }

    /// The stage that evaluates both SAEs on both datasets.
    public static func stage(config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (settings, slice) = try Settings.read(config.value)
        return StageSpec(
            id: .eval, kind: "eval", version: 8, upstream: settings.sides.map(StageID.collect) + settings.sides.map(StageID.train),
            config: slice,
            run: { context in try run(context, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/\(EvalResults.fileName)", to: context.runDirectory + "/\(EvalResults.fileName)")
                if FileSystem.exists(context.entryDirectory + "/\(MatchingFile.fileName)") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/\(MatchingFile.fileName)", to: context.runDirectory + "/\(MatchingFile.fileName)")
                }
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
        var training: [Side: (summary: ValidationSummary, rows: [TrainingMetrics.Row])] = [:]
        for side in settings.sides {
            let entry = try context.upstream(.train(side))
            saes[side] = try SAECheckpoint.readSAELens(entry)
            training[side] = (try JSONFile.read(ValidationSummary.self, from: "\(entry)/\(ValidationSummary.fileName)"),
                              try TrainingMetrics.read("\(entry)/\(TrainingMetrics.fileName)"))
        }
        let resamples = settings.eval.bootstrapResamples
        var eval: [SAEPair: EvalResults.PairMetrics] = [:]
        var crossDomain: [SAEPair: EvalResults.Transfer] = [:]
        var generalization: [Side: EvalResults.Generalization] = [:]
        var datasetRows: [Side: Int] = [:]
        for data in settings.sides {
            let directory = try settings.activations.directory(entry: try context.upstream(.collect(data)))
            // Both SAEs of a run share their settings, so their input normalization.
            let dataset = try ActivationDataset(directory: directory, split: settings.split, seed: settings.seed,
                                                normalization: saes.values.first?.0.inputNormalization ?? .none)
            datasetRows[data] = dataset.rows
            let windows = try SplicedLoss.heldOutWindows(directory, count: settings.eval.sequences, seed: settings.seed,
                                                         heldOut: dataset.validationWindows)
            let progress = SAEPipeCore.Progress("eval spliced loss on \(data)", total: windows.batch, unit: "windows")
            let losses = try SplicedLoss.measure(model: model, tokens: windows, hook: hook, saes: saes, batchSize: settings.eval.batchSize,
                                                 progress: progress)
            progress.finish()
            var units: [Side: (sums: [ReconstructionSums], l0Histogram: [Int])] = [:]
            for trained in settings.sides {
                let (parameters, activation) = saes[trained]!
                let sums = SAEEvaluator.unitSums(parameters, activation: activation, dataset: dataset, units: dataset.validationUnits)
                units[trained] = (sums.units, sums.l0Histogram)
            }
            let seed = settings.seed ^ (data == .A ? 0xA : 0xB)
            let evaluation = DatasetEvaluation(units: units, windows: losses, seed: seed, resamples: resamples,
                                               denseThreshold: settings.eval.denseThreshold)
            for trained in settings.sides { eval[SAEPair(trained, data)] = evaluation.pairMetrics(trained) }
            // Transfer needs the other dataset's SAE; a one-dataset run has none.
            if settings.sides.contains(data.other) {
                let reported = { (pair: SAEPair) in eval[pair]?.ceRecovered != nil }
                let cross = SAEPair(data.other, data)
                crossDomain[cross] = evaluation.transfer(from: data.other, home: data,
                                                         reported: (reported(cross), reported(SAEPair(data, data))))
            }

            // The SAE trained here, on as many of its training rows as it is evaluated on held out.
            let (parameters, activation) = saes[data]!
            let trainingUnits = dataset.trainingUnits(rows: dataset.validation.count)
            let trainSums = SAEEvaluator.unitSums(parameters, activation: activation, dataset: dataset, units: trainingUnits).units
            let trained = ReconstructionMetrics(trainSums, denseThreshold: settings.eval.denseThreshold)
            let trainResamples = ReconstructionMetrics.resampled(
                trainSums, weights: Bootstrap.weights(units: trainSums.count, count: resamples, seed: seed ^ 0x7EA1),
                denseThreshold: settings.eval.denseThreshold)
            let held = evaluation.bySAE[data]!
            generalization[data] = EvalResults.Generalization(
                trainFVE: trained.fve, heldoutFVE: held.reconstruction.fve, trainL0: trained.l0, heldoutL0: held.reconstruction.l0,
                passes: training[data]!.summary.passes,
                intervals: [
                    "train_fve": Bootstrap.interval(trainResamples.map(\.fve)),
                    "gap": Bootstrap.interval(zip(trainResamples, held.resampledReconstruction).map { $0.fve - $1.fve }),
                ].compactMapValues { $0 })
        }
        // Which features the two dictionaries share: decoder directions, not activations.
        let featureMatching = try saes[.A].flatMap { a in try saes[.B].map { b in try FeatureMatching(a.0, b.0) } }
        let matching = featureMatching.map { EvalResults.Matching($0, threshold: settings.eval.matchThreshold) }
        try featureMatching.map { MatchingFile($0, threshold: settings.eval.matchThreshold) }?.write(to: context.outputDirectory)
        let health = Health.check(eval: eval, generalization: generalization, training: training.mapValues(\.rows),
                                  denseThreshold: settings.eval.denseThreshold,
                                  multiLayerAt: settings.activations.trainedLayers == nil ? nil : settings.activations.layer)
        let results = EvalResults(
            model: settings.model.name, hook: hook.description, eval: eval, crossDomain: crossDomain, generalization: generalization,
            health: health, datasetRows: datasetRows, bootstrap: .init(resamples: resamples, unit: "held-out window", level: 0.95),
            matching: matching)
        try ResultsWriter.write(results, to: context.outputDirectory)
    }
}
