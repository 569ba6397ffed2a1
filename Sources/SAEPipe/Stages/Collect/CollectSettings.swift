import SAEPipeCore
import SAEPipeData

/// The `collect` section: how datasets become token windows and activation rows.
public struct CollectSettings: Sendable, Decodable, Equatable {
    public static let configField = ConfigField("collect", .section(ConfigSection([
        ConfigField("tokens", .int(1...1_000_000_000), default: .int(300_000), doc: "activation rows per dataset (fewer rows than training tokens means repeated passes: see the overfitting check)"),
        ConfigField("seq_len", .int(2...8192), default: .int(128), doc: "tokens per window"),
        ConfigField("batch_size", .int(1...4096), default: .int(16), doc: "windows per forward pass"),
        ConfigField("dtype", .choice(["float32", "float16"]), default: .string("float32"), doc: "acts.mmap element type"),
        ConfigField("documents", .choice(["concatenate", "separate"]), default: .string("concatenate"),
                    doc: "join documents with EOS and cut windows, or one window per document"),
        ConfigField("exclude_special", .bool, default: .bool(true),
                    doc: "keep BOS/EOS/special-token positions out of the activation set (they stay in the context)"),
        ConfigField("prepend_bos", .bool, default: .bool(false), doc: "start every window with the BOS token"),
        ConfigField("shuffle", .bool, default: .bool(true), doc: "sample windows at random (by seed) instead of taking the first"),
        ConfigField("pool_factor", .int(1...1000), default: .int(4), doc: "sample from this many times the windows needed"),
    ])), doc: "turning datasets into activations")

    public var tokens: Int
    public var seqLen: Int
    public var batchSize: Int
    public var dtype: ActivationStore.DType
    public var documents: TokenWindows.DocumentHandling
    public var excludeSpecial: Bool
    public var prependBOS: Bool
    public var shuffle: Bool
    public var poolFactor: Int

    enum CodingKeys: String, CodingKey {
        case tokens, seqLen = "seq_len", batchSize = "batch_size", dtype, documents, excludeSpecial = "exclude_special"
        case prependBOS = "prepend_bos", shuffle, poolFactor = "pool_factor"
    }

    public static func read(_ reader: ConfigReader) throws -> CollectSettings { try reader.decode(CollectSettings.self, at: "collect") }

    /// Window options for a seed.
    public func windowOptions(seed: UInt64) -> TokenWindows.Options {
        TokenWindows.Options(
            seqLen: seqLen, documents: documents, prependBOS: prependBOS, tokenBudget: tokens, excludeSpecial: excludeSpecial,
            shuffle: shuffle, poolFactor: poolFactor, seed: seed)
    }
}
