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

/// Which activation set a stage reads from its collect entry: with `model.layers` (or
/// `sae.layers`) set, collect wrote one set per layer under `layers/<layer>/` and a stage reads
/// `model.layer`'s, while a multi-layer SAE (`sae.layers`) trains on all of its layers' sets;
/// without them, the entry is the set. These keys (and then `model.layer`) enter a stage's
/// config slice only when set, so configs without them keep their cache keys.
public struct ActivationSetChoice: Sendable, Equatable {
    public enum Layers: Sendable, Equatable {
        case all
        case list([Int])

        func union(_ other: Layers?) -> Layers {
            switch (self, other) {
            case (_, nil): return self
            case (.all, _), (_, .all?): return .all
            case (.list(let a), .list(let b)?): return .list(Array(Set(a + b)).sorted())
            }
        }
    }

    /// The layers collect writes (`model.layers` and `sae.layers` together).
    public var layers: Layers?
    /// The layers a multi-layer SAE trains on (`sae.layers`), nil for a one-layer SAE.
    public var trainedLayers: Layers? = nil
    public var layer: Int

    /// The streams a multi-layer SAE may read: every layer's residual stream lives in one space.
    public static let multiLayerStreams = ["resid_post", "resid_pre"]

    /// `withLayer: false` is collect's reading: which layers to write, not which one a stage reads.
    public static func read(_ reader: ConfigReader, config: ConfigValue, withLayer: Bool = true) throws -> ActivationSetChoice {
        let collected = try parse(reader, config: config, key: "model.layers")
        let trained = try parse(reader, config: config, key: "sae.layers")
        if let trained {
            let stream = try reader.decode(String.self, at: "model.stream")
            guard multiLayerStreams.contains(stream) else {
                throw SAEPipeError.input("sae.layers trains one SAE on several layers' residual streams, but model.stream is \(stream)",
                                         key: "sae.layers", hint: "set model.stream: resid_post (every layer's output, as Lawson et al. 2024), or drop sae.layers")
            }
            if case .list(let list) = trained, list.count < 2 {
                throw SAEPipeError.input("sae.layers lists one layer; a multi-layer SAE needs two or more", key: "sae.layers",
                                         hint: "list several layers or write `all`; for one layer, use model.layer alone")
            }
        }
        guard let layers = trained.map({ $0.union(collected) }) ?? collected else { return ActivationSetChoice(layers: nil, layer: 0) }
        if config[path: "model.hook"] != .null {
            throw SAEPipeError.input("model.layers and sae.layers read several layers of model.stream, but model.hook names a single hook",
                                     key: trained == nil ? "model.layers" : "sae.layers",
                                     hint: "use model.layer and model.stream with them, or drop them")
        }
        guard withLayer else { return ActivationSetChoice(layers: layers, trainedLayers: trained, layer: -1) }
        let layer = try reader.decode(Int.self, at: "model.layer")
        if case .list(let list) = layers, !list.contains(layer) {
            let key = collected == nil ? "sae.layers" : "model.layers"
            throw SAEPipeError.input("model.layer \(layer) is not among the layers collected (\(list))", key: "model.layer",
                                     hint: "add \(layer) to \(key), or choose one of them")
        }
        return ActivationSetChoice(layers: layers, trainedLayers: trained, layer: layer)
    }

    /// `all`, a list of distinct layer indices, or nil when `key` is unset.
    static func parse(_ reader: ConfigReader, config: ConfigValue, key: String) throws -> Layers? {
        switch config[path: key] {
        case .null:
            return nil
        case .string(let text):
            guard try reader.decode(String.self, at: key) == "all", text == "all" else {
                throw SAEPipeError.input("\(key) is `\(text)`", key: key, hint: "write `all` or a list of layer indices such as [0, 2, 4]")
            }
            return .all
        case .list:
            let list = try reader.decode([Int].self, at: key)
            guard !list.isEmpty, list.allSatisfy({ $0 >= 0 }), Set(list).count == list.count else {
                throw SAEPipeError.input("\(key) must list distinct layer indices, not \(list)", key: key, hint: "e.g. [0, 2, 4], or `all`")
            }
            return .list(list.sorted())
        default:
            throw SAEPipeError.input("\(key) must be `all` or a list of layer indices", key: key, hint: "e.g. [0, 2, 4]")
        }
    }

    /// The layers to collect, for a model of `count` layers.
    public func collected(layerCount count: Int) throws -> [Int] {
        switch layers {
        case nil: return []
        case .all: return Array(0..<count)
        case .list(let list):
            if let beyond = list.first(where: { $0 >= count }) {
                throw SAEPipeError.input("the config collects layer \(beyond) but the model has \(count) (0–\(count - 1))",
                                         key: trainedLayers == nil ? "model.layers" : "sae.layers")
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
                                     hint: "model.layer must be one of the layers collected (and below the model's layer count)")
        }
        return directory
    }

    /// The layers a multi-layer SAE trains on, found in collect entry `entry`, with their sets; nil for a one-layer SAE.
    public func trainingSets(entry: String) throws -> [(layer: Int, directory: String)]? {
        guard let trainedLayers else { return nil }
        let written = FileSystem.listDirectories(in: "\(entry)/layers").compactMap(Int.init).sorted()
        let wanted: [Int]
        switch trainedLayers {
        case .all: wanted = written
        case .list(let list):
            if let missing = list.first(where: { !written.contains($0) }) {
                throw SAEPipeError.input("collect wrote no activation set for layer \(missing) of sae.layers", file: entry,
                                         hint: "sae.layers must name layers below the model's layer count")
            }
            wanted = list
        }
        return wanted.map { ($0, "\(entry)/\(Self.layerDirectory($0))") }
    }
}
