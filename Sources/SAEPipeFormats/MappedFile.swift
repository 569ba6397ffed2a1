import Foundation
import SAEPipeCore

/// A read-only memory map of a whole file; weights are read in place, never copied whole.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let bytes: UnsafeRawPointer
    private let isMapped: Bool

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw SAEPipeError.input("cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SAEPipeError.input("cannot stat: \(String(cString: strerror(errno)))", file: path)
        }
        // Only regular files: a FIFO or device would block or map something that is not a file.
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SAEPipeError.input("not a regular file", file: path, hint: "pass a file, not a FIFO, device or socket")
        }
        size = Int(info.st_size)
        isMapped = size > 0
        if size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SAEPipeError.input("cannot map: \(String(cString: strerror(errno)))", file: path)
        }
        bytes = UnsafeRawPointer(mapped)
    }

    /// An in-memory copy standing in for a file (fuzzing and tests read parsers this way).
    public init(copying data: UnsafeRawBufferPointer, path: String) {
        self.path = path
        size = data.count
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, data.count), alignment: 64)
        if let base = data.baseAddress, data.count > 0 { storage.copyMemory(from: base, byteCount: data.count) }
        bytes = UnsafeRawPointer(storage)
        isMapped = false
    }

    deinit {
        if isMapped { munmap(UnsafeMutableRawPointer(mutating: bytes), size) }
        else { UnsafeMutableRawPointer(mutating: bytes).deallocate() }
    }

    /// Reads a little-endian integer at a byte offset (caller checks bounds).
    @inline(__always)
    public func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
