import Foundation
import SAEPipeCore

/// Everything that shapes a training run: the `seed`, `sae` and `train` config sections.
/// Every default is in `configFields` (the schema); this type has none of its own.
public struct TrainSettings: Sendable, Equatable, Decodable {
    /// The `sae` and `train` sections of the schema.
    public static let configFields: [ConfigField] = [
        ConfigField("sae", .section(ConfigSection([
            ConfigField("expansion", .int(1...1024), default: .int(8), doc: "features per activation dimension: d_sae = expansion × d_model"),
            ConfigField("d_sae", .int(1...10_000_000), doc: "the number of features, instead of expansion"),
            ConfigField("activation", .choice(["relu", "topk", "batchtopk", "jumprelu"]), default: .string("relu"),
                        doc: "ReLU with an L1 penalty, TopK (k per token), BatchTopK (k per token on average over a batch; encodes with one learned threshold), or JumpReLU (learned thresholds, L0 penalty)"),
            ConfigField("k", .int(1...100_000), default: .int(32), doc: "active features per token for topk; on average for batchtopk"),
            ConfigField("sparsity", .choice(["unit_norm_decoder", "decoder_norm_weighted"]), default: .string("unit_norm_decoder"),
                        doc: "plain L1 with decoder rows renormalized to unit norm after every step, or L1 weighted by decoder-row norms with a free decoder"),
            ConfigField("jumprelu_bandwidth", .double(1e-9...10), default: .double(0.05), doc: "width of JumpReLU's straight-through kernel (SAELens' default)"),
            ConfigField("jumprelu_init_threshold", .double(0...10), default: .double(0.01), doc: "JumpReLU's starting threshold, trained directly (SAELens' default)"),
            ConfigField("normalize_activations", .bool, default: .bool(true),
                        doc: "train on activations scaled so that E‖x‖ = √d (folded back into the saved weights)"),
            ConfigField("decoder_init_norm", .double(1e-6...10), default: .double(0.1),
                        doc: "norm of the initial decoder rows (the encoder starts as their transpose)"),
            ConfigField("b_dec_init", .choice(["zeros", "mean", "geometric_median"]), default: .string("zeros"),
                        doc: "the decoder bias's start: zeros (SAELens), the training rows' mean (sparsify) or their geometric median (dictionary_learning)"),
            ConfigField("w_dec_init", .choice(["random", "training_rows"]), default: .string("random"),
                        doc: "the decoder rows' directions at the start: random (SAELens, sparsify, dictionary_learning) or distinct training rows drawn at random, less the starting b_dec; the encoder starts as their transpose either way"),
            ConfigField("layers", .any, doc: "train one multi-layer SAE (MLSAE, Lawson et al. 2024) on these layers' model.stream (`all` or a list; resid_post or resid_pre), each layer's vector a separate example, standardized per vector (SAELens' layer_norm); the `mlsae` stage evaluates it layer by layer"),
            ConfigField("load", .section(ConfigSection([
                ConfigField("A", .string, doc: "a SAELens SAE directory (cfg.json + sae_weights.safetensors) to use for dataset A instead of training one"),
                ConfigField("B", .string, doc: "the same for dataset B"),
            ])), doc: "SAEs trained elsewhere (SAELens format: standard, topk, batchtopk, jumprelu)"),
        ])), doc: "the sparse autoencoder's architecture"),
        ConfigField("train", .section(ConfigSection([
            ConfigField("tokens", .int(1...10_000_000_000), default: .int(2_000_000), doc: "training tokens (batches drawn across epochs)"),
            ConfigField("epochs", .double(0.001...100_000), doc: "passes over the training split, instead of tokens"),
            ConfigField("batch_size", .int(1...65_536), default: .int(1024), doc: "rows per optimizer step"),
            ConfigField("lr", .double(0...10), default: .double(4e-4), doc: "Adam learning rate"),
            ConfigField("decoder_lr_scale", .double(0...1000), default: .double(1),
                        doc: "the decoder weights' learning rate as a multiple of train.lr (the encoder, biases and thresholds use train.lr)"),
            ConfigField("lr_warmup_steps", .int(0...10_000_000), default: .int(100), doc: "linear learning-rate warmup"),
            ConfigField("lr_decay_fraction", .double(0...1), default: .double(0.2), doc: "linear decay to zero over this last share of steps"),
            ConfigField("l1_coefficient", .double(0...1e6), default: .double(3), doc: "λ: weight of the sparsity penalty (L1; L0 for jumprelu)"),
            ConfigField("l1_warmup_fraction", .double(0...1), default: .double(0.05), doc: "λ ramps up linearly over this first share of steps"),
            ConfigField("adam_beta1", .double(0...1), default: .double(0.9), doc: "Adam β1"),
            ConfigField("adam_beta2", .double(0...1), default: .double(0.999), doc: "Adam β2"),
            ConfigField("adam_epsilon", .double(0...1), default: .double(1e-8), doc: "Adam ε"),
            ConfigField("grad_clip", .double(0...1e9), default: .double(1), doc: "clip the global gradient norm to this (0: off)"),
            ConfigField("target_l0", .double(0...1e6), doc: "steer λ so the average L0 approaches this (relu, jumprelu)"),
            ConfigField("validation_fraction", .double(0...0.5), default: .double(0.1), doc: "share of rows held out for validation (whole windows, so eval's sequences are unseen too)"),
            ConfigField("max_validation_rows", .int(1...10_000_000), default: .int(32_768), doc: "cap on held-out rows"),
            ConfigField("log_every", .int(1...1_000_000), default: .int(10), doc: "steps between metrics.csv rows"),
            ConfigField("validate_every", .int(0...1_000_000), default: .int(200), doc: "steps between held-out evaluations, logged and drawn beside the training curves (0: only at the end)"),
            ConfigField("checkpoint_every", .int(1...1_000_000), default: .int(100), doc: "steps between resumable checkpoints"),
            ConfigField("dead_window_tokens", .int(1...1_000_000_000), default: .int(1_000_000), doc: "a feature silent this many tokens counts as dead"),
            ConfigField("compute", .choice(["auto", "dense", "sparse"]), default: .string("auto"),
                        doc: "decoder and gradients as dense GEMMs or over active features only; auto picks sparse below 8% density"),
            ConfigField("resample_every", .int(0...1_000_000), default: .int(0), doc: "resample dead features every this many steps (0: never)"),
            ConfigField("snapshots", .list(.int(1...10_000_000_000)), default: .list([]),
                        doc: "training-token milestones at which to keep the SAE with its held-out metrics (train entry's snapshots/), for feature emergence"),
            ConfigField("auxk_coefficient", .double(0...1e6), default: .double(1),
                        doc: "weight of the AuxK loss (topk, batchtopk): dead features learn to reconstruct what the live ones miss (0: off)"),
            ConfigField("decoder_gradient_projection", .bool, default: .bool(false),
                        doc: "remove each decoder row's gradient along that row before the step (unit_norm_decoder; sparsify does)"),
            ConfigField("k_anneal_start", .double(1...10_000), default: .double(1),
                        doc: "topk/batchtopk: k starts at this multiple of sae.k and falls linearly to sae.k over train.k_anneal_fraction of the steps (1: no annealing)"),
            ConfigField("k_anneal_fraction", .double(0...1), default: .double(0.3), doc: "share of steps over which k anneals"),
            ConfigField("auxk_dead_tokens", .int(1...1_000_000_000), default: .int(100_000),
                        doc: "a feature silent this many tokens joins the AuxK loss"),
        ])), doc: "optimization of each SAE"),
    ]

