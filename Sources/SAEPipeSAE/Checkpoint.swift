import Foundation
import SAEPipeCore
import SAEPipeFormats

/// What the SAELens `cfg.json` records about where the SAE reads from.
public struct SAEProvenance: Sendable {
    public var modelName: String
    public var hookName: String
    public var hookLayer: Int
    public var contextSize: Int
    public var datasetPath: String
    public var prependBOS: Bool

    public init(modelName: String, hookName: String, hookLayer: Int, contextSize: Int, datasetPath: String, prependBOS: Bool) {
        self.modelName = modelName
        self.hookName = hookName
        self.hookLayer = hookLayer
        self.contextSize = contextSize
        self.datasetPath = datasetPath
        self.prependBOS = prependBOS
    }
}

/// SAELens' `cfg.json` (docs/formats.md), as saepipe writes and reads it.
public struct SAELensConfig: Codable, Sendable, Equatable {
    public static let fileName = "cfg.json"

    /// SAELens 6 reads provenance under `metadata`.
    public struct Metadata: Codable, Sendable, Equatable {
        public var modelName: String
        public var hookName: String
        @EncodedAsNull var hookHeadIndex: Int?
        var contextSize: Int
        var datasetPath: String
        var prependBOS: Bool
        @EncodedAsNull var saeLensTrainingVersion: String?
        var trainedWith: String?

        enum CodingKeys: String, CodingKey {
            case modelName = "model_name", hookName = "hook_name", hookHeadIndex = "hook_head_index", contextSize = "context_size"
            case datasetPath = "dataset_path", prependBOS = "prepend_bos", saeLensTrainingVersion = "sae_lens_training_version"
            case trainedWith = "trained_with"
        }
    }

    /// `standard` (ReLU), `topk` or `jumprelu`.
    public var architecture: String
    public var dIn: Int
    public var dSAE: Int
    public var dtype: String?
    public var device: String?
    public var applyBDecToInput: Bool?
    public var normalizeActivations: String?
    public var reshapeActivations: String?
    // Older SAELens releases read these at the top level.
    public var modelName: String?
    public var hookName: String?
    public var hookLayer: Int?
    @EncodedAsNull public var hookHeadIndex: Int?
    public var contextSize: Int?
    public var datasetPath: String?
    public var prependBOS: Bool?
    public var finetuningScalingFactor: Bool?
    public var metadata: Metadata?
    public var k: Int?

    init(_ p: SAEParameters, activation: SAEActivation, provenance: SAEProvenance) {
        architecture = activation == .relu ? "standard" : activation.name
        (dIn, dSAE, dtype, device) = (p.d, p.features, "float32", "cpu")
        (applyBDecToInput, normalizeActivations, reshapeActivations) = (true, p.inputNormalization.rawValue, "none")
        modelName = provenance.modelName
        hookName = provenance.hookName
        hookLayer = provenance.hookLayer
        hookHeadIndex = nil
        contextSize = provenance.contextSize
        datasetPath = provenance.datasetPath
        prependBOS = provenance.prependBOS
        finetuningScalingFactor = false
        metadata = Metadata(
            modelName: provenance.modelName, hookName: provenance.hookName, hookHeadIndex: nil, contextSize: provenance.contextSize,
            datasetPath: provenance.datasetPath, prependBOS: provenance.prependBOS, saeLensTrainingVersion: nil,
            trainedWith: "saepipe \(SAEPipeVersion.current)")
        if case .topK(let k) = activation { self.k = k }
    }

    /// `normalize_activations` as saepipe encodes with it: absent or `none`, or `layer_norm`.
    static func inputNormalization(_ name: String?, file: String) throws -> InputNormalization {
        guard let name, name != "none" else { return .none }
        guard let normalization = InputNormalization(rawValue: name) else {
            throw SAEPipeError.input(
                "cfg.json has normalize_activations \"\(name)\"; saepipe encodes raw activations (\"none\") or \"layer_norm\" ones",
                file: file, hint: "fold a constant scaling into the weights (SAELens folds it when it saves a finished SAE) and set it to \"none\"")
        }
        return normalization
    }

    enum CodingKeys: String, CodingKey {
        case architecture, dIn = "d_in", dSAE = "d_sae", dtype, device, applyBDecToInput = "apply_b_dec_to_input"
        case normalizeActivations = "normalize_activations", reshapeActivations = "reshape_activations", modelName = "model_name"
        case hookName = "hook_name", hookLayer = "hook_layer", hookHeadIndex = "hook_head_index", contextSize = "context_size"
        case datasetPath = "dataset_path", prependBOS = "prepend_bos", finetuningScalingFactor = "finetuning_scaling_factor"
        case metadata, k
    }
}

