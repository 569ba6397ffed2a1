import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeEvents
import SAEPipeSAE

/// train.A / train.B: one sparse autoencoder per activation set.
public enum TrainStage {
    public static let configFields = TrainSettings.configFields

    /// The settings, the SAE directory to load instead of training (`sae.load.<side>`), and the
    /// config slice they were read from (`seed`, `sae`, `train`).
    static func settings(_ config: ConfigValue, side: Side) throws -> (TrainSettings, String?, ConfigValue) {
        let (settings, load, _, slice) = try settingsAndActivations(config, side: side)
        return (settings, load, slice)
    }

    /// The settings, and which of collect's activation sets they train on (a part of the slice).
    static func settingsAndActivations(_ config: ConfigValue, side: Side) throws -> (TrainSettings, String?, ActivationSetChoice, ConfigValue) {
        let ((settings, load, choice), slice) = try ConfigReader.settings(from: config) { reader in
            (try reader.decode(TrainSettings.self, at: ""), try reader.decode(String?.self, at: "sae.load.\(side)"),
             try ActivationSetChoice.read(reader, config: config))
        }
        return (settings, load, choice, slice)
    }

    /// The stage that trains the SAE on dataset `side`'s activations (or loads the one `sae.load` names).
    public static func stage(side: Side, config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (_, load, slice) = try settings(config.value, side: side)
        var inputFiles: [String] = []
        if let load {
            // Checked when the run is planned, so a wrong path stops it before collect runs.
            _ = try SAELensImport.read(load)
            inputFiles = ["\(load)/cfg.json", "\(load)/sae_weights.safetensors"]
        }
        return StageSpec(
            id: .train(side), kind: "train", version: 5, upstream: [.collect(side)], config: slice, inputFiles: inputFiles,
            run: { context in try run(context, side: side, artifacts: artifacts) },
            publish: { context in
                for name in [TrainingMetrics.fileName, ValidationSummary.fileName, EventFile.fileName]
                where FileSystem.exists(context.entryDirectory + "/\(name)") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/\(name)", to: context.runDirectory + "/train/\(side)/\(name)")
                }
                return ["saes": .map([side.rawValue: .string(context.entryRelativePath)])]
            })
    }

    static func run(_ context: StageContext, side: Side, artifacts: String) throws {
        let (settings, load, choice, _) = try settingsAndActivations(context.config, side: side)
        let entry = try context.upstream(.collect(side))
        let dataset: ActivationDataset
        if let sets = try choice.trainingSets(entry: entry) {
            // A multi-layer SAE: every layer's vectors, standardized so each layer arrives on one scale.
            dataset = try ActivationDataset(directories: sets.map(\.directory), split: settings.validation, seed: settings.seed,
                                            normalization: .layerNorm)
            context.logger.info("a multi-layer SAE on layers \(sets.map(\.layer).map(String.init).joined(separator: ", "))")
        } else {
            dataset = try ActivationDataset(directory: try choice.directory(entry: entry), split: settings.validation, seed: settings.seed)
        }
        if let load { return try useLoaded(load, context, side: side, dataset: dataset, settings: settings) }
        // Checkpoints live beside the cache entries, keyed like the entry, so a killed run resumes.
        let resume = "\(artifacts)/cache/train/.resume-\(context.key)"
        var trainer = Trainer(dataset: dataset, settings: settings, checkpointDirectory: resume)
        trainer.label = "train.\(side)"
        trainer.log = { context.logger.info("\($0)") }
        let totalTokens = settings.steps(trainingRows: dataset.training.count) * settings.batchSize
        if let beyond = settings.snapshots.first(where: { $0 > totalTokens }) {
            throw SAEPipeError.input("train.snapshots: \(beyond) is past the \(totalTokens) tokens this SAE trains on",
                                     key: "train.snapshots", hint: "list milestones up to train.tokens")
        }
        // Snapshots live beside the cache entries until training ends, like the checkpoints.
        let snapshots = "\(artifacts)/cache/train/.snapshots-\(context.key)"
        let provenance = provenance(dataset)
        trainer.snapshot = { snapshot in
            try writeSnapshot(snapshot, settings: settings, provenance: provenance, dataset: dataset, to: "\(snapshots)/\(snapshot.milestone)")
            let line = String(format: "snapshot at %d tokens: held-out fve %.4f, l0 %.1f", snapshot.trainedTokens,
                              snapshot.analysis.evaluation.fve, snapshot.analysis.evaluation.l0)
            context.logger.info("\(line)")
        }
        context.logger.info("\(dataset.training.count) training rows, \(dataset.validation.count) held out, d \(dataset.d) → \(settings.features(d: dataset.d)) features")
        let started = Date()
        let result = try trainer.train()

        try SAECheckpoint.writeSAELens(result.parameters, activation: settings.activation.inference, provenance: provenance,
                                       to: context.outputDirectory)
        if !settings.snapshots.isEmpty {
            try finishSnapshots(in: snapshots, final: result.parameters, finalFrequencies: result.heldOutFrequencies,
                                milestones: settings.snapshots, context: context)
        }
        try SAECheckpoint.writeSparsity(frequencies: result.heldOutFrequencies, to: context.outputDirectory)
        try FileSystem.writeAtomically(result.metrics.csv(), to: context.output(TrainingMetrics.fileName))
        try TrainingEvents.write(result.metrics, started: started, to: context.output(EventFile.fileName))
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

    /// One snapshot: a SAELens checkpoint, its sparsity.safetensors and its held-out validation.json.
    static func writeSnapshot(_ snapshot: Trainer.Snapshot, settings: TrainSettings, provenance: SAEProvenance, dataset: ActivationDataset,
                              to directory: String) throws {
        try FileSystem.replaceDirectory(at: directory) { temporary in
            try SAECheckpoint.writeSAELens(snapshot.parameters, activation: settings.activation.inference, provenance: provenance, to: temporary)
            try SAECheckpoint.writeSparsity(frequencies: snapshot.analysis.frequencies, to: temporary)
            try JSONFile.write(
                ValidationSummary(evaluation: snapshot.analysis.evaluation, inputScale: 1, steps: snapshot.step,
                                  trainingTokens: snapshot.trainedTokens, trainingRows: dataset.training.count),
                to: "\(temporary)/\(ValidationSummary.fileName)")
        }
    }

    /// Moves the snapshots into the entry with snapshots.json and each feature's emergence.
    static func finishSnapshots(in directory: String, final: SAEParameters, finalFrequencies: [Double], milestones: [Int],
                                context: StageContext) throws {
        var inputs: [FeatureEmergence.Input] = []
        var summaries: [(Int, ValidationSummary)] = []
        for milestone in milestones {
            let path = "\(directory)/\(milestone)"
            let (parameters, _) = try SAECheckpoint.readSAELens(path)
            let frequencies = try SAECheckpoint.readSparsity(path)
            inputs.append(FeatureEmergence.Input(milestone: milestone, parameters: parameters, frequencies: frequencies))
            summaries.append((milestone, try JSONFile.read(ValidationSummary.self, from: "\(path)/\(ValidationSummary.fileName)", hint: "")))
        }
        let emergence = FeatureEmergence.compute(final: final, finalFrequencies: finalFrequencies, snapshots: inputs)
        let file = SnapshotsFile(features: final.features, settledCosine: FeatureEmergence.settledCosine, snapshots: summaries.map { milestone, summary in
            SnapshotsFile.Snapshot(milestone: milestone, trainedTokens: summary.trainingTokens, step: summary.steps, evaluation: summary.evaluation,
                                   alive: emergence.filter { $0.aliveAt.map { $0 <= milestone } ?? false }.count,
                                   settled: emergence.filter { $0.settledAt.map { $0 <= milestone } ?? false }.count)
        })
        try JSONFile.write(file, to: context.output(SnapshotsFile.fileName))
        try FileSystem.writeAtomically(FeatureEmergence.csv(emergence), to: context.output(FeatureEmergence.fileName))
        try FileSystem.rename(from: directory, to: context.output(SnapshotsFile.directory))
    }

    /// Where the SAE reads from, for its cfg.json.
    static func provenance(_ dataset: ActivationDataset) -> SAEProvenance {
        let source = dataset.meta.provenance
        // A multi-layer SAE names every hook it read, comma-separated.
        let hooks = dataset.parts.count == 1 ? source?.hook ?? ""
            : dataset.parts.map { (try? ActivationSetMeta.read(directory: $0))?.provenance?.hook ?? "?" }.joined(separator: ",")
        return SAEProvenance(
            modelName: source?.model ?? "", hookName: hooks, hookLayer: source?.layer ?? 0,
            contextSize: dataset.meta.windows?.seqLen ?? 0, datasetPath: source?.datasetSource ?? "", prependBOS: false)
    }

    /// `sae.load`: the SAE from `directory` becomes this stage's output, as if trained here: its
    /// checkpoint in saepipe's form, held-out metrics on this dataset's held-out windows, no curves.
    static func useLoaded(_ directory: String, _ context: StageContext, side: Side, dataset: ActivationDataset, settings: TrainSettings) throws {
        let imported = try SAELensImport.read(directory)
        guard imported.parameters.d == dataset.d else {
            throw SAEPipeError.input(
                "the SAE in \(directory) reads \(imported.parameters.d)-wide activations; dataset \(side)'s are \(dataset.d) wide",
                file: "\(directory)/cfg.json", hint: "load an SAE trained on this model's hook (model.layer, model.stream)")
        }
        let hook = dataset.meta.provenance?.hook ?? "?"
        context.logger.info("loaded a \(imported.architecture) SAE with \(imported.parameters.features) features from \(directory) (it names hook \(imported.hookName ?? "none"); these activations are \(hook))")
        let analysis = SAEEvaluator.analyze(imported.parameters, activation: imported.activation,
                                            dataset: dataset.normalized(imported.parameters.inputNormalization), rows: dataset.validation,
                                            batchSize: settings.batchSize)
        try SAECheckpoint.writeSAELens(imported.parameters, activation: imported.activation, provenance: provenance(dataset),
                                       to: context.outputDirectory)
        try SAECheckpoint.writeSparsity(frequencies: analysis.frequencies, to: context.outputDirectory)
        try FileSystem.writeAtomically(TrainingMetrics().csv(), to: context.output(TrainingMetrics.fileName))
        try JSONFile.write(
            ValidationSummary(evaluation: analysis.evaluation, inputScale: 1, steps: 0, trainingTokens: 0, trainingRows: dataset.training.count),
            to: context.output(ValidationSummary.fileName))
        let e = analysis.evaluation
        let summary = String(format: "held-out fve %.4f, l0 %.1f, dead %.1f%%", e.fve, e.l0, 100 * e.deadFraction)
        context.logger.info("\(summary)")
    }
}
