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
        ConfigField("layers", .any, doc: "collect these layers' `stream` in one forward pass (`[0, 2, 4]` or `all`), each its own activation set; the SAEs read `layer`'s. A sweep over `model.layer` sets it to the swept layers, so it collects once"),
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

/// Which activation set a stage reads from its collect entry: with `model.layers` set, collect
/// wrote one set per layer under `layers/<layer>/` and the stage reads `model.layer`'s;
/// without it, the entry is the set. `model.layers` (and then `model.layer`) enter a stage's
/// config slice only when set, so configs without it keep their cache keys.
public struct ActivationSetChoice: Sendable, Equatable {
    public enum Layers: Sendable, Equatable {
        case all
        case list([Int])
    }

    public var layers: Layers?
    public var layer: Int

    /// `withLayer: false` is collect's reading: which layers to write, not which one a stage reads.
    public static func read(_ reader: ConfigReader, config: ConfigValue, withLayer: Bool = true) throws -> ActivationSetChoice {
        let layers: Layers?
        switch config[path: "model.layers"] {
        case .null:
            return ActivationSetChoice(layers: nil, layer: 0)
        case .string(let text):
            guard try reader.decode(String.self, at: "model.layers") == "all", text == "all" else {
                throw SAEPipeError.input("model.layers is `\(text)`", key: "model.layers", hint: "write `all` or a list of layer indices such as [0, 2, 4]")
            }
            layers = .all
        case .list:
            let list = try reader.decode([Int].self, at: "model.layers")
            guard !list.isEmpty, list.allSatisfy({ $0 >= 0 }), Set(list).count == list.count else {
                throw SAEPipeError.input("model.layers must list distinct layer indices, not \(list)", key: "model.layers",
                                         hint: "e.g. [0, 2, 4], or `all`")
            }
            layers = .list(list.sorted())
        default:
            throw SAEPipeError.input("model.layers must be `all` or a list of layer indices", key: "model.layers", hint: "e.g. [0, 2, 4]")
        }
        if config[path: "model.hook"] != .null {
            throw SAEPipeError.input("model.layers collects several layers of model.stream, but model.hook names a single hook", key: "model.layers",
                                     hint: "use model.layer and model.stream with model.layers, or drop model.layers")
        }
        guard withLayer else { return ActivationSetChoice(layers: layers, layer: -1) }
        let layer = try reader.decode(Int.self, at: "model.layer")
        if case .list(let list) = layers, !list.contains(layer) {
            throw SAEPipeError.input("model.layer \(layer) is not among model.layers \(list)", key: "model.layer",
                                     hint: "add \(layer) to model.layers, or choose one of them")
        }
        return ActivationSetChoice(layers: layers, layer: layer)
    }

    /// The layers to collect, for a model of `count` layers.
    public func collected(layerCount count: Int) throws -> [Int] {
        switch layers {
        case nil: return []
        case .all: return Array(0..<count)
        case .list(let list):
            if let beyond = list.first(where: { $0 >= count }) {
                throw SAEPipeError.input("model.layers lists layer \(beyond) but the model has \(count) (0–\(count - 1))", key: "model.layers")
            }
            return list
        }
    }

    public static func layerDirectory(_ layer: Int) -> String { "layers/\(layer)" }

    /// The activation set in collect entry `entry` this choice reads.
    public func directory(entry: String) throws -> String {
        guard layers != nil else { return entry }
        let directory = "\(entry)/\(Self.layerDirectory(layer))"
        guard FileSystem.exists("\(directory)/acts.mmap") else {
            throw SAEPipeError.input("collect wrote no activation set for model.layer \(layer)", file: entry,
                                     hint: "model.layer must be one of model.layers (and below the model's layer count)")
        }
        return directory
    }
}

