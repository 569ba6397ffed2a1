import Foundation
import SAEPipeCore

/// The on-disk activation set: `acts.mmap` [n, d] little-endian row-major (float32 or
/// float16), `tokens.mmap` int32 ids of every window back to back, `positions.mmap`
/// int32 index into tokens.mmap of each activation row, and `meta.json`.
public enum ActivationStore {
    public enum DType: String, Sendable, Decodable {
        case float32, float16
        public var bytes: Int { self == .float32 ? 4 : 2 }
    }

    /// Appends rows to a file through a buffer, so memory stays bounded.
    public final class RowWriter {
        private let handle: FileHandle
        private let path: String
        private var buffer = Data()
        public let dtype: DType
        public private(set) var rows = 0

        public init(path: String, dtype: DType) throws {
            // open(2), not FileManager.createFile, which writes a new file and renames it over the path.
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw SAEPipeError.fromSystem(NSError(domain: NSPOSIXErrorDomain, code: Int(errno)), operation: "create", path: path)
            }
            self.handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            self.path = path
            self.dtype = dtype
        }

        public func append(_ row: UnsafeBufferPointer<Float>) throws {
            switch dtype {
            case .float32:
                buffer.append(UnsafeBufferPointer(start: row.baseAddress, count: row.count))
            case .float16:
                for value in row { withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { buffer.append(contentsOf: $0) } }
            }
            rows += 1
            if buffer.count >= 8 << 20 { try flush() }
        }

        public func flush() throws {
            try SAEPipeError.naming("write", path) { try handle.write(contentsOf: buffer) }
            buffer.removeAll(keepingCapacity: true)
        }

        public func close() throws {
            try flush()
            try SAEPipeError.naming("write", path) {
                try handle.synchronize()
                try handle.close()
            }
        }
    }

    public static func writeInt32(_ values: [Int32], to path: String) throws {
        try SAEPipeError.naming("write", path) { try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path)) }
    }

    public static func readInt32(_ path: String) throws -> [Int32] {
        guard let data = FileManager.default.contents(atPath: path), data.count % 4 == 0 else {
            throw SAEPipeError.input("cannot read int32 array", file: path)
        }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)).map { Int32(littleEndian: $0) } }
    }
}
