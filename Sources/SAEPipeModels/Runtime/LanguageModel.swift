import Foundation
import SAEPipeCore
import SAEPipeFormats

/// A causal language model loaded from a local HF directory or a GGUF file.
public struct LanguageModel: Sendable {
    /// The directory or file the model was read from.
    public let path: String
    public let dimensions: ModelDimensions
    /// "safetensors" or "gguf".
    public let format: String
    /// Floating-point element types of the stored weights, most frequent first.
    public let weightTypes: [(type: String, count: Int)]
    /// Parameters stored in the file (buffers such as rotary tables and masks excluded).
    public let parameterCount: Int
    let architecture: any DecoderArchitecture

    /// Loads the weights `scope` names (by default all of them).
    public static func load(_ path: String, scope: LoadScope = .everything) throws -> LanguageModel {
        if path.hasSuffix(".gguf") {
            guard FileSystem.exists(path) else {
                throw SAEPipeError.input("model file does not exist", file: path, hint: "check the path to the .gguf file")
            }
            return try load(gguf: GGUFFile(path: path), scope: scope)
        }
        guard FileSystem.isDirectory(path) else {
            throw SAEPipeError.input(
                "no model directory or .gguf file at this path", file: path,
                hint: "pass a local Hugging Face model directory, a .gguf file or a Hub id like ORG/NAME")
        }
        return try load(directory: path, scope: scope)
    }

    static func load(directory: String, scope: LoadScope) throws -> LanguageModel {
        let (data, object, configPath) = try ModelHeader.configJSON(directory: directory)
        let modelType = object["model_type"] as? String ?? ""
        let weights = try SafetensorsWeights(directory: directory)
        let architecture: any DecoderArchitecture
        do {
            switch modelType {
            case "gpt_neox":
                let config = try JSONDecoder().decode(GPTNeoXConfiguration.self, from: data)
                architecture = try GPTNeoX(config: config, weights: weights, scope: scope)
            case "llama":
                let config = try JSONDecoder().decode(LlamaConfiguration.self, from: data)
                architecture = try Llama(config: config, weights: weights, names: .transformers, scope: scope)
            default:
                throw SAEPipeError.input(
                    "model_type `\(modelType)` is not supported", key: "model_type", file: configPath,
                    hint: "saepipe runs gpt_neox (Pythia) and llama (SmolLM2, TinyLlama) models")
            }
        } catch let error as DecodingError {
            throw SAEPipeError.input("config.json: \(describe(error))", file: configPath)
        } catch var error as SAEPipeError {
            if error.file == nil { error.file = configPath }
            throw error
        }
        return LanguageModel(path: directory, format: "safetensors", weights: weights, architecture: architecture)
    }

    static func load(gguf: GGUFFile, scope: LoadScope) throws -> LanguageModel {
        let name = gguf.metadata["general.architecture"]?.string ?? "(missing)"
        guard name == "llama" else {
            throw SAEPipeError.input(
                "GGUF architecture `\(name)` is not supported", key: "general.architecture", file: gguf.path,
                hint: "saepipe runs llama-architecture GGUF files; use safetensors for GPT-NeoX models")
        }
        let architecture: Llama
        do {
            let config = try LlamaConfiguration(gguf: gguf)
            architecture = try Llama(config: config, weights: gguf, names: .llamaCpp, scope: scope)
        } catch var error as SAEPipeError {
            if error.file == nil { error.file = gguf.path }
            throw error
        }
        return LanguageModel(path: gguf.path, format: "gguf", weights: gguf, architecture: architecture)
    }

    private init(path: String, format: String, weights: some WeightSource, architecture: any DecoderArchitecture) {
        self.path = path
        self.format = format
        self.architecture = architecture
        dimensions = architecture.dimensions
        weightTypes = weights.typeCounts
        parameterCount = weights.parameters.reduce(0) { $0 + $1.elementCount }
    }

    /// W_U [vocab, d] (the embedding when tied), nil when loaded without it. The final norm
    /// is not part of it: direct logit attribution through it ignores that norm, as sae_vis does.
    public var unembedding: Linear? { architecture.unembedding }

    /// Runs the model on equal-length sequences: hooks, interventions, logits and NLL.
    public func forward(_ tokens: TokenBatch, _ request: ForwardRequest) throws -> ForwardResult {
        try architecture.forward(tokens, request)
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing key `\(key.stringValue)`"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.isEmpty ? "" : "`\(path)`: ")\(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
