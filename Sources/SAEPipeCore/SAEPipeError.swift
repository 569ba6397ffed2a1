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
    /// Further problems found in the same pass (all of a config's errors are reported together).
    public var others: [SAEPipeError] = []

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

    /// How many problems one report shows before it summarizes the rest.
    public static let reportLimit = 20

    /// One error carrying all of `errors`, in file order (line, then column; those without a
    /// place after, as found); duplicates are dropped.
    public static func combining(_ errors: [SAEPipeError]) -> SAEPipeError {
        var seen = Set<String>()
        let unique = errors.flatMap { [$0.withoutOthers] + $0.others }.filter { seen.insert($0.description).inserted }
        // Files rank in the order they first appear; errors without a place come last.
        var fileRank: [String: Int] = [:]
        for error in unique { if let file = error.location?.file, fileRank[file] == nil { fileRank[file] = fileRank.count } }
        let ordered = unique.enumerated().sorted { a, b in
            func key(_ item: (offset: Int, element: SAEPipeError)) -> (Int, Int, Int, Int) {
                guard let location = item.element.location else { return (Int.max, 0, 0, item.offset) }
                return (fileRank[location.file] ?? 0, location.line, location.column, item.offset)
            }
            return key(a) < key(b)
        }.map(\.element)
        guard var first = ordered.first else { return SAEPipeError.input("no errors") }
        first.others = Array(ordered.dropFirst())
        return first
    }

    /// Every problem this error reports: itself first, then the others.
    public var all: [SAEPipeError] { [withoutOthers] + others }

    private var withoutOthers: SAEPipeError {
        var copy = self
        copy.others = []
        return copy
    }

    public var description: String {
        guard !others.isEmpty else { return single }
        let shown = all.prefix(SAEPipeError.reportLimit).map(\.single)
        var text = shown.joined(separator: "\n")
        if all.count > shown.count { text += "\n… and \(all.count - shown.count) more" }
        return text + "\n\(all.count) problems"
    }

    /// This error alone, without the others.
    private var single: String {
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
