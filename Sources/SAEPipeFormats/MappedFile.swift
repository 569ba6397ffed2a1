import Foundation
import SAEPipeCore

/// A read-only memory map of a whole file; weights are read in place, never copied whole.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let bytes: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SAEPipeError.input("cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SAEPipeError.input("cannot stat: \(String(cString: strerror(errno)))", file: path)
        }
        size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SAEPipeError.input("cannot map: \(String(cString: strerror(errno)))", file: path)
        }
        bytes = UnsafeRawPointer(mapped)
    }

    deinit {
        if size > 0 { munmap(UnsafeMutableRawPointer(mutating: bytes), size) }
        else { UnsafeMutableRawPointer(mutating: bytes).deallocate() }
    }

    /// Reads a little-endian integer at a byte offset (caller checks bounds).
    @inline(__always)
    public func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