    public var expansion: Int
    public var dSAE: Int?
    public var activation: SAEActivation
    public var form: SparsityForm
    public var jumpReLUInitialThreshold: Float
    /// `sae.jumprelu_bandwidth` (also inside `activation` when it is JumpReLU).
    public var jumpReLUBandwidth: Float
    public var normalizeActivations: Bool
    public var decoderInitNorm: Float
    public var decoderBiasInit: DecoderBiasInit
    public var decoderWeightInit: DecoderWeightInit

    public var tokens: Int
    public var epochs: Double?
    public var batchSize: Int
    public var lr: Float
    /// The decoder weights' learning rate as a multiple of `lr`.
    public var decoderLRScale: Float
    public var lrWarmupSteps: Int
    public var lrDecayFraction: Double
    public var l1Coefficient: Float
    public var l1WarmupFraction: Double
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var gradientClip: Float?
    public var targetL0: Double?
    public var validation: ValidationSplit
    public var logEvery: Int
    public var validateEvery: Int
    public var checkpointEvery: Int
    public var deadWindowTokens: Int
    public var resampleEvery: Int
    public var auxKCoefficient: Float
    /// Token milestones for snapshots, increasing, without repeats.
    public var snapshots: [Int]
    public var auxKDeadTokens: Int
    public var decoderGradientProjection: Bool
    /// k at step 0 as a multiple of `sae.k` (topk, batchtopk; 1: no annealing), and the share of steps annealing takes.
    public var kAnnealStart: Double
    public var kAnnealFraction: Double
    public var seed: UInt64
    public var compute: ComputeMode

