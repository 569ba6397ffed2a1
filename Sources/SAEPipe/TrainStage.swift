import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipeSAE

/// train.A / train.B: one sparse autoencoder per activation set.
public enum TrainStage {
    public static let configFields: [ConfigField] = [
        ConfigField("sae", .section(ConfigSection([
            ConfigField("expansion", .int(1...1024), default: .int(8), doc: "features per activation dimension: d_sae = expansion × d_model"),
            ConfigField("d_sae", .int(1...10_000_000), doc: "the number of features, instead of expansion"),
            ConfigField("activation", .choice(["relu", "topk", "jumprelu"]), default: .string("relu"),
                        doc: "ReLU with an L1 penalty, TopK (k per token), or JumpReLU (learned thresholds, L0 penalty)"),
            ConfigField("k", .int(1...100_000), default: .int(32), doc: "active features per token for topk"),
            ConfigField("sparsity", .choice(["unit_norm_decoder", "decoder_norm_weighted"]), default: .string("unit_norm_decoder"),
                        doc: "plain L1 with decoder rows renormalized to unit norm after every step, or L1 weighted by decoder-row norms with a free decoder"),
            ConfigField("jumprelu_bandwidth", .double(1e-9...10), default: .double(0.001), doc: "width of JumpReLU's straight-through kernel"),
            ConfigField("jumprelu_init_threshold", .double(1e-9...10), default: .double(0.001), doc: "JumpReLU's starting threshold"),
            ConfigField("normalize_activations", .bool, default: .bool(true),
                        doc: "train on activations scaled so that E‖x‖ = √d (folded back into the saved weights)"),
            ConfigField("decoder_init_norm", .double(1e-6...10), default: .double(0.1),
                        doc: "norm of the initial decoder rows (the encoder starts as their transpose)"),
        ])), doc: "the sparse autoencoder's architecture"),
        ConfigField("train", .section(ConfigSection([
            ConfigField("tokens", .int(1...10_000_000_000), default: .int(2_000_000), doc: "training tokens (batches drawn across epochs)"),
            ConfigField("epochs", .double(0.001...100_000), doc: "passes over the training split, instead of tokens"),
            ConfigField("batch_size", .int(1...65_536), default: .int(1024), doc: "rows per optimizer step"),
            ConfigField("lr", .double(0...10), default: .double(4e-4), doc: "Adam learning rate"),
            ConfigField("lr_warmup_steps", .int(0...10_000_000), default: .int(100), doc: "linear learning-rate warmup"),
            ConfigField("lr_decay_fraction", .double(0...1), default: .double(0.2), doc: "linear decay to zero over this last share of steps"),
            ConfigField("l1_coefficient", .double(0...1e6), default: .double(3), doc: "λ: weight of the sparsity penalty (L1; L0 for jumprelu)"),
            ConfigField("l1_warmup_fraction", .double(0...1), default: .double(0.05), doc: "λ ramps up linearly over this first share of steps"),
            ConfigField("adam_beta1", .double(0...1), default: .double(0.9), doc: "Adam β1"),
            ConfigField("adam_beta2", .double(0...1), default: .double(0.999), doc: "Adam β2"),
            ConfigField("adam_epsilon", .double(0...1), default: .double(1e-8), doc: "Adam ε"),
            ConfigField("grad_clip", .double(0...1e9), default: .double(1), doc: "clip the global gradient norm to this (0: off)"),
            ConfigField("target_l0", .double(0...1e6), doc: "steer λ so the average L0 approaches this (relu, jumprelu)"),
            ConfigField("validation_fraction", .double(0...0.5), default: .double(0.05), doc: "share of rows held out for validation (whole windows, so eval's sequences are unseen too)"),
            ConfigField("max_validation_rows", .int(1...10_000_000), default: .int(8192), doc: "cap on held-out rows"),
            ConfigField("log_every", .int(1...1_000_000), default: .int(10), doc: "steps between metrics.csv rows"),
            ConfigField("validate_every", .int(0...1_000_000), default: .int(0), doc: "steps between validation logs (0: only at the end)"),
            ConfigField("checkpoint_every", .int(1...1_000_000), default: .int(100), doc: "steps between resumable checkpoints"),
            ConfigField("dead_window_tokens", .int(1...1_000_000_000), default: .int(1_000_000), doc: "a feature silent this many tokens counts as dead"),
            ConfigField("compute", .choice(["auto", "dense", "sparse"]), default: .string("auto"),
                        doc: "decoder and gradients as dense GEMMs or over active features only; auto picks sparse below 8% density"),
            ConfigField("resample_every", .int(0...1_000_000), default: .int(0), doc: "resample dead features every this many steps (0: never)"),
        ])), doc: "optimization of each SAE"),
    ]

