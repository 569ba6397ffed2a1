import Foundation
import SAEPipeCore
import SAEPipeFormats

/// What a model's header says without loading any weights: enough to check a config
/// (architecture supported, layer in range) before any work starts.
public struct ModelHeader: Sendable, Equatable {
    /// `gpt_neox` or `llama`.
    public var architecture: String
    public var layerCount: Int
    /// The file the numbers were read from (config.json or the .gguf).
    public var source: String

    public static let supportedArchitectures = ["gpt_neox", "llama"]

    /// Reads a model directory's config.json or a GGUF file's metadata.
    public static func read(_ path: String) throws -> ModelHeader {
        if path.hasSuffix(".gguf") {
            guard FileSystem.isRegularFile(path) else {
                throw SAEPipeError.input("model file does not exist", file: path, hint: "check the path to the .gguf file")
            }
            let gguf = try GGUFFile(path: path)
            let name = gguf.metadata["general.architecture"]?.string ?? "(missing)"
            guard name == "llama" else {
                throw SAEPipeError.input(
                    "GGUF architecture `\(name)` is not supported", file: path,
                    hint: "saepipe runs llama-architecture GGUF files; use safetensors for GPT-NeoX models")
            }
            guard let layers = gguf.metadata["llama.block_count"]?.int, layers > 0 else {
                throw SAEPipeError.input("the GGUF metadata has no positive `llama.block_count`", file: path)
            }
            return ModelHeader(architecture: name, layerCount: layers, source: path)
        }
        guard FileSystem.isDirectory(path) else {
            throw SAEPipeError.input(
                "no model directory or .gguf file at this path", file: path,
                hint: "pass a local Hugging Face model directory, a .gguf file or a Hub id like ORG/NAME")
        }
        let (_, object, configPath) = try configJSON(directory: path)
        let modelType = object["model_type"] as? String ?? "(missing)"
        guard supportedArchitectures.contains(modelType) else {
            throw SAEPipeError.input(
                "model_type `\(modelType)` is not supported", file: configPath,
                hint: "saepipe runs gpt_neox (Pythia) and llama (SmolLM2, TinyLlama) models")
        }
        guard let layers = object["num_hidden_layers"].flatMap(exactInteger), layers > 0 else {
            throw SAEPipeError.input("config.json has no positive integer `num_hidden_layers`", file: configPath)
        }
        return ModelHeader(architecture: modelType, layerCount: layers, source: configPath)
    }

    /// A model directory's config.json: its bytes, its top-level object and its path.
    static func configJSON(directory: String) throws -> (data: Data, object: [String: Any], path: String) {
        let configPath = "\(directory)/config.json"
        guard FileSystem.isRegularFile(configPath), let data = FileManager.default.contents(atPath: configPath) else {
            throw SAEPipeError.input("model directory has no readable config.json", file: directory,
                                     hint: "download config.json next to the weights")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SAEPipeError.input("config.json is not a JSON object", file: configPath)
        }
        return (data, object, configPath)
    }
}
