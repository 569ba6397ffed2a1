import Foundation
import SAEPipeCore
import SAEPipeFormats

/// Reads an SAE trained elsewhere from a SAELens-format directory (`cfg.json` +
/// `sae_weights.safetensors`) into saepipe's form: weights on raw activations, the input
/// centred by b_dec, activations as saepipe encodes them. Untrusted: every field is checked.
public enum SAELensImport {
    /// The cfg.json fields an import reads; SAELens writes many more, which are ignored.
    struct ForeignConfig: Decodable {
        var architecture: String
        var dIn: Int
        var dSAE: Int
        var applyBDecToInput: Bool?
        var normalizeActivations: String?
        var rescaleActsByDecoderNorm: Bool?
        var k: Double?
        var hookName: String?
        var metadata: Metadata?

        struct Metadata: Decodable {
            var hookName: String?
            var modelName: String?
            enum CodingKeys: String, CodingKey { case hookName = "hook_name", modelName = "model_name" }
        }

        enum CodingKeys: String, CodingKey {
            case architecture, dIn = "d_in", dSAE = "d_sae", applyBDecToInput = "apply_b_dec_to_input"
            case normalizeActivations = "normalize_activations", rescaleActsByDecoderNorm = "rescale_acts_by_decoder_norm", k
            case hookName = "hook_name", metadata
        }
    }

    public struct Imported: Sendable {
        public var parameters: SAEParameters
        public var activation: SAEActivation
        /// The architecture as cfg.json names it.
        public var architecture: String
        /// Where the SAE says it reads from (cfg.json's hook_name), if it says.
        public var hookName: String?
        public var modelName: String?
    }

    /// Files in a directory that hold pickled weights, which saepipe never loads.
    static let pickleSuffixes = [".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt"]
    /// Largest SAE accepted: d_in × d_sae weights per matrix.
    static let maximumWeights = 1 << 31

    public static func read(_ directory: String) throws -> Imported {
        let configPath = "\(directory)/cfg.json", weightsPath = "\(directory)/sae_weights.safetensors"
        guard FileSystem.exists(configPath), FileSystem.exists(weightsPath) else {
            let pickles = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { name in pickleSuffixes.contains { name.hasSuffix($0) } }
            let hint = pickles.isEmpty
                ? "a SAELens SAE directory holds cfg.json and sae_weights.safetensors (sae.save_model(DIR) writes them)"
                : "saepipe does not load pickled weights (\(pickles.sorted().joined(separator: ", "))); in Python, load them and call sae.save_model(DIR) to write safetensors"
            throw SAEPipeError.input("\(directory) is not a SAELens SAE directory: it lacks cfg.json or sae_weights.safetensors",
                                     file: directory, hint: hint)
        }
        let configData: Data
        do { configData = try Data(contentsOf: URL(fileURLWithPath: configPath)) } catch {
            throw SAEPipeError.fromSystem(error, operation: "read", path: configPath)
        }
        return try decode(config: configData, weights: try SafetensorsFile(path: weightsPath), configPath: configPath, weightsPath: weightsPath)
    }

    /// Checks and converts a cfg.json's bytes and its weights (the paths only name them in errors).
    public static func decode(config configData: Data, weights: SafetensorsFile, configPath: String, weightsPath: String) throws -> Imported {
        let config: ForeignConfig
        do { config = try JSONDecoder().decode(ForeignConfig.self, from: configData) } catch {
            throw SAEPipeError.input("cfg.json is not a SAELens config: \(error.localizedDescription)", file: configPath,
                                     hint: "cfg.json needs architecture, d_in and d_sae")
        }
        let (d, features) = (config.dIn, config.dSAE)
        let (count, overflow) = d.multipliedReportingOverflow(by: features)
        guard d > 0, features > 0, !overflow, count <= maximumWeights else {
            throw SAEPipeError.input("cfg.json gives d_in \(d) and d_sae \(features); saepipe takes 1 to \(maximumWeights) weights per matrix",
                                     file: configPath)
        }
        let normalization = try SAELensConfig.inputNormalization(config.normalizeActivations, file: configPath)
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let view = weights.tensors[name] else {
                throw SAEPipeError.input("sae_weights.safetensors lacks \(name)", file: weightsPath)
            }
            guard view.shape == shape else {
                throw SAEPipeError.input("sae_weights.safetensors has \(name) of shape \(view.shape), cfg.json implies \(shape)", file: weightsPath)
            }
            let values = try view.floats()
            guard values.allSatisfy(\.isFinite) else { throw SAEPipeError.input("\(name) holds NaN or infinite values", file: weightsPath) }
            return values
        }
        var parameters = SAEParameters(d: d, features: features, wEnc: try tensor("W_enc", [d, features]), bEnc: try tensor("b_enc", [features]),
                                       wDec: try tensor("W_dec", [features, d]), bDec: try tensor("b_dec", [d]))
        parameters.inputNormalization = normalization
        let activation: SAEActivation
        switch config.architecture {
        case "standard":
            activation = .relu
        case "topk":
            guard let k = config.k, k >= 1, k <= Double(features), k == k.rounded() else {
                throw SAEPipeError.input("a topk cfg.json needs a whole k between 1 and d_sae (\(features)), got \(config.k.map { "\($0)" } ?? "none")",
                                         file: configPath)
            }
            activation = .topK(Int(k))
        case "jumprelu", "batchtopk":
            // SAELens saves a trained BatchTopK as a JumpReLU; a batchtopk cfg with a threshold encodes the same way.
            parameters.threshold = try tensor("threshold", [features])
            activation = .jumpReLU(bandwidth: SAEActivation.inferenceBandwidth)
        default:
            throw SAEPipeError.input("cfg.json's architecture \"\(config.architecture)\" is not one saepipe encodes with",
                                     file: configPath, hint: "standard, topk, batchtopk and jumprelu are")
        }
        if config.rescaleActsByDecoderNorm == true { foldDecoderNorms(&parameters) }
        // saepipe always encodes x − b_dec: without that, b_enc absorbs b_dec · W_enc.
        if config.applyBDecToInput == false {
            for i in 0..<features {
                var shift: Float = 0
                for j in 0..<d { shift += parameters.bDec[j] * parameters.wEnc[j * features + i] }
                parameters.bEnc[i] += shift
            }
        }
        return Imported(parameters: parameters, activation: activation, architecture: config.architecture,
                        hookName: config.metadata?.hookName ?? config.hookName, modelName: config.metadata?.modelName)
    }

    /// SAELens' `rescale_acts_by_decoder_norm` (pre-activations times ‖W_dec,i‖, outputs divided
    /// by it) folded into the weights: the same features and reconstructions with unit-norm rows.
    static func foldDecoderNorms(_ p: inout SAEParameters) {
        let norms = p.decoderNorms()
        for i in 0..<p.features where norms[i] > 0 {
            for j in 0..<p.d {
                p.wEnc[j * p.features + i] *= norms[i]
                p.wDec[i * p.d + j] /= norms[i]
            }
            p.bEnc[i] *= norms[i]
        }
    }
}