    public static func stage(side: String, config: ResolvedConfig, artifacts: String) -> StageSpec {
        let slice = config.value.slice(["seed", "sae", "train"])
        return StageSpec(
            id: "train.\(side)", kind: "train", version: 2, upstream: ["collect.\(side)"], config: slice,
            run: { context in try run(context, side: side, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/metrics.csv", to: context.runDirectory + "/train/\(side)/metrics.csv")
                try FileSystem.copyReplacing(context.entryDirectory + "/validation.json", to: context.runDirectory + "/train/\(side)/validation.json")
                return ["saes": .map([side: .string(context.entryRelativePath)])]
            })
    }

    static func run(_ context: StageContext, side: String, artifacts: String) throws {
        let settings = TrainSettings.fromConfig(context.config)
        let activations = try context.upstream("collect.\(side)")
        let dataset = try ActivationDataset(
            directory: activations, validationFraction: settings.validationFraction, maxValidationRows: settings.maxValidationRows,
            seed: settings.seed)
        // Checkpoints live beside the cache entries, keyed like the entry, so a killed run resumes.
        let resume = "\(artifacts)/cache/train/.resume-\(context.key)"
        var trainer = Trainer(dataset: dataset, settings: settings, checkpointDirectory: resume)
        trainer.label = "train.\(side)"
        trainer.log = { context.logger.info("train.\(side): \($0)") }
        context.logger.info("train.\(side): \(dataset.training.count) training rows, \(dataset.validation.count) held out, d \(dataset.d) → \(settings.features(d: dataset.d)) features")
        let result = try trainer.train()

        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(activations)/meta.json"))) as? [String: Any] ?? [:]
        let provenance = SAEProvenance(
            modelName: meta["model"] as? String ?? "", hookName: meta["hook"] as? String ?? "",
            hookLayer: meta["layer"] as? Int ?? 0, contextSize: meta["seq_len"] as? Int ?? 0,
            datasetPath: ((meta["dataset"] as? [String: Any])?["path"] as? String) ?? ((meta["dataset"] as? [String: Any])?["hub"] as? String) ?? "",
            prependBOS: false)
        try SAECheckpoint.writeSAELens(result.parameters, activation: settings.activation, provenance: provenance, to: context.outputDirectory)
        try result.metricsCSV.write(toFile: context.output("metrics.csv"), atomically: false, encoding: .utf8)
        var validation = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result.validation)) as? [String: Any] ?? [:]
        validation["input_scale"] = result.scale
        validation["steps"] = result.steps
        try JSONSerialization.data(withJSONObject: validation, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: context.output("validation.json")))
        // The final training state stays beside the SAE (moments, data position) for later fine-tuning.
        if FileSystem.exists(resume) { try FileSystem.rename(from: resume, to: context.output("training_state")) }
        let summary = String(
            format: "train.%@: validation fve %.4f, l0 %.1f, dead %.1f%%, %.0f tok/s", side, result.validation.fve,
            result.validation.l0, 100 * result.validation.deadFraction, result.tokensPerSecond)
        context.logger.info("\(summary)")
    }
}
