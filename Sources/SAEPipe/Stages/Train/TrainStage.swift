import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeSAE

/// train.A / train.B: one sparse autoencoder per activation set.
public enum TrainStage {
    public static let configFields = TrainSettings.configFields

    /// The settings and the config slice they were read from (`seed`, `sae`, `train`).
    static func settings(_ config: ConfigValue) throws -> (TrainSettings, ConfigValue) {
        try ConfigReader.settings(from: config) { reader in try reader.decode(TrainSettings.self, at: "") }
    }

    /// The stage that trains the SAE on dataset `side`'s activations.
    public static func stage(side: Side, config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (_, slice) = try settings(config.value)
        return StageSpec(
            id: .train(side), kind: "train", version: 3, upstream: [.collect(side)], config: slice,
            run: { context in try run(context, side: side, artifacts: artifacts) },
            publish: { context in
                for name in [TrainingMetrics.fileName, ValidationSummary.fileName] {
                    try FileSystem.copyReplacing(context.entryDirectory + "/\(name)", to: context.runDirectory + "/train/\(side)/\(name)")
                }
                return ["saes": .map([side.rawValue: .string(context.entryRelativePath)])]
            })
    }

    static func run(_ context: StageContext, side: Side, artifacts: String) throws {
        let (settings, _) = try settings(context.config)
        let activations = try context.upstream(.collect(side))
        let dataset = try ActivationDataset(directory: activations, split: settings.validation, seed: settings.seed)
        // Checkpoints live beside the cache entries, keyed like the entry, so a killed run resumes.
        let resume = "\(artifacts)/cache/train/.resume-\(context.key)"
        var trainer = Trainer(dataset: dataset, settings: settings, checkpointDirectory: resume)
        trainer.label = "train.\(side)"
        trainer.log = { context.logger.info("\($0)") }
        context.logger.info("\(dataset.training.count) training rows, \(dataset.validation.count) held out, d \(dataset.d) → \(settings.features(d: dataset.d)) features")
        let result = try trainer.train()

        let source = dataset.meta.provenance
        let provenance = SAEProvenance(
            modelName: source?.model ?? "", hookName: source?.hook ?? "", hookLayer: source?.layer ?? 0,
            contextSize: dataset.meta.windows?.seqLen ?? 0, datasetPath: source?.datasetSource ?? "", prependBOS: false)
        try SAECheckpoint.writeSAELens(result.parameters, activation: settings.activation.inference, provenance: provenance, to: context.outputDirectory)
        try FileSystem.writeAtomically(result.metrics.csv(), to: context.output(TrainingMetrics.fileName))
        try JSONFile.write(
            ValidationSummary(evaluation: result.validation, inputScale: result.scale, steps: result.steps,
                              trainingTokens: result.trainingTokens, trainingRows: dataset.training.count),
            to: context.output(ValidationSummary.fileName))
        // The final training state stays beside the SAE (moments, data position) for later fine-tuning.
        if FileSystem.exists(resume) { try FileSystem.rename(from: resume, to: context.output("training_state")) }
        let summary = String(
            format: "held-out fve %.4f, l0 %.1f, dead %.1f%%, %.0f tok/s", result.validation.fve,
            result.validation.l0, 100 * result.validation.deadFraction, result.tokensPerSecond)
        context.logger.info("\(summary)")
    }
}
