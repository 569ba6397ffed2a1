import Foundation

/// File operations that never leave a half-written file where a complete one is expected.
public enum FileSystem {
    /// Writes to a temporary sibling, flushes it, then renames it over `path`.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw SAEPipeError.fromSystem(error, operation: "create the directory for", path: path)
        }
        let temporary = url.deletingLastPathComponent()
            // Unique per call: threads of one process (a sweep's concurrent variants) may write the same file.
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ownerTag)-\(UUID().uuidString.prefix(8))")
        do {
            try data.write(to: temporary)
            try syncFile(temporary.path)
            try rename(from: temporary.path, to: path)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SAEPipeError.fromSystem(error, operation: "write", path: path)
        }
    }

    /// Builds a directory under a unique temporary name beside `path` and swaps it into place, so a
    /// reader never sees a half-built or mixed directory; on failure the temporary one is removed.
    /// Leftovers of processes that died mid-build (`.tmp-NAME-PID-…`, `.old-NAME-PID-…`) go first.
    @discardableResult
    /// `alreadyLocked`: the caller holds a lock for `path` (cache entries), so the swap needs no other.
    public static func replaceDirectory<Result>(
        at path: String, alreadyLocked: Bool = false, build: (_ temporary: String) throws -> Result
    ) throws -> Result {
        let parent = FileSystem.parent(of: path).isEmpty ? "." : FileSystem.parent(of: path)
        let name = FileSystem.lastComponent(of: path)
        try createDirectory(parent)
        removeLeftovers(of: name, in: parent)
        let token = "\(ownerTag)-\(UUID().uuidString.prefix(8))"
        let temporary = "\(parent)/.tmp-\(name)-\(token)"
        try createDirectory(temporary)
        do {
            let result = try build(temporary)
            // Two processes swapping the same directory must not interleave their renames.
            let lock = alreadyLocked ? nil : try FileLock(path: "\(parent)/.lock-\(name)")
            defer { lock?.release() }
            let old = "\(parent)/.old-\(name)-\(token)"
            let replacing = exists(path)
            if replacing { try rename(from: path, to: old) }
            do {
                try rename(from: temporary, to: path)
            } catch {
                if replacing { try? rename(from: old, to: path) }
                throw error
            }
            remove(old)
            return result
        } catch {
            remove(temporary)
            throw error
        }
    }

    /// Removes `.tmp-NAME-PID-…` and `.old-NAME-PID-…` in `parent` whose process is gone.
    static func removeLeftovers(of name: String, in parent: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for entry in entries where entry.hasPrefix(".tmp-\(name)-") || entry.hasPrefix(".old-\(name)-") {
            if let owner = leftoverOwner(entry), isGone(owner) { remove("\(parent)/\(entry)") }
        }
    }

    /// Removes every temporary that saepipe names with its pid in `directory` (not recursive)
    /// whose process is gone: `.tmp-NAME-PID-TOKEN`, `.old-NAME-PID-TOKEN` (directory swaps) and
    /// `.NAME.tmp-PID[-TOKEN]` (atomic file writes). Returns the names removed.
    @discardableResult
    public static func removeDeadLeftovers(in directory: String) -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for entry in entries.sorted() {
            guard let owner = leftoverOwner(entry), isGone(owner) else { continue }
            remove("\(directory)/\(entry)")
            removed.append(entry)
        }
        return removed
    }

    /// Who made a temporary: its pid, and a tag of its host's name (names without one are from
    /// versions that wrote the pid alone, taken to be from this host).
    struct LeftoverOwner: Equatable {
        var pid: Int32
        var host: String?
    }

    /// `PID@HOST` in temporary names: on a filesystem that several machines share (a Slurm
    /// cluster's), a pid alone would let one node remove another node's live temporaries.
    public static let ownerTag = "\(getpid())@\(hostTag)"

    /// The first 8 hex digits of the SHA-256 of this machine's host name (host names may hold '-').
    public static let hostTag = String(Hashing.sha256Hex(hostName).prefix(8))

    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The owner named in one of saepipe's temporary names, or nil when `entry` is not one.
    static func leftoverOwner(_ entry: String) -> LeftoverOwner? {
        guard entry.hasPrefix(".") else { return nil }
        let tag: Substring
        if entry.hasPrefix(".tmp-") || entry.hasPrefix(".old-") {
            // NAME may contain '-': the owner and the 8-character token are the last two parts.
            let parts = entry.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count >= 4, parts.last!.count == 8 else { return nil }
            tag = parts[parts.count - 2]
        } else {
            guard let marker = entry.range(of: ".tmp-", options: .backwards), marker.lowerBound > entry.index(after: entry.startIndex) else {
                return nil
            }
            tag = entry[marker.upperBound...].prefix { $0 != "-" }
        }
        let pieces = tag.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard let pid = Int32(pieces[0]) else { return nil }
        return LeftoverOwner(pid: pid, host: pieces.count == 2 ? String(pieces[1]) : nil)
    }

    /// True when the owner ran on this host and no process has its pid any more (ours never
    /// counts as gone; another host's temporaries are never ours to judge).
    static func isGone(_ owner: LeftoverOwner) -> Bool {
        guard owner.host == nil || owner.host == hostTag else { return false }
        let pid = owner.pid
        return pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Data(text.utf8), to: path)
    }

    /// POSIX rename: atomic within one file system, replaces an existing file or empty directory.
    public static func rename(from source: String, to destination: String) throws {
        guard Foundation.rename(source, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            throw SAEPipeError.runtime("cannot rename \(source) to \(destination): \(reason)", file: destination)
        }
    }

    public static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// True for a regular file (after following symlinks): not a FIFO, device, socket or directory.
    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// What kind of thing a path names, for errors ("a FIFO", "a directory", …); nil when absent.
    public static func kindDescription(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    /// The directory part of a path, as NSString's `deletingLastPathComponent` gives it ("" for a
    /// bare name, "/" for a file at the root). Foundation's own traps on one-character paths
    /// (swift-corelibs-foundation 6.3: `"a"` crashes it), so saepipe never calls it.
    public static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var head = trimmed[..<slash]
        while head.count > 1, head.hasSuffix("/") { head = head.dropLast() }
        return String(head)
    }

    /// The last component of a path, as NSString's `lastPathComponent` gives it (see `parent(of:)`).
    public static func lastComponent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard trimmed != "/", let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// For a path that does not exist: the entry of its directory with the nearest name
    /// (a typo, a missing or extra `s`), as the user would write it; nil when none is near.
    public static func closestEntry(to path: String, where keep: (String) -> Bool = { _ in true }) -> String? {
        let url = URL(fileURLWithPath: path)
        let directory = FileSystem.parent(of: path)
        let listed = directory.isEmpty ? "." : directory
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: listed) else { return nil }
        let candidates = entries.filter { !$0.hasPrefix(".") && keep(directory.isEmpty ? $0 : "\(directory)/\($0)") }
        guard let name = ConfigSchema.closest(to: url.lastPathComponent, in: candidates) else { return nil }
        return directory.isEmpty ? name : "\(directory)/\(name)"
    }

    public static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    public static func createDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The visible subdirectories directly inside `directory`, sorted (none when it is absent).
    public static func listDirectories(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { !$0.hasPrefix(".") && isDirectory("\(directory)/\($0)") }.sorted()
    }

    /// Regular files below `directory`, as paths relative to it, sorted.
    public static func listFiles(in directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if !isDirectory((directory as NSString).appendingPathComponent(relative)) { files.append(relative) }
        }
        return files.sorted()
    }

    public static func fileSize(_ path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_size)
    }

    /// Copies a file or directory tree, replacing what is at `destination`.
    public static func copyReplacing(_ source: String, to destination: String) throws {
        remove(destination)
        try FileManager.default.createDirectory(
            atPath: FileSystem.parent(of: destination), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: destination)
    }
}
