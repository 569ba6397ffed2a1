import Foundation

/// An exclusive `flock` on a lock file, released by `release()`, on deinit or when the
/// process dies (so a killed run never leaves a lock held). The holder's pid and host are
/// written into the file so a waiter can say whom it waits for.
public final class FileLock: @unchecked Sendable {
    private var fd: Int32

    /// Blocks until the lock is held; `waiting` is called first (with the holder's pid, when
    /// known) if another process holds it.
    public init(path: String, waiting: (Int32?) -> Void = { _ in }) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SAEPipeError.runtime("cannot open lock file: \(String(cString: strerror(errno)))", file: path)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 300)
            let count = pread(fd, &buffer, 299, 0)
            let holder = count > 0 ? Int32(String(decoding: buffer[0..<count], as: UTF8.self)
                .split(whereSeparator: \.isWhitespace).first ?? "") : nil
            waiting(holder)
            while flock(fd, LOCK_EX) != 0 {
                if errno != EINTR {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw SAEPipeError.runtime("cannot lock: \(reason)", file: path)
                }
            }
        }
        let pid = Array("\(getpid()) \(FileSystem.hostName)\n".utf8)
        ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
