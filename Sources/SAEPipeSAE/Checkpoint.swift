import Foundation
import SAEPipeCore
import SAEPipeModels

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
            writer.add("threshold", float32: p.logThreshold.map { Foundation.exp($0) }, shape: [p.features])
        }
        try FileSystem.createDirectory(directory)
        try writer.write(to: "\(directory)/sae_weights.safetensors")
        var config: [String: Any] = [
            "architecture": activation == .relu ? "standard" : activation.name,
            "d_in": p.d, "d_sae": p.features, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": true, "normalize_activations": "none", "reshape_activations": "none",
            // Older SAELens releases read these at the top level; newer ones under metadata.
            "model_name": provenance.modelName, "hook_name": provenance.hookName, "hook_layer": provenance.hookLayer,
            "hook_head_index": NSNull(), "context_size": provenance.contextSize, "dataset_path": provenance.datasetPath,
            "prepend_bos": provenance.prependBOS, "finetuning_scaling_factor": false,
            "metadata": [
                "model_name": provenance.modelName, "hook_name": provenance.hookName, "hook_head_index": NSNull(),
                "context_size": provenance.contextSize, "dataset_path": provenance.datasetPath,
                "prepend_bos": provenance.prependBOS, "sae_lens_training_version": NSNull(),
                "trained_with": "saepipe \(SAEPipeVersion.current)",
            ] as [String: Any],
        ]
        if case .topK(let k) = activation { config["k"] = k }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try FileSystem.writeAtomically(data, to: "\(directory)/cfg.json")
    }

    /// Reads a SAELens directory back (weights on raw activations).
    public static func readSAELens(_ directory: String) throws -> (SAEParameters, SAEActivation) {
        let configPath = "\(directory)/cfg.json"
        guard let data = FileManager.default.contents(atPath: configPath),
            let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let d = config["d_in"] as? Int, let features = config["d_sae"] as? Int
        else { throw SAEPipeError.input("not a SAELens cfg.json (needs d_in, d_sae)", file: configPath) }
        let weights = try SafetensorsFile(path: "\(directory)/sae_weights.safetensors")
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let view = weights.tensors[name], view.shape == shape else {
                throw SAEPipeError.input("sae_weights.safetensors lacks \(name) \(shape)", file: directory)
            }
            return try view.floats()
        }
        var activation = SAEActivation.relu
        var logThreshold: [Float] = []
        switch config["architecture"] as? String {
        case "topk": activation = .topK(config["k"] as? Int ?? 32)
        case "jumprelu":
            activation = .jumpReLU(bandwidth: 0.001)
            logThreshold = try tensor("threshold", [features]).map { Foundation.log($0) }
        default: break
        }
        return (SAEParameters(d: d, features: features, wEnc: try tensor("W_enc", [d, features]), bEnc: try tensor("b_enc", [features]),
                              wDec: try tensor("W_dec", [features, d]), bDec: try tensor("b_dec", [d]), logThreshold: logThreshold),
                activation)
    }

    /// Undoes the input scaling: an SAE trained on s·x becomes one that reads x directly
    /// (same feature activations; reconstructions in raw units).
    public static func foldScale(_ p: SAEParameters, scale: Float) -> SAEParameters {
        var raw = p
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
    /// metrics.csv rows so far.
    public var metrics: [String]

    static let stateFile = "training_state.safetensors"
    static let infoFile = "training_state.json"

    public func write(to directory: String) throws {
        let temporary = directory + ".tmp-\(getpid())"
        FileSystem.remove(temporary)
        try FileSystem.createDirectory(temporary)
        var writer = SafetensorsWriter()
        for name in parameters.tensorNames {
            let values = parameters[name]
            writer.add(name, float32: values, shape: [values.count])
            writer.add("adam.m.\(name)", float32: adam.first?[name] ?? [Float](repeating: 0, count: values.count), shape: [values.count])
            writer.add("adam.v.\(name)", float32: adam.second?[name] ?? [Float](repeating: 0, count: values.count), shape: [values.count])
        }
        writer.add("tokens_since_fired", int32: tokensSinceFired, shape: [tokensSinceFired.count])
        try writer.write(to: "\(temporary)/\(Self.stateFile)")
        let info: [String: Any] = [
            "step": step, "epoch": order.epoch, "offset": order.offset, "order_seed": String(order.seed),
            "lambda_bits": lambda.bitPattern, "l0_average_bits": String(l0Average.bitPattern), "scale_bits": scale.bitPattern,
            "adam_step": adam.step, "d": parameters.d, "features": parameters.features, "metrics": metrics,
        ]
        try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys]).write(to: URL(fileURLWithPath: "\(temporary)/\(Self.infoFile)"))
        FileSystem.remove(directory)
        try FileSystem.rename(from: temporary, to: directory)
    }

    public static func read(from directory: String, settings: TrainSettings) throws -> TrainingState? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/\(infoFile)") else { return nil }
        guard let info = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let step = info["step"] as? Int, let epoch = info["epoch"] as? Int, let offset = info["offset"] as? Int,
            let seed = (info["order_seed"] as? String).flatMap(UInt64.init), let d = info["d"] as? Int,
            let features = info["features"] as? Int, let lambdaBits = info["lambda_bits"] as? UInt32,
            let l0Bits = (info["l0_average_bits"] as? String).flatMap(UInt64.init), let scaleBits = info["scale_bits"] as? UInt32,
            let adamStep = info["adam_step"] as? Int
        else { throw SAEPipeError.input("training state is unreadable", file: "\(directory)/\(infoFile)",
                                        hint: "delete \(directory) to start the training over") }
        let tensors = try SafetensorsFile(path: "\(directory)/\(stateFile)")
        var parameters = SAEParameters(d: d, features: features, wEnc: [], bEnc: [], wDec: [], bDec: [],
                                       logThreshold: tensors.tensors["log_threshold"] == nil ? [] : [0])
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
            scale: Float(bitPattern: scaleBits), metrics: info["metrics"] as? [String] ?? [])
    }
}
