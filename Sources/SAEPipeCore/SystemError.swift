import Foundation

extension SAEPipeError {
    /// An error from the system (Foundation's file APIs or a POSIX call) as a saepipe error that
    /// names the operation, the path and the reason in words (exit 1); saepipe errors pass through.
    public static func fromSystem(_ error: Error, operation fallback: String? = nil, path fallbackPath: String? = nil) -> SAEPipeError {
        if let error = error as? SAEPipeError { return error }
        let ns = error as NSError
        let path = (ns.userInfo[NSFilePathErrorKey] as? String)
            ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? fallbackPath
        let posix = posixCode(of: ns)
        let operation: String
        if ns.domain == NSCocoaErrorDomain, (256...267).contains(ns.code) || ns.code == 4 {
            operation = "read"
        } else if ns.domain == NSCocoaErrorDomain, (512...642).contains(ns.code) {
            operation = "write"
        } else {
            operation = fallback ?? "access"
        }
        let reason = posix.map { "\(String(cString: strerror($0))) (\(posixName($0)))" } ?? cocoaReason(ns)
        return SAEPipeError.runtime(
            "cannot \(operation)\(path.map { " \($0)" } ?? ""): \(reason)", file: path, hint: hint(for: posix))
    }

    /// Runs `body`, turning a system error into one that names `operation` and `path` (a
    /// FileHandle's errors carry neither).
    public static func naming<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw fromSystem(error, operation: operation, path: path) }
    }

    static func posixCode(of error: NSError) -> Int32? {
        if error.domain == NSPOSIXErrorDomain { return Int32(error.code) }
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError { return posixCode(of: underlying) }
        if error.domain == NSCocoaErrorDomain {
            switch error.code {
            case 640: return ENOSPC
            case 642: return EROFS
            case 257, 513: return EACCES
            case 4, 260: return ENOENT
            default: return nil
            }
        }
        return nil
    }

    static func posixName(_ code: Int32) -> String {
        switch code {
        case ENOSPC: return "ENOSPC"
        case EACCES: return "EACCES"
        case EPERM: return "EPERM"
        case EROFS: return "EROFS"
        case ENOENT: return "ENOENT"
        case EDQUOT: return "EDQUOT"
        case EIO: return "EIO"
        case EMFILE: return "EMFILE"
        case EEXIST: return "EEXIST"
        case ENOTDIR: return "ENOTDIR"
        default: return "errno \(code)"
        }
    }

    static func cocoaReason(_ error: NSError) -> String {
        error.localizedFailureReason ?? "\(error.domain) error \(error.code)"
    }

    static func hint(for code: Int32?) -> String? {
        switch code {
        case ENOSPC, EDQUOT: return "free disk space (or point paths.artifacts/paths.outputs elsewhere) and run again; finished stages stay cached"
        case EACCES, EPERM: return "check the permissions of this path, or point paths.artifacts/paths.outputs somewhere writable"
        case EROFS: return "this file system is read-only; point paths.artifacts/paths.outputs at a writable one"
        default: return nil
        }
    }
}
