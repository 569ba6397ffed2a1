import Crypto
import Foundation

public enum Hashing {
    public static func sha256Hex(_ text: String) -> String {
        hex(SHA256.hash(data: Data(text.utf8)))
    }

    public static func sha256Hex(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    /// Streams the file in 4 MiB reads, so any size hashes in bounded memory.
    public static func sha256Hex(fileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SAEPipeError.runtime("cannot open file to hash it", file: path)
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = try handle.read(upToCount: 4 << 20) ?? Data()
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// Remembers file hashes by (path, size, mtime, inode) so unchanged inputs such as
/// model weights are not re-hashed on every run.
public final class FileHashCache: @unchecked Sendable {
    private struct Entry: Codable {
        var size: UInt64
        var mtime: Double
        var inode: UInt64
        var sha256: String
    }

    private let storePath: String
    private var entries: [String: Entry]
    private var dirty = false
    private let lock = NSLock()

    public init(storePath: String) {
        self.storePath = storePath
        if let data = FileManager.default.contents(atPath: storePath),
            let decoded = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            entries = decoded
        } else {
            entries = [:]
        }
    }

    public func hash(of path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var info = stat()
        guard stat(absolute, &info) == 0 else {
            throw SAEPipeError.input("input file does not exist", file: path)
        }
        // Hashing a FIFO or device would block forever (or read without end).
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SAEPipeError.input("input is \(FileSystem.kindDescription(absolute) ?? "not a file"), not a regular file", file: path)
        }
        let mtime = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        let size = UInt64(info.st_size), inode = UInt64(info.st_ino)
        lock.lock()
        if let known = entries[absolute], known.size == size, known.mtime == mtime, known.inode == inode {
            lock.unlock()
            return known.sha256
        }
        lock.unlock()
        let digest = try Hashing.sha256Hex(fileAt: absolute)
        lock.lock()
        entries[absolute] = Entry(size: size, mtime: mtime, inode: inode, sha256: digest)
        dirty = true
        lock.unlock()
        return digest
    }

    public func save() {
        lock.lock()
        defer { lock.unlock() }
        guard dirty, let data = try? JSONEncoder().encode(entries) else { return }
        try? FileSystem.writeAtomically(data, to: storePath)
        dirty = false
    }
}
