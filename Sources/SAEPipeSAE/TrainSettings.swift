import Foundation
import SAEPipeCore

/// Everything that shapes a training run, read from the `sae` and `train` config sections.
public struct TrainSettings: Sendable, Equatable {
    public var expansion: Int = 8
    public var dSAE: Int?
    public var activation: SAEActivation = .relu
    public var form: SparsityForm = .unitNormDecoder
    public var jumpReLUInitialThreshold: Float = 0.001
    public var normalizeActivations = true
    public var decoderInitNorm: Float = 0.1

    public var tokens: Int = 2_000_000
    public var epochs: Double?
    public var batchSize = 1024
    public var lr: Float = 4e-4
    public var lrWarmupSteps = 100
    public var lrDecayFraction: Double = 0.2
    public var l1Coefficient: Float = 3
    public var l1WarmupFraction: Double = 0.05
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var gradientClip: Float? = 1
    public var targetL0: Double?
    public var validationFraction: Double = 0.05
    public var maxValidationRows = 8192
    public var logEvery = 10
    public var validateEvery = 0
    public var checkpointEvery = 100
    public var deadWindowTokens = 1_000_000
    public var resampleEvery = 0
    public var seed: UInt64 = 0
    public var compute: ComputeMode = .standard

    public init() {}

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

    /// The sparsity coefficient ramps up linearly over the first `l1WarmupFraction` of steps.
    public func lambdaFactor(step: Int, total: Int) -> Float {
        let warmup = Int(Double(total) * l1WarmupFraction)
        return warmup > 0 && step < warmup ? Float(step + 1) / Float(warmup) : 1
    }

    public static func fromConfig(_ config: ConfigValue) -> TrainSettings {
        var s = TrainSettings()
        let sae = config["sae"], train = config["train"]
        s.expansion = sae["expansion"].intValue ?? s.expansion
        s.dSAE = sae["d_sae"].intValue
        switch sae["activation"].stringValue ?? "relu" {
        case "topk": s.activation = .topK(sae["k"].intValue ?? 32)
        case "jumprelu": s.activation = .jumpReLU(bandwidth: Float(sae["jumprelu_bandwidth"].doubleValue ?? 0.001))
        default: s.activation = .relu
        }
        s.form = SparsityForm(rawValue: sae["sparsity"].stringValue ?? "") ?? .unitNormDecoder
        s.jumpReLUInitialThreshold = Float(sae["jumprelu_init_threshold"].doubleValue ?? 0.001)
        s.normalizeActivations = sae["normalize_activations"].boolValue ?? true
        s.decoderInitNorm = Float(sae["decoder_init_norm"].doubleValue ?? 0.1)
        s.tokens = train["tokens"].intValue ?? s.tokens
        s.epochs = train["epochs"].doubleValue
        s.batchSize = train["batch_size"].intValue ?? s.batchSize
        s.lr = Float(train["lr"].doubleValue ?? Double(s.lr))
        s.lrWarmupSteps = train["lr_warmup_steps"].intValue ?? s.lrWarmupSteps
        s.lrDecayFraction = train["lr_decay_fraction"].doubleValue ?? s.lrDecayFraction
        s.l1Coefficient = Float(train["l1_coefficient"].doubleValue ?? Double(s.l1Coefficient))
        s.l1WarmupFraction = train["l1_warmup_fraction"].doubleValue ?? s.l1WarmupFraction
        s.beta1 = Float(train["adam_beta1"].doubleValue ?? 0.9)
        s.beta2 = Float(train["adam_beta2"].doubleValue ?? 0.999)
        s.epsilon = Float(train["adam_epsilon"].doubleValue ?? 1e-8)
        s.gradientClip = train["grad_clip"].doubleValue.map(Float.init).flatMap { $0 > 0 ? $0 : nil }
        s.targetL0 = train["target_l0"].doubleValue
        s.validationFraction = train["validation_fraction"].doubleValue ?? s.validationFraction
        s.maxValidationRows = train["max_validation_rows"].intValue ?? s.maxValidationRows
        s.logEvery = train["log_every"].intValue ?? s.logEvery
        s.validateEvery = train["validate_every"].intValue ?? s.validateEvery
        s.checkpointEvery = train["checkpoint_every"].intValue ?? s.checkpointEvery
        s.deadWindowTokens = train["dead_window_tokens"].intValue ?? s.deadWindowTokens
        s.resampleEvery = train["resample_every"].intValue ?? s.resampleEvery
        s.seed = UInt64(config["seed"].intValue ?? 0)
        switch train["compute"].stringValue ?? "auto" {
        case "dense": s.compute = .dense
        case "sparse": s.compute = .sparse
        default: s.compute = .standard
        }
        return s
    }
}
