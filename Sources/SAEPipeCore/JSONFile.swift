import Foundation

/// The one reader and writer of the JSON files stages hand each other (docs/formats.md):
/// Codable types in, sorted-key pretty JSON out, written atomically.
public enum JSONFile {
    /// Sorted keys, two-space indent: the same bytes for the same value.
    public static func encode<T: Encodable>(_ value: T, sortedKeys: Bool = true, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        var formatting: JSONEncoder.OutputFormatting = []
        if sortedKeys { formatting.insert(.sortedKeys) }
        if pretty { formatting.insert(.prettyPrinted) }
        encoder.outputFormatting = formatting
        return try encoder.encode(value)
    }

    public static func write<T: Encodable>(_ value: T, to path: String, sortedKeys: Bool = true, pretty: Bool = true) throws {
        try FileSystem.writeAtomically(try encode(value, sortedKeys: sortedKeys, pretty: pretty), to: path)
    }

    /// Decodes `path`; a missing or malformed file is an input error naming the file and what to do.
    public static func read<T: Decodable>(_ type: T.Type, from path: String, hint: String? = nil) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read \(FileSystem.lastComponent(of: path))", file: path, hint: hint)
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw SAEPipeError.input("malformed \(FileSystem.lastComponent(of: path)): \(ConfigReader.describe(error))",
                                     file: path, hint: hint)
        }
    }
}

/// An optional that encodes as JSON `null` instead of leaving its key out, as the files'
/// formats require (a reader can tell "not measured" from "an old file without the key").
@propertyWrapper
public struct EncodedAsNull<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?
    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A missing key reads as nil, like a JSON null.
    public func decode<Value>(_ type: EncodedAsNull<Value>.Type, forKey key: Key) throws -> EncodedAsNull<Value> {
        try decodeIfPresent(type, forKey: key) ?? EncodedAsNull(wrappedValue: nil)
    }
}
