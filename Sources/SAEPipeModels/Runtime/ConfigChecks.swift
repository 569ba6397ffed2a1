import SAEPipeCore

/// Range checks shared by the architectures' configurations: a config.json or GGUF header
/// with a legal but absurd value (a zero rope base, a negative epsilon, a 2^40 hidden size)
/// is refused with the field named, before anything is allocated or a NaN reaches a result.
struct ConfigChecks {
    let architecture: String

    /// Sizes past these are corrupt files, not big models (Llama-3-405B: hidden 16384, 126 layers).
    static let maximumWidth = 1 << 17
    static let maximumLayers = 1 << 10
    static let maximumHeads = 1 << 10
    static let maximumVocabulary = 1 << 22
    static let maximumPositions = 1 << 24

    /// The sizes every decoder config has, under transformers' key names.
    func sizes(hidden: Int, intermediate: Int, layers: Int, heads: Int, vocabulary: Int, positions: Int) throws {
        try count(hidden, "hidden_size", upTo: ConfigChecks.maximumWidth)
        try count(intermediate, "intermediate_size", upTo: ConfigChecks.maximumWidth * 8)
        try count(layers, "num_hidden_layers", upTo: ConfigChecks.maximumLayers)
        try count(heads, "num_attention_heads", upTo: ConfigChecks.maximumHeads)
        try count(vocabulary, "vocab_size", upTo: ConfigChecks.maximumVocabulary)
        try count(positions, "max_position_embeddings", upTo: ConfigChecks.maximumPositions)
    }

    func count(_ value: Int, _ key: String, upTo limit: Int) throws {
        guard value > 0, value <= limit else {
            throw SAEPipeError.input("`\(key)` is \(value); a \(architecture) config needs 1…\(limit)", key: key,
                                     hint: "the config.json is corrupt or not this architecture's")
        }
    }

    func positive(_ value: Double, _ key: String, below limit: Double = .greatestFiniteMagnitude) throws {
        guard value.isFinite, value > 0, value < limit else {
            let bound = limit.isFinite && limit < .greatestFiniteMagnitude ? " below \(limit)" : ""
            throw SAEPipeError.input("`\(key)` is \(value); it must be a positive finite number\(bound)", key: key,
                                     hint: "the config.json is corrupt")
        }
    }
}
