import Foundation
import SAEPipeCore

/// A value decoded from Thrift's compact protocol, which Parquet uses for its footer and
/// page headers. Structs keep their fields by id; callers pick the ids they know.
indirect enum ThriftValue {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case binary([UInt8])
    case list([ThriftValue])
    case map([(ThriftValue, ThriftValue)])
    case structure([Int16: ThriftValue])

    subscript(_ field: Int16) -> ThriftValue? {
        if case .structure(let fields) = self { return fields[field] }
        return nil
    }
    var int: Int? { if case .int(let v) = self { return Int(exactly: v) } else { return nil } }
    var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    var string: String? { if case .binary(let v) = self { return String(decoding: v, as: UTF8.self) } else { return nil } }
    var list: [ThriftValue]? { if case .list(let v) = self { return v } else { return nil } }
}

/// Reads compact-protocol structs from a byte buffer.
struct ThriftReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let source: String
    private var depth = 0
    /// Parquet's metadata nests a handful of levels; the limit, counted over structs, lists and
    /// maps alike, keeps a crafted file (a list of lists of lists…) off the stack's end.
    static let maximumDepth = 64

    init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0, source: String) {
        self.bytes = bytes
        self.position = position
        self.source = source
    }

    func invalid(_ why: String) -> SAEPipeError {
        SAEPipeError.input("not a valid Parquet file: \(why)", file: source,
                           hint: "re-download the file; it may be truncated")
    }

    mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw invalid("metadata ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw invalid("varint too long") }
        }
    }

    mutating func zigzag() throws -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A length or count, which must fit in the bytes left (every element takes at least one).
    mutating func count(_ what: String) throws -> Int {
        let raw = try varint()
        guard raw <= UInt64(bytes.count - position) else { throw invalid("\(what) of \(raw) runs past the metadata") }
        return Int(raw)
    }

    /// Enters one level of nesting; callers pair it with `depth -= 1` in a `defer`.
    private mutating func descend() throws {
        guard depth < ThriftReader.maximumDepth else {
            throw invalid("structures, lists and maps nest deeper than \(ThriftReader.maximumDepth)")
        }
        depth += 1
    }

    mutating func structure() throws -> ThriftValue {
        try descend()
        defer { depth -= 1 }
        var fields: [Int16: ThriftValue] = [:]
        var lastField: Int16 = 0
        while true {
            let header = try byte()
            if header == 0 { return .structure(fields) }
            let delta = Int16(header >> 4)
            let type = header & 0x0F
            let field = delta != 0 ? lastField &+ delta : Int16(truncatingIfNeeded: try zigzag())
            lastField = field
            fields[field] = try value(type: type)
        }
    }

    mutating func value(type: UInt8) throws -> ThriftValue {
        switch type {
        case 1: return .bool(true)
        case 2: return .bool(false)
        case 3:
            return .int(Int64(Int8(bitPattern: try byte())))
        case 4, 5, 6: return .int(try zigzag())
        case 7:
            guard position + 8 <= bytes.count else { throw invalid("metadata ends early") }
            defer { position += 8 }
            return .double(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))))
        case 8:
            let length = try count("a string")
            defer { position += length }
            return .binary(Array(bytes[position..<(position + length)]))
        case 9, 10:
            try descend()
            defer { depth -= 1 }
            let header = try byte()
            var length = Int(header >> 4)
            if length == 15 { length = try count("a list") }
            let elementType = header & 0x0F
            guard length <= bytes.count - position else { throw invalid("a list of \(length) runs past the metadata") }
            var items: [ThriftValue] = []
            items.reserveCapacity(length)
            for _ in 0..<length { items.append(try element(type: elementType)) }
            return .list(items)
        case 11:
            try descend()
            defer { depth -= 1 }
            let length = try count("a map")
            guard length > 0 else { return .map([]) }
            let types = try byte()
            var pairs: [(ThriftValue, ThriftValue)] = []
            for _ in 0..<length { pairs.append((try element(type: types >> 4), try element(type: types & 0x0F))) }
            return .map(pairs)
        case 12: return try structure()
        default: throw invalid("unknown compact-protocol type \(type)")
        }
    }

    /// A list or map element: booleans there take a whole byte (1 true; 2 or 0 false), so
    /// every element consumes input (every other type reads at least one byte) and a count
    /// cannot spin without reading.
    mutating func element(type: UInt8) throws -> ThriftValue {
        if type == 1 || type == 2 { return .bool(try byte() == 1) }
        return try value(type: type)
    }
}