    public var validationFraction: Double { validation.fraction }
    public var maxValidationRows: Int { validation.maxRows }

    /// The schema's defaults (tests and benchmarks start from these).
    public static var defaults: TrainSettings {
        let schema = ConfigSchema(ConfigSection([ConfigField.seed] + configFields))
        // The schema's own defaults always decode.
        return try! ConfigReader(schema.defaults()).decode(TrainSettings.self, at: "")
    }

    public func features(d: Int) -> Int { dSAE ?? expansion * d }

    /// Total optimizer steps for `trainingRows` rows available.
    public func steps(trainingRows: Int) -> Int {
        let tokenCount = epochs.map { Int(($0 * Double(trainingRows)).rounded()) } ?? tokens
        return max(1, (tokenCount + batchSize - 1) / batchSize)
    }

    /// Linear warmup, constant, then linear decay to zero over the last `lrDecayFraction` of steps.
    public func learningRate(step: Int, total: Int) -> Float {
        var rate = lr
        if lrWarmupSteps > 0, step < lrWarmupSteps { rate *= Float(step + 1) / Float(lrWarmupSteps) }
        let decaySteps = Int(Double(total) * lrDecayFraction)
        if decaySteps > 0, step >= total - decaySteps { rate *= Float(total - step) / Float(decaySteps) }
        return rate
    }

    /// The activation a training step uses: TopK and BatchTopK with k annealed linearly from
    /// `kAnnealStart` × k to k over the first `kAnnealFraction` of steps (never past the features).
    public func trainingActivation(step: Int, total: Int, features: Int) -> SAEActivation {
        let annealSteps = Int(Double(total) * kAnnealFraction)
        guard kAnnealStart > 1, annealSteps > 0, step < annealSteps else { return activation }
        func annealed(_ k: Int) -> Int {
            let from = min(Double(features), kAnnealStart * Double(k))
            return min(features, max(k, Int((from + (Double(k) - from) * Double(step) / Double(annealSteps)).rounded())))
        }
        switch activation {
        case .topK(let k): return .topK(annealed(k))
        case .batchTopK(let k): return .batchTopK(annealed(k))
        case .relu, .jumpReLU: return activation
        }
    }

    /// The sparsity coefficient ramps up linearly over the first `l1WarmupFraction` of steps.
    public func lambdaFactor(step: Int, total: Int) -> Float {
        let warmup = Int(Double(total) * l1WarmupFraction)
        return warmup > 0 && step < warmup ? Float(step + 1) / Float(warmup) : 1
    }

    enum RootKeys: String, CodingKey { case seed, sae, train }
    enum SAEKeys: String, CodingKey {
        case expansion, dSAE = "d_sae", activation, k, sparsity, jumpReLUBandwidth = "jumprelu_bandwidth"
        case jumpReLUInitialThreshold = "jumprelu_init_threshold", normalizeActivations = "normalize_activations"
        case decoderInitNorm = "decoder_init_norm", decoderBiasInit = "b_dec_init", decoderWeightInit = "w_dec_init"
    }
    enum TrainKeys: String, CodingKey {
        case tokens, epochs, batchSize = "batch_size", lr, decoderLRScale = "decoder_lr_scale", lrWarmupSteps = "lr_warmup_steps"
        case lrDecayFraction = "lr_decay_fraction"
        case l1Coefficient = "l1_coefficient", l1WarmupFraction = "l1_warmup_fraction", beta1 = "adam_beta1", beta2 = "adam_beta2"
        case epsilon = "adam_epsilon", gradientClip = "grad_clip", targetL0 = "target_l0", logEvery = "log_every"
        case validateEvery = "validate_every", checkpointEvery = "checkpoint_every", deadWindowTokens = "dead_window_tokens"
        case compute, resampleEvery = "resample_every", auxKCoefficient = "auxk_coefficient", auxKDeadTokens = "auxk_dead_tokens"
        case snapshots, decoderGradientProjection = "decoder_gradient_projection", kAnnealStart = "k_anneal_start"
        case kAnnealFraction = "k_anneal_fraction"
    }
    enum ActivationName: String, Decodable { case relu, topk, batchtopk, jumprelu }
    enum ComputeName: String, Decodable { case auto, dense, sparse }

