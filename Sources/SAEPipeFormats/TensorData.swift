import Foundation
import SAEPipeCore

/// Element types found in safetensors and GGUF files.
public enum TensorType: Sendable, Equatable, CustomStringConvertible {
    case f32, f16, bf16, f64
    case bool, u8, i8, i16, i32, i64
    /// 32-element blocks: f16 scale + 32 int8.
    case q8_0
    /// 32-element blocks: f16 scale + 16 bytes of 4-bit values (offset 8).
    case q4_0
    /// 32-element blocks: f16 scale, f16 min + 16 bytes of 4-bit values.
    case q4_1

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .bool: return "BOOL"
        case .u8: return "U8"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .q8_0: return "Q8_0"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        }
    }

    /// Elements per block and bytes per block (1 element for plain types).
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32, .i32: return (1, 4)
        case .f16, .bf16, .i16: return (1, 2)
        case .f64, .i64: return (1, 8)
        case .bool, .u8, .i8: return (1, 1)
        case .q8_0: return (32, 34)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64, .q8_0, .q4_0, .q4_1: return true
        default: return false
        }
    }

    /// Bytes for `count` elements, nil when `count` is not a whole number of blocks.
    /// The product of a shape's dimensions; nil when one is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var elements = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            elements = product
        }
        return elements
    }

    public func byteCount(elements count: Int) -> Int? {
        let (perBlock, bytes) = block
        guard count % perBlock == 0 else { return nil }
        let (product, overflow) = (count / perBlock).multipliedReportingOverflow(by: bytes)
        return overflow ? nil : product
    }
}

/// Decoding any supported element type to Float32.
public enum Dequantize {
    /// Writes `count` floats decoded from `source` (laid out as `type`) into `destination`.
    public static func toFloat(
        _ type: TensorType, source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) throws {
        switch type {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            for i in 0..<count { destination[i] = half(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                destination[i] = Float(bitPattern: bits)
            }
        case .f64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        case .q8_0:
            for block in 0..<(count / 32) {
                let base = source + block * 34
                let scale = half(base.loadUnaligned(as: UInt16.self))
                let values = (base + 2).assumingMemoryBound(to: Int8.self)
                for j in 0..<32 { destination[block * 32 + j] = scale * Float(values[j]) }
            }
        case .q4_0:
            for block in 0..<(count / 32) {
                let base = source + block * 18
                let scale = half(base.loadUnaligned(as: UInt16.self))
                let packed = (base + 2).assumingMemoryBound(to: UInt8.self)
                // Low nibbles are elements 0–15, high nibbles 16–31 (ggml's layout).
                for j in 0..<16 {
                    destination[block * 32 + j] = scale * Float(Int(packed[j] & 0x0F) - 8)
                    destination[block * 32 + j + 16] = scale * Float(Int(packed[j] >> 4) - 8)
                }
            }
        case .q4_1:
            for block in 0..<(count / 32) {
                let base = source + block * 20
                let scale = half(base.loadUnaligned(as: UInt16.self))
                let minimum = half(base.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                let packed = (base + 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<16 {
                    destination[block * 32 + j] = scale * Float(packed[j] & 0x0F) + minimum
                    destination[block * 32 + j + 16] = scale * Float(packed[j] >> 4) + minimum
                }
            }
        default:
            throw SAEPipeError.input("tensor type \(type) holds no floating-point weights")
        }
    }

    @inline(__always)
    static func half(_ bits: UInt16) -> Float { Float(Float16(bitPattern: UInt16(littleEndian: bits))) }
}

/// One tensor inside a mapped weights file.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let type: TensorType
    /// Row-major shape, outermost dimension first (PyTorch order).
    public let shape: [Int]
    public let file: MappedFile
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }

    /// The tensor as Float32, decoding F16/BF16/quantized blocks.
    public func floats() throws -> [Float] {
        let count = elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try Dequantize.toFloat(type, source: file.bytes + offset, count: count, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Integer tensors (token ids in reference files) as Int.
    public func integers() throws -> [Int] {
        let base = file.bytes + offset
        switch type {
        case .i32: return (0..<elementCount).map { Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .i64: return (0..<elementCount).map { Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .u8, .bool: return (0..<elementCount).map { Int(base.load(fromByteOffset: $0, as: UInt8.self)) }
        default:
            throw SAEPipeError.input("tensor \(name) is \(type), not an integer type", file: file.path)
        }
    }
}
