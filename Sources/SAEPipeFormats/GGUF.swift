import Foundation
import SAEPipeCore

/// A metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let v): return Int(exactly: v)
        case .int(let v): return Int(exactly: v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var string: String? { if case .string(let v) = self { return v } else { return nil } }
    public var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var array: [GGUFValue]? { if case .array(let v) = self { return v } else { return nil } }
}

/// A memory-mapped GGUF v2/v3 file: metadata, tensor infos, aligned data.
public struct GGUFFile: Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Keys in file order (for `model info`).
    public let metadataKeys: [String]
    public let tensors: [String: TensorView]
    public let tensorNames: [String]

    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already-mapped file; every count, offset and shape is checked against the file size.
    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        var reader = GGUFReader(file: file)
        guard file.size >= 24, file.load(UInt32.self, at: 0) == 0x4655_4747 else {
            throw SAEPipeError.input("not a GGUF file (bad magic)", file: path, hint: "pass a .gguf model file")
        }
        reader.position = 4
        version = try reader.u32()
        guard version == 2 || version == 3 else {
            throw SAEPipeError.input("GGUF version \(version) is not supported (2 and 3 are)", file: path)
        }
        let tensorCount = try reader.u64()
        let kvCount = try reader.u64()
        // Each entry takes at least 8 bytes (its name's length), which bounds both counts by the file.
        guard tensorCount < 1 << 24, kvCount < 1 << 24, (tensorCount + kvCount) * 8 <= UInt64(file.size) else {
            throw SAEPipeError.input("GGUF header counts are implausible (\(tensorCount) tensors, \(kvCount) keys)", file: path)
        }
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<kvCount {
            let key = try reader.string()
            let type = try reader.u32()
            guard metadata[key] == nil else { throw reader.invalid("metadata key \(key) appears twice") }
            metadata[key] = try reader.value(type: type)
            keys.append(key)
        }
        struct Info { let name: String; let dims: [Int]; let type: TensorType; let offset: Int }
        var infos: [Info] = []
        var seen = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string()
            guard seen.insert(name).inserted else { throw reader.invalid("tensor \(name) appears twice") }
            let rank = try reader.u32()
            guard rank <= 8 else { throw reader.invalid("tensor \(name) has \(rank) dimensions") }
            let dims = try (0..<rank).map { _ in
                let dim = try reader.u64()
                guard dim < 1 << 40 else { throw reader.invalid("tensor \(name) has a dimension of \(dim)") }
                return Int(dim)
            }
            let ggmlType = try reader.u32()
            guard let type = GGUFFile.tensorType(ggmlType) else {
                throw SAEPipeError.input(
                    "tensor \(name) uses ggml type \(ggmlType) (\(GGUFFile.ggmlTypeName(ggmlType))), which saepipe cannot dequantize",
                    file: path, hint: "use an F32, F16, BF16, Q8_0, Q4_0 or Q4_1 GGUF")
            }
            let offset = try reader.u64()
            guard offset < UInt64(file.size) else { throw reader.invalid("tensor \(name) starts past the end of the file") }
            infos.append(Info(name: name, dims: dims, type: type, offset: Int(offset)))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment <= 1 << 16, alignment % 8 == 0 else {
            throw reader.invalid("general.alignment \(alignment) is not a multiple of 8 up to 65536")
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        var tensors: [String: TensorView] = [:]
        for info in infos {
            // GGUF lists dimensions innermost first; PyTorch order is the reverse.
            let shape = Array(info.dims.reversed())
            guard let elements = TensorType.elementCount(shape), let bytes = info.type.byteCount(elements: elements),
                info.offset % alignment == 0, dataStart <= file.size, info.offset <= file.size - dataStart,
                bytes <= file.size - dataStart - info.offset
            else { throw reader.invalid("tensor \(info.name) data lies outside the file or is misaligned") }
            tensors[info.name] = TensorView(
                name: info.name, type: info.type, shape: shape, file: file, offset: dataStart + info.offset,
                byteCount: bytes)
        }
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorNames = infos.map(\.name)
    }

    public func tensor(_ name: String) throws -> TensorView {
        guard let tensor = tensors[name] else {
            throw SAEPipeError.input("the GGUF has no tensor \(name)", file: path)
        }
        return tensor
    }

    static func tensorType(_ ggml: UInt32) -> TensorType? {
        switch ggml {
        case 0: return .f32
        case 1: return .f16
        case 2: return .q4_0
        case 3: return .q4_1
        case 8: return .q8_0
        case 24: return .i8
        case 25: return .i16
        case 26: return .i32
        case 27: return .i64
        case 28: return .f64
        case 30: return .bf16
        default: return nil
        }
    }

    static func ggmlTypeName(_ ggml: UInt32) -> String {
        let names: [UInt32: String] = [
            6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
            16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
        ]
        return names[ggml] ?? "unknown"
    }
}

/// A bounds-checked cursor over a mapped GGUF file.
struct GGUFReader {
    let file: MappedFile
    var position = 0

    func invalid(_ why: String) -> SAEPipeError {
        SAEPipeError.input("corrupt GGUF: \(why) (at byte \(position))", file: file.path,
                           hint: "re-download the model file")
    }

    mutating func take(_ count: Int) throws -> Int {
        guard count >= 0, position <= file.size - count else { throw invalid("truncated") }
        defer { position += count }
        return position
    }

    mutating func u8() throws -> UInt8 { file.load(UInt8.self, at: try take(1)) }
    mutating func u32() throws -> UInt32 { file.load(UInt32.self, at: try take(4)) }
    mutating func u64() throws -> UInt64 { file.load(UInt64.self, at: try take(8)) }

    mutating func string() throws -> String {
        let length = try u64()
        guard length < 1 << 30 else { throw invalid("string length \(length)") }
        let start = try take(Int(length))
        return String(decoding: UnsafeRawBufferPointer(start: file.bytes + start, count: Int(length)), as: UTF8.self)
    }

    /// Arrays nest at most this deep: real files use flat arrays, and each level recurses.
    static let maximumArrayDepth = 4

    mutating func value(type: UInt32, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try u8()))
        case 1: return .int(Int64(Int8(bitPattern: try u8())))
        case 2: return .uint(UInt64(file.load(UInt16.self, at: try take(2))))
        case 3: return .int(Int64(file.load(Int16.self, at: try take(2))))
        case 4: return .uint(UInt64(try u32()))
        case 5: return .int(Int64(file.load(Int32.self, at: try take(4))))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7: return .bool(try u8() != 0)
        case 8: return .string(try string())
        case 9:
            let elementType = try u32()
            let count = try u64()
            guard depth < GGUFReader.maximumArrayDepth else { throw invalid("arrays nest deeper than \(GGUFReader.maximumArrayDepth)") }
            // Every element takes at least one byte, so the rest of the file bounds the count.
            guard count <= UInt64(file.size - position) else { throw invalid("array of \(count) elements") }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<count { items.append(try value(type: elementType, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw invalid("unknown metadata value type \(type)")
        }
    }
}
