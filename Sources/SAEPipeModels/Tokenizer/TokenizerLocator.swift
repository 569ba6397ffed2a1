import Foundation
import SAEPipeCore
import SAEPipeFormats

extension Tokenizer {
    /// The tokenizer of a model given as a local HF directory (tokenizer.json) or a .gguf file.
    public static func load(model: String) throws -> Tokenizer {
        if model.hasSuffix(".gguf") {
            guard FileSystem.exists(model) else {
                throw SAEPipeError.input("model file does not exist", file: model, hint: "check the path to the .gguf file")
            }
            return try load(gguf: try GGUFFile(path: model))
        }
        if FileSystem.isDirectory(model) {
            let path = "\(model)/tokenizer.json"
            guard FileSystem.exists(path) else {
                throw SAEPipeError.input("model directory has no tokenizer.json", file: model,
                                         hint: "download the model's tokenizer.json next to its weights")
            }
            return try load(tokenizerJSON: path)
        }
        throw SAEPipeError.input(
            "no model directory or .gguf file at this path", file: model,
            hint: "pass a local Hugging Face model directory or a .gguf file")
    }
}
