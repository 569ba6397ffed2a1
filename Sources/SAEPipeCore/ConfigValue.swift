import Collections
import Foundation

/// A resolved, typed config value: what the schema made of the YAML/JSON text,
/// with every default filled in.
public enum ConfigValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([ConfigValue])
    case map(OrderedDictionary<String, ConfigValue>)

    public subscript(key: String) -> ConfigValue {
        if case .map(let entries) = self { return entries[key] ?? .null }
        return .null
    }

    /// Follows a dotted path (`train.l1_coefficient`).
    public subscript(path path: String) -> ConfigValue {
        path.split(separator: ".").reduce(self) { $0[String($1)] }
    }

    public var isNull: Bool { self == .null }
    public var boolValue: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var intValue: Int? { if case .int(let v) = self { return v } else { return nil } }
    public var stringValue: String? { if case .string(let v) = self { return v } else { return nil } }
    public var listValue: [ConfigValue]? { if case .list(let v) = self { return v } else { return nil } }
    public var mapValue: OrderedDictionary<String, ConfigValue>? {
        if case .map(let v) = self { return v } else { return nil }
    }
    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    /// Replaces the value at a dotted path, creating maps on the way.
    public func setting(_ value: ConfigValue, at path: [String]) -> ConfigValue {
        guard let first = path.first else { return value }
        var entries = mapValue ?? [:]
        entries[first] = (entries[first] ?? .null).setting(value, at: Array(path.dropFirst()))
        return .map(entries)
    }

    /// A map holding only the given top-level keys (a stage's config slice).
    public func slice(_ paths: [String]) -> ConfigValue {
        var result = ConfigValue.map([:])
        for path in paths {
            result = result.setting(self[path: path], at: path.split(separator: ".").map(String.init))
        }
        return result
    }
}

// MARK: - Text forms

extension ConfigValue {
    /// JSON with sorted keys and no insignificant whitespace: the form cache keys hash.
    public var canonicalJSON: String {
        var out = ""
        writeJSON(into: &out, sortKeys: true, indent: nil, level: 0)
        return out
    }

    /// Readable JSON in schema order.
    public func prettyJSON() -> String {
        var out = ""
        writeJSON(into: &out, sortKeys: false, indent: "  ", level: 0)
        return out
    }

    /// A scalar as it would be written in YAML or JSON (strings JSON-quoted).
    public var scalarDescription: String {
        var out = ""
        writeJSON(into: &out, sortKeys: true, indent: nil, level: 0)
        return out
    }

    private func writeJSON(into out: inout String, sortKeys: Bool, indent: String?, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let v): out += v ? "true" : "false"
        case .int(let v): out += String(v)
        case .double(let v): out += ConfigValue.formatDouble(v)
        case .string(let v): out += ConfigValue.jsonQuote(v)
        case .list(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                item.writeJSON(into: &out, sortKeys: sortKeys, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "]"
        case .map(let entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{"
            let keys = sortKeys ? entries.keys.sorted() : Array(entries.keys)
            for (index, key) in keys.enumerated() {
                if index > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: indent, count: level + 1) }
                out += ConfigValue.jsonQuote(key) + (indent == nil ? ":" : ": ")
                entries[key]!.writeJSON(into: &out, sortKeys: sortKeys, indent: indent, level: level + 1)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += "}"
        }
    }

    /// Shortest text that reads back as the same Double, always with a '.' or exponent.
    public static func formatDouble(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        let text = "\(value)"
        return text
    }

    public static func jsonQuote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Block-style YAML, in schema order, with a comment line per documented key when given.
    public func yaml(docs: [String: String] = [:], path: String = "", level: Int = 0) -> String {
        guard case .map(let entries) = self else { return scalarYAML + "\n" }
        var out = ""
        let pad = String(repeating: "  ", count: level)
        for (key, value) in entries {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if let doc = docs[childPath], !doc.isEmpty { out += "\(pad)# \(doc)\n" }
            switch value {
            case .map(let child) where !child.isEmpty:
                out += "\(pad)\(ConfigValue.yamlKey(key)):\n"
                out += value.yaml(docs: docs, path: childPath, level: level + 1)
            case .list(let items) where items.contains(where: { $0.mapValue != nil }):
                out += "\(pad)\(ConfigValue.yamlKey(key)):\n"
                for item in items {
                    let body = item.yaml(docs: [:], path: childPath, level: level + 2)
                    let trimmed = body.drop(while: { $0 == " " })
                    out += "\(pad)  - " + trimmed
                }
            default:
                out += "\(pad)\(ConfigValue.yamlKey(key)): \(value.scalarYAML)\n"
            }
        }
        return out
    }

    private var scalarYAML: String {
        switch self {
        case .string(let v): return ConfigValue.yamlString(v)
        case .list(let items): return "[" + items.map(\.scalarYAML).joined(separator: ", ") + "]"
        case .map(let entries) where entries.isEmpty: return "{}"
        default: return scalarDescription
        }
    }

    private static func yamlKey(_ key: String) -> String { yamlString(key) }

    /// Plain when it cannot be misread as another type or as syntax; JSON-quoted otherwise.
    static func yamlString(_ text: String) -> String {
        let reserved: Set<String> = [
            "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n",
        ]
        let safeFirst = text.unicodeScalars.first.map {
            CharacterSet.letters.contains($0) || $0 == "_" || $0 == "/" || $0 == "."
        } ?? false
        let safeChars = text.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "_-./@+".unicodeScalars.contains($0)
        }
        if safeFirst, safeChars, !reserved.contains(text.lowercased()), Double(text) == nil {
            return text
        }
        return jsonQuote(text)
    }
}

