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
    var int: Int? { if case .int(let v) = self { return Int(v) } else { return nil } }
    var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    var string: String? { if case .binary(let v) = self { return String(decoding: v, as: UTF8.self) } else { return nil } }
    var list: [ThriftValue]? { if case .list(let v) = self { return v } else { return nil } }
}

/// Reads compact-protocol structs from a byte buffer.
struct ThriftReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let source: String

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

    mutating func structure() throws -> ThriftValue {
        var fields: [Int16: ThriftValue] = [:]
        var lastField: Int16 = 0
        while true {
            let header = try byte()
            if header == 0 { return .structure(fields) }
            let delta = Int16(header >> 4)
            let type = header & 0x0F
            let field = delta != 0 ? lastField + delta : Int16(truncatingIfNeeded: try zigzag())
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
            let length = Int(try varint())
            guard length >= 0, position + length <= bytes.count else { throw invalid("string runs past the metadata") }
            defer { position += length }
            return .binary(Array(bytes[position..<(position + length)]))
        case 9, 10:
            let header = try byte()
            var count = Int(header >> 4)
            if count == 15 { count = Int(try varint()) }
            let elementType = header & 0x0F
            guard count <= bytes.count - position + 1 else { throw invalid("list longer than the metadata") }
            var items: [ThriftValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                // Booleans inside lists take a whole byte (1 true, 2 false… or 0 false).
                if elementType == 1 || elementType == 2 { items.append(.bool(try byte() == 1)) } else {
                    items.append(try value(type: elementType))
                }
            }
            return .list(items)
        case 11:
            let count = Int(try varint())
            guard count > 0 else { return .map([]) }
            let types = try byte()
            var pairs: [(ThriftValue, ThriftValue)] = []
            for _ in 0..<count { pairs.append((try value(type: types >> 4), try value(type: types & 0x0F))) }
            return .map(pairs)
        case 12: return try structure()
        default: throw invalid("unknown compact-protocol type \(type)")
        }
    }
}
