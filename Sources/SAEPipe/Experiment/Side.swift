import SAEPipeCore
import SAEPipeEngine

/// One of the experiment's datasets, and the SAE trained on it.
public enum Side: String, CaseIterable, Codable, Sendable, Comparable, CodingKeyRepresentable, CustomStringConvertible {
    case A, B

    public var description: String { rawValue }
    public static func < (a: Side, b: Side) -> Bool { a.rawValue < b.rawValue }
    /// The other dataset.
    public var other: Side { self == .A ? .B : .A }
}

/// An SAE evaluated on a dataset: `A->B` is SAE A on dataset B (results.json's keys).
public struct SAEPair: Hashable, Sendable, Comparable, Codable, CodingKeyRepresentable, CustomStringConvertible {
    public var trained: Side
    public var evaluated: Side

    public init(_ trained: Side, _ evaluated: Side) {
        self.trained = trained
        self.evaluated = evaluated
    }

    /// A->A, A->B, B->A, B->B.
    public static let all = Side.allCases.flatMap { trained in Side.allCases.map { SAEPair(trained, $0) } }
    /// The SAE on the other dataset, and the pair it is compared with (that dataset's own SAE): A->B against B->B.
    public static let transfers = [SAEPair(.A, .B), SAEPair(.B, .A)]

    public var isInDomain: Bool { trained == evaluated }
    /// The in-domain pair a cross-domain pair is compared with.
    public var baseline: SAEPair { SAEPair(evaluated, evaluated) }
    /// `A->B`.
    public var key: String { "\(trained)->\(evaluated)" }
    /// `A → B`, for figures.
    public var arrowLabel: String { "\(trained) → \(evaluated)" }
    public var description: String { key }

    public init?(key: String) {
        let parts = key.components(separatedBy: "->")
        guard parts.count == 2, let trained = Side(rawValue: parts[0]), let evaluated = Side(rawValue: parts[1]) else { return nil }
        self.init(trained, evaluated)
    }

    public static func < (a: SAEPair, b: SAEPair) -> Bool { a.key < b.key }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let pair = SAEPair(key: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a pair like A->B: \(text)"))
        }
        self = pair
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(key)
    }

    public var codingKey: CodingKey { NameKey(stringValue: key) }
    public init?<T: CodingKey>(codingKey: T) { self.init(key: codingKey.stringValue) }
}

/// The product's stage ids.
extension StageID {
    public static func collect(_ side: Side) -> StageID { StageID("collect.\(side)") }
    public static func train(_ side: Side) -> StageID { StageID("train.\(side)") }
    public static func interpret(_ side: Side) -> StageID { StageID("interpret.\(side)") }
    public static let eval = StageID("eval")
    public static let viz = StageID("viz")
}

/// The datasets' display names (`datasets.<side>.label`); a dataset without one is called by its side.
public struct DatasetLabels: Sendable, Equatable {
    var labels: [Side: String]

    public subscript(side: Side) -> String { labels[side] ?? side.rawValue }

    /// Reads both labels; they join the config slice of the stages that show them.
    public static func read(_ reader: ConfigReader) throws -> DatasetLabels {
        var labels: [Side: String] = [:]
        for side in Side.allCases { labels[side] = try reader.decode(String?.self, at: "datasets.\(side).label") }
        return DatasetLabels(labels: labels)
    }

    /// From a run manifest's resolved config.
    public init(config: ConfigValue) {
        labels = [:]
        for side in Side.allCases { labels[side] = config[path: "datasets.\(side).label"].stringValue }
    }

    init(labels: [Side: String]) { self.labels = labels }
}

extension Side {
    /// The datasets a config compares: A always; B when `datasets.B` names a path or Hub id.
    /// Without B the run is a one-dataset run: one collect/train/interpret branch, no transfer.
    public static func present(in config: ConfigValue) -> [Side] {
        let b = config[path: "datasets.B"]
        return b["path"].isNull && b["hub"].isNull ? [.A] : [.A, .B]
    }

    /// The same, read through a stage's reader so the stage's config slice (and cache key)
    /// records whether B is there.
    public static func present(_ reader: ConfigReader) throws -> [Side] {
        let path = try reader.decode(String?.self, at: "datasets.B.path")
        let hub = try reader.decode(String?.self, at: "datasets.B.hub")
        return path == nil && hub == nil ? [.A] : [.A, .B]
    }
}