/// SAELens-compatible checkpoints (`cfg.json` + `sae_weights.safetensors`) and the
/// training state that lets an interrupted run resume exactly.
public enum SAECheckpoint {
    /// Writes a SAELens directory for weights that act on raw (unscaled) activations.
    public static func writeSAELens(
        _ p: SAEParameters, activation: SAEActivation, provenance: SAEProvenance, to directory: String
    ) throws {
        var writer = SafetensorsWriter()
        writer.add("W_enc", float32: p.wEnc, shape: [p.d, p.features])
        writer.add("W_dec", float32: p.wDec, shape: [p.features, p.d])
        writer.add("b_enc", float32: p.bEnc, shape: [p.features])
        writer.add("b_dec", float32: p.bDec, shape: [p.d])
        if case .jumpReLU = activation {
            writer.add("threshold", float32: p.threshold, shape: [p.features])
        }
        try FileSystem.createDirectory(directory)
        try writer.write(to: "\(directory)/sae_weights.safetensors")
        try JSONFile.write(SAELensConfig(p, activation: activation, provenance: provenance), to: "\(directory)/\(SAELensConfig.fileName)")
    }

    /// SAELens' `sparsity.safetensors`: `sparsity` [d_sae], log10 of each feature's firing
    /// frequency (plus 1e-10, as SAELens adds, so a silent feature is −10).
    public static let sparsityFile = "sparsity.safetensors"

    public static func writeSparsity(frequencies: [Double], to directory: String) throws {
        var writer = SafetensorsWriter()
        writer.add("sparsity", float32: frequencies.map { Float(log10($0 + 1e-10)) }, shape: [frequencies.count])
        try writer.write(to: "\(directory)/\(sparsityFile)")
    }

    /// Firing frequencies back from a directory's sparsity.safetensors (−10, a silent feature, is 0;
    /// the rarest feature that fires at all on a few thousand rows is far above −9).
    public static func readSparsity(_ directory: String) throws -> [Double] {
        let path = "\(directory)/\(sparsityFile)"
        guard let tensor = try SafetensorsFile(path: path).tensors["sparsity"] else {
            throw SAEPipeError.input("\(sparsityFile) lacks the `sparsity` tensor", file: path)
        }
        return try tensor.floats().map { $0 > -9 ? pow(10, Double($0)) : 0 }
    }

    /// Reads a SAELens directory back (weights on raw activations).
    public static func readSAELens(_ directory: String) throws -> (SAEParameters, SAEActivation) {
        let configPath = "\(directory)/\(SAELensConfig.fileName)"
        let config = try JSONFile.read(SAELensConfig.self, from: configPath, hint: "a SAELens checkpoint has cfg.json with d_in and d_sae")
        let (d, features) = (config.dIn, config.dSAE)
        let weights = try SafetensorsFile(path: "\(directory)/sae_weights.safetensors")
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let view = weights.tensors[name], view.shape == shape else {
                throw SAEPipeError.input("sae_weights.safetensors lacks \(name) \(shape)", file: directory)
            }
            return try view.floats()
        }
        var activation = SAEActivation.relu
        var threshold: [Float] = []
        switch config.architecture {
        case "topk":
            guard let k = config.k else { throw SAEPipeError.input("a topk cfg.json needs `k`", file: configPath) }
            activation = .topK(k)
        case "jumprelu":
            activation = .jumpReLU(bandwidth: SAEActivation.inferenceBandwidth)
            threshold = try tensor("threshold", [features])
        default: break
        }
        var parameters = SAEParameters(d: d, features: features, wEnc: try tensor("W_enc", [d, features]), bEnc: try tensor("b_enc", [features]),
                                       wDec: try tensor("W_dec", [features, d]), bDec: try tensor("b_dec", [d]), threshold: threshold)
        parameters.inputNormalization = try SAELensConfig.inputNormalization(config.normalizeActivations, file: configPath)
        return (parameters, activation)
    }

    /// Undoes the input scaling: an SAE trained on s·x becomes one that reads x directly
    /// (same feature activations; reconstructions in raw units).
    public static func foldScale(_ p: SAEParameters, scale: Float) -> SAEParameters {
        var raw = p
        // Folding leaves the normalization, which the scale followed, in place.
        raw.wEnc = p.wEnc.map { $0 * scale }
        raw.wDec = p.wDec.map { $0 / scale }
        raw.bDec = p.bDec.map { $0 / scale }
        return raw
    }
}

/// Everything an interrupted run needs to continue bit for bit.
public struct TrainingState: Sendable, Equatable {
    public var parameters: SAEParameters
    public var adam: Adam
    public var order: BatchOrder
    public var step: Int
    public var lambda: Float
    public var l0Average: Double
    /// Tokens since each feature last fired.
    public var tokensSinceFired: [Int32]
    public var scale: Float
    /// BatchTopK's encoding threshold so far (0 before the first step and for other activations).
    public var batchThreshold: Double = 0
    /// metrics.csv rows so far.
    public var metrics: [String]