    public init(from decoder: Decoder) throws {
        let root = try decoder.container(keyedBy: RootKeys.self)
        seed = try root.decode(UInt64.self, forKey: .seed)
        let sae = try root.nestedContainer(keyedBy: SAEKeys.self, forKey: .sae)
        expansion = try sae.decode(Int.self, forKey: .expansion)
        dSAE = try sae.decodeIfPresent(Int.self, forKey: .dSAE)
        let k = try sae.decode(Int.self, forKey: .k)
        let bandwidth = try sae.decode(Float.self, forKey: .jumpReLUBandwidth)
        jumpReLUBandwidth = bandwidth
        switch try sae.decode(ActivationName.self, forKey: .activation) {
        case .relu: activation = .relu
        case .topk: activation = .topK(k)
        case .batchtopk: activation = .batchTopK(k)
        case .jumprelu: activation = .jumpReLU(bandwidth: bandwidth)
        }
        form = try sae.decode(SparsityForm.self, forKey: .sparsity)
        jumpReLUInitialThreshold = try sae.decode(Float.self, forKey: .jumpReLUInitialThreshold)
        normalizeActivations = try sae.decode(Bool.self, forKey: .normalizeActivations)
        decoderInitNorm = try sae.decode(Float.self, forKey: .decoderInitNorm)
        decoderBiasInit = try sae.decode(DecoderBiasInit.self, forKey: .decoderBiasInit)
        decoderWeightInit = try sae.decode(DecoderWeightInit.self, forKey: .decoderWeightInit)

        let train = try root.nestedContainer(keyedBy: TrainKeys.self, forKey: .train)
        tokens = try train.decode(Int.self, forKey: .tokens)
        epochs = try train.decodeIfPresent(Double.self, forKey: .epochs)
        batchSize = try train.decode(Int.self, forKey: .batchSize)
        lr = try train.decode(Float.self, forKey: .lr)
        decoderLRScale = try train.decode(Float.self, forKey: .decoderLRScale)
        lrWarmupSteps = try train.decode(Int.self, forKey: .lrWarmupSteps)
        lrDecayFraction = try train.decode(Double.self, forKey: .lrDecayFraction)
        l1Coefficient = try train.decode(Float.self, forKey: .l1Coefficient)
        l1WarmupFraction = try train.decode(Double.self, forKey: .l1WarmupFraction)
        beta1 = try train.decode(Float.self, forKey: .beta1)
        beta2 = try train.decode(Float.self, forKey: .beta2)
        epsilon = try train.decode(Float.self, forKey: .epsilon)
        let clip = try train.decode(Float.self, forKey: .gradientClip)
        gradientClip = clip > 0 ? clip : nil  // 0 turns clipping off
        targetL0 = try train.decodeIfPresent(Double.self, forKey: .targetL0)
        validation = try ValidationSplit(from: root.superDecoder(forKey: .train))
        logEvery = try train.decode(Int.self, forKey: .logEvery)
        validateEvery = try train.decode(Int.self, forKey: .validateEvery)
        checkpointEvery = try train.decode(Int.self, forKey: .checkpointEvery)
        deadWindowTokens = try train.decode(Int.self, forKey: .deadWindowTokens)
        resampleEvery = try train.decode(Int.self, forKey: .resampleEvery)
        auxKCoefficient = try train.decode(Float.self, forKey: .auxKCoefficient)
        auxKDeadTokens = try train.decode(Int.self, forKey: .auxKDeadTokens)
        decoderGradientProjection = try train.decode(Bool.self, forKey: .decoderGradientProjection)
        kAnnealStart = try train.decode(Double.self, forKey: .kAnnealStart)
        kAnnealFraction = try train.decode(Double.self, forKey: .kAnnealFraction)
        snapshots = Array(Set(try train.decode([Int].self, forKey: .snapshots))).sorted()
        switch try train.decode(ComputeName.self, forKey: .compute) {
        case .auto: compute = .standard
        case .dense: compute = .dense
        case .sparse: compute = .sparse
        }
    }
}

/// Where the decoder bias starts (`sae.b_dec_init`).
public enum DecoderBiasInit: String, Sendable, Decodable {
    case zeros, mean
    case geometricMedian = "geometric_median"
}

/// The held-out split of an activation set (`train.validation_fraction`, `train.max_validation_rows`):
/// training and evaluation read it alike, so both see the same held-out windows.
public struct ValidationSplit: Sendable, Equatable, Decodable {
    public var fraction: Double
    public var maxRows: Int

    public init(fraction: Double, maxRows: Int) {
        self.fraction = fraction
        self.maxRows = maxRows
    }

    /// No rows held out (interpretation reads every row).
    public static let none = ValidationSplit(fraction: 0, maxRows: 1)

    enum CodingKeys: String, CodingKey { case fraction = "validation_fraction", maxRows = "max_validation_rows" }
}