// MARK: - Reading back

extension ConfigValue {
    /// Reads JSON (or YAML) without a schema: quoted scalars are strings, plain ones
    /// are null, booleans, integers or numbers by their text. Used for stored slices.
    public init(parsingJSON text: String) throws {
        self.init(untyped: try YAMLParser.parse(text, sourceName: "<json>", limits: .storedFile))
    }

    /// The one untyped reading of a YAML scalar, used for stored JSON and for values the schema
    /// types later (sweep axes): quoted is a string; plain null/~/empty is null; true/yes/on and
    /// false/no/off are booleans; digits (with `_` separators) are integers or finite numbers.
    public init(untyped node: YAMLNode) {
        switch node {
        case .scalar(let text, let quoted, _):
            let digits = text.replacingOccurrences(of: "_", with: "")
            if quoted { self = .string(text) }
            else if text.isEmpty || text == "~" || text.lowercased() == "null" { self = .null }
            else if let value = ConfigSchema.parseBool(text) { self = .bool(value) }
            else if let value = Int(digits) { self = .int(value) }
            else if let value = Double(digits), value.isFinite { self = .double(value) }
            else { self = .string(text) }
        case .sequence(let items, _):
            self = .list(items.map(ConfigValue.init(untyped:)))
        case .mapping(let pairs, _):
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for pair in pairs { entries[pair.key.scalarText ?? ""] = ConfigValue(untyped: pair.value) }
            self = .map(entries)
        }
    }
}

extension ConfigValue: Codable {
    public init(from decoder: Decoder) throws {
        // Settings structs that hold a raw config value take the node as it is.
        if let node = decoder as? ConfigValueDecoder {
            node.reader.recordLeaf(node.path)
            self = node.value
            return
        }
        if let container = try? decoder.container(keyedBy: NameKey.self) {
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for key in container.allKeys { entries[key.stringValue] = try container.decode(ConfigValue.self, forKey: key) }
            self = .map(entries)
            return
        }
        if var items = try? decoder.unkeyedContainer() {
            var list: [ConfigValue] = []
            while !items.isAtEnd { list.append(try items.decode(ConfigValue.self)) }
            self = .list(list)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let v = try? container.decode(Bool.self) { self = .bool(v) }
        else if let v = try? container.decode(Int.self) { self = .int(v) }
        else if let v = try? container.decode(Double.self) { self = .double(v) }
        else { self = .string(try container.decode(String.self)) }
    }

    /// Maps encode as JSON objects in their own key order (not as OrderedDictionary's key/value arrays).
    public func encode(to encoder: Encoder) throws {
        switch self {
        case .map(let entries):
            var container = encoder.container(keyedBy: NameKey.self)
            for (key, value) in entries { try container.encode(value, forKey: NameKey(stringValue: key)) }
        case .list(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        default:
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let v): try container.encode(v)
            case .int(let v): try container.encode(v)
            case .double(let v): try container.encode(v)
            case .string(let v): try container.encode(v)
            case .list, .map: break
            }
        }
    }
}
