import Foundation

/// Where in a source text something came from: a config file, a `--set` override.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// The single error type of saepipe: a kind that decides the exit status, a message,
/// where it came from, and what would fix it.
public struct SAEPipeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Bad usage, config, model file or data: exit status 2.
        case input
        /// Something failed while running: exit status 1.
        case runtime
    }

    public var kind: Kind
    public var message: String
    public var location: SourceLocation?
    public var keyPath: String?
    public var hint: String?
    /// The file the problem is in, when there is no line/column (a data or model file).
    public var file: String?

    public init(
        _ kind: Kind, _ message: String, location: SourceLocation? = nil, keyPath: String? = nil,
        file: String? = nil, hint: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.location = location
        self.keyPath = keyPath
        self.file = file
        self.hint = hint
    }

    public static func input(
        _ message: String, at location: SourceLocation? = nil, key: String? = nil, file: String? = nil,
        hint: String? = nil
    ) -> SAEPipeError {
        SAEPipeError(.input, message, location: location, keyPath: key, file: file, hint: hint)
    }

    public static func runtime(_ message: String, file: String? = nil, hint: String? = nil) -> SAEPipeError {
        SAEPipeError(.runtime, message, file: file, hint: hint)
    }

    public var exitCode: Int32 { kind == .input ? 2 : 1 }

    public var description: String {
        var text = ""
        if let location { text += "\(location): " } else if let file { text += "\(file): " }
        text += "error: "
        if let keyPath, !message.contains("`\(keyPath)`") { text += "\(keyPath): " }
        text += message
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

extension SAEPipeError: LocalizedError {
    public var errorDescription: String? { description }
}