    static let stateFile = "training_state.safetensors"
    static let infoFile = "training_state.json"

    public func write(to directory: String) throws {
        try FileSystem.replaceDirectory(at: directory) { temporary in
            var writer = SafetensorsWriter()
            for name in parameters.tensorNames {
                let values = parameters[name]
                writer.add(name, float32: values, shape: [values.count])
                writer.add("adam.m.\(name)", float32: adam.first?[name] ?? [Float](repeating: 0, count: values.count), shape: [values.count])
                writer.add("adam.v.\(name)", float32: adam.second?[name] ?? [Float](repeating: 0, count: values.count), shape: [values.count])
        }
        writer.add("tokens_since_fired", int32: tokensSinceFired, shape: [tokensSinceFired.count])
        try writer.write(to: "\(temporary)/\(Self.stateFile)")
        let info = Info(
            step: step, epoch: order.epoch, offset: order.offset, orderSeed: String(order.seed), lambdaBits: lambda.bitPattern,
            l0AverageBits: String(l0Average.bitPattern), scaleBits: scale.bitPattern, adamStep: adam.step, d: parameters.d,
            features: parameters.features, metrics: metrics, batchThresholdBits: String(batchThreshold.bitPattern))
        try JSONFile.write(info, to: "\(temporary)/\(Self.infoFile)", pretty: false)
        }
    }

    /// `training_state.json`: the counters beside the tensors. 64-bit patterns are strings, since JSON numbers are doubles.
    struct Info: Codable {
        var step: Int
        var epoch: Int
        var offset: Int
        var orderSeed: String
        var lambdaBits: UInt32
        var l0AverageBits: String
        var scaleBits: UInt32
        var adamStep: Int
        var d: Int
        var features: Int
        var metrics: [String]
        var batchThresholdBits: String?

        enum CodingKeys: String, CodingKey {
            case step, epoch, offset, orderSeed = "order_seed", lambdaBits = "lambda_bits", l0AverageBits = "l0_average_bits"
            case scaleBits = "scale_bits", adamStep = "adam_step", d, features, metrics, batchThresholdBits = "batch_threshold_bits"
        }
    }

    public static func read(from directory: String, settings: TrainSettings) throws -> TrainingState? {
        guard FileSystem.exists("\(directory)/\(infoFile)") else { return nil }
        let hint = "delete \(directory) to start the training over"
        let info = try JSONFile.read(Info.self, from: "\(directory)/\(infoFile)", hint: hint)
        guard let seed = UInt64(info.orderSeed), let l0Bits = UInt64(info.l0AverageBits),
              let thresholdBits = UInt64(info.batchThresholdBits ?? "0") else {
            throw SAEPipeError.input("training state is unreadable", file: "\(directory)/\(infoFile)", hint: hint)
        }
        let (step, epoch, offset, d, features, adamStep) = (info.step, info.epoch, info.offset, info.d, info.features, info.adamStep)
        let (lambdaBits, scaleBits) = (info.lambdaBits, info.scaleBits)
        let tensors = try SafetensorsFile(path: "\(directory)/\(stateFile)")
        var parameters = SAEParameters(d: d, features: features, wEnc: [], bEnc: [], wDec: [], bDec: [],
                                       threshold: tensors.tensors["threshold"] == nil ? [] : [0])
        var adam = Adam(beta1: settings.beta1, beta2: settings.beta2, epsilon: settings.epsilon)
        adam.step = adamStep
        var first = parameters, second = parameters
        for name in parameters.tensorNames {
            guard let values = tensors.tensors[name], let m = tensors.tensors["adam.m.\(name)"], let v = tensors.tensors["adam.v.\(name)"] else {
                throw SAEPipeError.input("training state lacks \(name)", file: directory)
            }
            parameters[name] = try values.floats()
            first[name] = try m.floats()
            second[name] = try v.floats()
        }
        if adamStep > 0 {
            adam.first = first
            adam.second = second
        }
        let fired = try tensors.tensors["tokens_since_fired"]?.integers().map { Int32($0) } ?? []
        return TrainingState(
            parameters: parameters, adam: adam, order: BatchOrder(seed: seed, epoch: epoch, offset: offset), step: step,
            lambda: Float(bitPattern: lambdaBits), l0Average: Double(bitPattern: l0Bits), tokensSinceFired: fired,
            scale: Float(bitPattern: scaleBits), batchThreshold: Double(bitPattern: thresholdBits), metrics: info.metrics)
    }
}
