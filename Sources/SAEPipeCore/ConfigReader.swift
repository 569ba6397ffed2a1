import Collections
import Foundation

/// Decodes settings structs from a resolved config and remembers every key they read, so a
/// stage's config slice (what its cache key hashes) is exactly what its settings use.
///
/// Strict: a key missing from the config is an error, never a silent default. Every default
/// lives in the schema, which fills each key in before decoding.
public final class ConfigReader {
    public let root: ConfigValue
    /// Keys whose whole value was read (scalars, lists).
    private(set) var leaves: [[String]] = []
    /// Mappings that were opened (kept in the slice even when no key of theirs was read).
    private(set) var containers: [[String]] = []

    /// Files (not configs) may leave an optional key out; configs hold every key.
    let absentOptionalsAreNil: Bool

    public init(_ root: ConfigValue, absentOptionalsAreNil: Bool = false) {
        self.root = root
        self.absentOptionalsAreNil = absentOptionalsAreNil
    }

    /// Decodes `type` from the value at a dotted path (`""` for the root).
    public func decode<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
        let keys = path.split(separator: ".").map(String.init)
        var value = root
        for (depth, key) in keys.enumerated() {
            guard let entries = value.mapValue, let child = entries[key] else {
                throw SAEPipeError(.runtime, "the config has no `\(keys[...depth].joined(separator: "."))`", keyPath: path)
            }
            value = child
        }
        do {
            return try T(from: ConfigValueDecoder(value: value, path: keys, reader: self))
        } catch let error as DecodingError {
            throw SAEPipeError(.runtime, "cannot read settings at `\(path)`: \(ConfigReader.describe(error))", keyPath: path)
        }
    }

    /// The part of the config that was read: the stage slice the cache key hashes.
    public var slice: ConfigValue {
        var result = ConfigValue.map([:])
        for path in containers where result.value(at: path) == nil {
            result = result.setting(.map([:]), at: path)
        }
        for path in leaves { result = result.setting(root.value(at: path) ?? .null, at: path) }
        return result
    }

    func recordLeaf(_ path: [String]) { leaves.append(path) }
    func recordContainer(_ path: [String]) { containers.append(path) }

    static func describe(_ error: DecodingError) -> String {
        func where_(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing `\(key.stringValue)` at `\(where_(context))`"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) at `\(where_(context))`"
        @unknown default: return "\(error)"
        }
    }
}

extension ConfigValue {
    /// The value at a key path, nil when a key on the way is absent.
    public func value(at path: [String]) -> ConfigValue? {
        var value = self
        for key in path {
            guard let child = value.mapValue?[key] else { return nil }
            value = child
        }
        return value
    }
}

/// A `Decoder` over one `ConfigValue` node.
struct ConfigValueDecoder: Decoder {
    let value: ConfigValue
    let path: [String]
    let reader: ConfigReader
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let entries = value.mapValue else {
            throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "expected a mapping"))
        }
        reader.recordContainer(path)
        return KeyedDecodingContainer(KeyedContainer<Key>(entries: entries, path: path, reader: reader))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard let items = value.listValue else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "expected a list"))
        }
        reader.recordLeaf(path)
        return UnkeyedContainer(items: items, path: path, reader: reader)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        reader.recordLeaf(path)
        return SingleValue(value: value, path: path, absentOptionalsAreNil: reader.absentOptionalsAreNil)
    }
}

/// A coding key for any name: user-named config entries, flattened JSON objects.
public struct NameKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { Int(stringValue) }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) { stringValue = String(intValue) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: OrderedDictionary<String, ConfigValue>
    let path: [String]
    let reader: ConfigReader
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }
    var allKeys: [Key] { entries.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { entries[key.stringValue] != nil }

    private func child(_ key: Key) throws -> ConfigValueDecoder {
        guard let value = entries[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "the config slice has no such key"))
        }
        return ConfigValueDecoder(value: value, path: path + [key.stringValue], reader: reader)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if reader.absentOptionalsAreNil, entries[key.stringValue] == nil { return true }
        let decoder = try child(key)
        if decoder.value.isNull { reader.recordLeaf(decoder.path) }
        return decoder.value.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: try child(key)) }

    // Optional keys are present in a resolved config (as null); an absent one is an error. Every
    // overload is spelled out: the protocol's defaults would read an absent key as nil.
    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeNil(forKey: key) ? nil : try T(from: try child(key))
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    { try child(key).container(keyedBy: type) }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { ConfigValueDecoder(value: .map(entries), path: path, reader: reader) }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [ConfigValue]
    let path: [String]
    let reader: ConfigReader
    var currentIndex = 0
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [ConfigValue], path: [String], reader: ConfigReader) {
        self.items = items
        self.path = path
        self.reader = reader
    }

    private mutating func next() throws -> ConfigValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the list ended"))
        }
        defer { currentIndex += 1 }
        // List elements are part of the list's leaf; their decoders record nothing more.
        return ConfigValueDecoder(value: items[currentIndex], path: path + [String(currentIndex)],
                                  reader: ConfigReader(.null, absentOptionalsAreNil: reader.absentOptionalsAreNil))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if items[currentIndex].isNull { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: try next()) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

private struct SingleValue: SingleValueDecodingContainer {
    let value: ConfigValue
    let path: [String]
    let absentOptionalsAreNil: Bool
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }

    func decodeNil() -> Bool { value.isNull }

    private func mismatch<T>(_ type: T.Type) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(type), found \(value.scalarDescription)"))
    }

    func decode(_ type: Bool.Type) throws -> Bool { guard let v = value.boolValue else { throw mismatch(type) }; return v }
    func decode(_ type: String.Type) throws -> String { guard let v = value.stringValue else { throw mismatch(type) }; return v }
    func decode(_ type: Double.Type) throws -> Double { guard let v = value.doubleValue else { throw mismatch(type) }; return v }
    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { guard let v = value.intValue else { throw mismatch(type) }; return v }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard let v = value.intValue, let converted = T(exactly: v) else { throw mismatch(type) }
        return converted
    }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // A ConfigValue asks for the node itself.
        if T.self == ConfigValue.self { return value as! T }
        return try T(from: ConfigValueDecoder(value: value, path: path, reader: ConfigReader(.null, absentOptionalsAreNil: absentOptionalsAreNil)))
    }
}

extension ConfigReader {
    /// A stage's settings read by `read`, with the config slice they came from.
    public static func settings<Settings>(from config: ConfigValue, _ read: (ConfigReader) throws -> Settings) throws
        -> (Settings, ConfigValue)
    {
        let reader = ConfigReader(config)
        let settings = try read(reader)
        return (settings, reader.slice)
    }
}
