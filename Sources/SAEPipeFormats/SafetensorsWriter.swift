import Foundation
import SAEPipeCore

/// Builds a `.safetensors` file: tensors in the order added, header keys sorted so
/// the same tensors always give the same bytes.
public struct SafetensorsWriter {
    private var entries: [(name: String, dtype: String, shape: [Int], bytes: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public func contains(_ name: String) -> Bool { entries.contains { $0.name == name } }

    public mutating func add(_ name: String, float32 values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        entries.append((name, "F32", shape, values.withUnsafeBytes { Data($0) }))
    }

    public mutating func add(_ name: String, int32 values: [Int32], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        entries.append((name, "I32", shape, values.withUnsafeBytes { Data($0) }))
    }

    /// The whole file: 8-byte header length, JSON header padded with spaces to 8 bytes, data.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for entry in entries {
            header[entry.name] = [
                "dtype": entry.dtype, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count],
            ] as [String: Any]
            offset += entry.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for entry in entries { data.append(entry.bytes) }
        return data
    }

    /// Writes to a temporary file and renames it into place.
    public func write(to path: String) throws {
        try FileSystem.writeAtomically(try serialized(), to: path)
    }
}
