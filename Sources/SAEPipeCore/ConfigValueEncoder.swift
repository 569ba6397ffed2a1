import Collections
import Foundation

/// Encodes a Codable value into a `ConfigValue` tree, keeping key order and integers apart
/// from doubles (`3` vs `3.0`), for the files written in schema order (run manifests,
/// sweep state) and read back with `ConfigReader`.
public enum ConfigValueEncoding {
    public static func encode<T: Encodable>(_ value: T) throws -> ConfigValue {
        let root = Node()
        try value.encode(to: NodeEncoder(node: root, path: []))
        return root.value
    }

    /// Pretty JSON in encoding order, as `ConfigValue.prettyJSON` writes it.
    public static func json<T: Encodable>(_ value: T) throws -> String { try encode(value).prettyJSON() + "\n" }

    /// Reads what `json` wrote back through the strict reader.
    public static func decode<T: Decodable>(_ type: T.Type, fromJSON text: String) throws -> T {
        try ConfigReader(try ConfigValue(parsingJSON: text), absentOptionalsAreNil: true).decode(type, at: "")
    }
}

/// A mutable tree under construction.
private final class Node {
    enum Content {
        case value(ConfigValue)
        case map(OrderedDictionary<String, Node>)
        case list([Node])
    }

    var content: Content = .value(.null)

    var value: ConfigValue {
        switch content {
        case .value(let value): return value
        case .map(let entries): return .map(entries.mapValues(\.value))
        case .list(let items): return .list(items.map(\.value))
        }
    }

    func child(_ key: String) -> Node {
        var entries: OrderedDictionary<String, Node> = [:]
        if case .map(let existing) = content { entries = existing }
        if let node = entries[key] { return node }
        let node = Node()
        entries[key] = node
        content = .map(entries)
        return node
    }

    func append() -> Node {
        var items: [Node] = []
        if case .list(let existing) = content { items = existing }
        let node = Node()
        items.append(node)
        content = .list(items)
        return node
    }
}

private struct NodeEncoder: Encoder {
    let node: Node
    let path: [String]
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = node.content {} else { node.content = .map([:]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, path: path))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .list = node.content {} else { node.content = .list([]) }
        return UnkeyedContainer(node: node, path: path)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleValue(node: node, path: path) }
}

private func encodeValue<T: Encodable>(_ value: T, into node: Node, path: [String]) throws {
    if let config = value as? ConfigValue {
        node.content = .value(config)
        return
    }
    try value.encode(to: NodeEncoder(node: node, path: path))
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let path: [String]
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }

    mutating func encodeNil(forKey key: Key) throws { node.child(key.stringValue).content = .value(.null) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: node.child(key.stringValue), path: path + [key.stringValue])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.child(key.stringValue), path: path + [key.stringValue]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        NodeEncoder(node: node.child(key.stringValue), path: path + [key.stringValue]).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder { NodeEncoder(node: node, path: path) }
    mutating func superEncoder(forKey key: Key) -> Encoder { NodeEncoder(node: node.child(key.stringValue), path: path + [key.stringValue]) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let path: [String]
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }
    var count: Int {
        if case .list(let items) = node.content { return items.count }
        return 0
    }

    mutating func encodeNil() throws { node.append().content = .value(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node.append(), path: path + [String(count)]) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.append(), path: path).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { NodeEncoder(node: node.append(), path: path).unkeyedContainer() }
    mutating func superEncoder() -> Encoder { NodeEncoder(node: node.append(), path: path) }
}

private struct SingleValue: SingleValueEncodingContainer {
    let node: Node
    let path: [String]
    var codingPath: [CodingKey] { path.map(NameKey.init(stringValue:)) }

    mutating func encodeNil() throws { node.content = .value(.null) }
    mutating func encode(_ value: Bool) throws { node.content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { node.content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { node.content = .value(.double(value)) }
    mutating func encode(_ value: Float) throws { node.content = .value(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { node.content = .value(.int(value)) }
    mutating func encode(_ value: Int8) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: Int16) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: Int32) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: Int64) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: UInt) throws { try integer(value) }
    mutating func encode(_ value: UInt8) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: UInt16) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: UInt32) throws { node.content = .value(.int(Int(value))) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encodeValue(value, into: node, path: path) }

    private mutating func integer<T: BinaryInteger>(_ value: T) throws {
        guard let int = Int(exactly: value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) does not fit an Int"))
        }
        node.content = .value(.int(int))
    }
}
