import SAEPipeCore
import SAEPipeModels

/// The `model` section: the language model and the activation the SAEs read.
public struct ModelSettings: Sendable, Decodable, Equatable {
    /// The quickstart model, fetched by scripts/fetch-quickstart-model.sh.
    public static let defaultName = "artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    public static let configField = ConfigField("model", .section(ConfigSection([
        ConfigField("name", .string, default: .string(defaultName),
                    doc: "a model directory, a .gguf file, or a Hub id ORG/NAME[@REV]"),
        ConfigField("layer", .int(0...1000), default: .int(3), doc: "the block whose activations are collected"),
        ConfigField("stream", .choice(["mlp_output", "attn_output", "resid_post", "resid_pre"]),
                    default: .string("mlp_output"), doc: "which activation of the block"),
        ConfigField("hook", .string, doc: "a hook name instead of layer/stream: layers.3.mlp_out or blocks.3.hook_mlp_out"),
    ])), doc: "the language model and the activation the SAEs read")

    /// A model directory, a .gguf file, or a Hub id.
    public var name: String
    public var layer: Int
    /// `mlp_output`, `attn_output`, `resid_post` or `resid_pre` (the schema's choices).
    public var stream: String
    /// A hook name that replaces layer and stream.
    public var hook: String?

    public static func read(_ reader: ConfigReader) throws -> ModelSettings { try reader.decode(ModelSettings.self, at: "model") }

    /// The hook the settings name.
    public func hookPoint() throws -> HookPoint {
        if let hook {
            do { return try HookPoint(parsing: hook) } catch var error as SAEPipeError {
                error.keyPath = "model.hook"
                throw error
            }
        }
        guard let site = HookSite(stream: stream) else {
            throw SAEPipeError.input("`\(stream)` is not a stream", key: "model.stream")
        }
        return HookPoint(layer: layer, site: site)
    }
}
