import Collections
import Foundation

/// The type a config key must have; sections nest.
public indirect enum ConfigType: Sendable {
    case bool
    case int(ClosedRange<Int>? = nil)
    case double(ClosedRange<Double>? = nil)
    case string
    /// A string that names one directory entry: no `/`, not `.` or `..` (run names).
    case fileName
    case choice([String])
    case list(ConfigType)
    case section(ConfigSection)
    /// User-named entries that all share one section's keys (e.g. `datasets: {A: …, B: …}`).
    case table(ConfigSection)
    /// User-named keys whose values share one type (e.g. row filters `{language: Python}`).
    case dictionary(ConfigType)
    /// Any value, typed as YAML would type it (sweep values, checked later against their own key).
    case any

    var name: String {
        switch self {
        case .bool: return "a boolean (true/false)"
        case .int(let range):
            return range.map { "an integer in \($0.lowerBound)...\($0.upperBound)" } ?? "an integer"
        case .double(let range):
            return range.map { "a number in \($0.lowerBound)...\($0.upperBound)" } ?? "a number"
        case .string: return "a string"
        case .fileName: return "a file name (letters, digits, `.`, `_`, `-`, `=`, `,`, `+`)"
        case .choice(let options): return "one of " + options.map { "`\($0)`" }.joined(separator: ", ")
        case .list(let element): return "a list of \(element.name.replacingOccurrences(of: "a ", with: ""))"
        case .section: return "a mapping"
        case .table: return "a mapping of named entries"
        case .dictionary(let element): return "a mapping of names to \(element.name.replacingOccurrences(of: "a ", with: ""))"
        case .any: return "a value"
        }
    }
}

public struct ConfigField: Sendable {
    public var name: String
    public var type: ConfigType
    /// `.null` means optional with no value; sections default to their fields' defaults.
    public var defaultValue: ConfigValue
    public var required: Bool
    public var doc: String

    public init(
        _ name: String, _ type: ConfigType, default defaultValue: ConfigValue = .null, required: Bool = false,
        doc: String
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.required = required
        self.doc = doc
    }
}

public struct ConfigSection: Sendable {
    public var fields: [ConfigField]
    public init(_ fields: [ConfigField]) { self.fields = fields }

    public func field(_ name: String) -> ConfigField? { fields.first { $0.name == name } }
}

/// One schema for YAML and JSON configs: decodes a positioned node tree into a
/// resolved `ConfigValue`, filling defaults and rejecting what it does not know.
public struct ConfigSchema: Sendable {
    public var root: ConfigSection

    public init(_ root: ConfigSection) { self.root = root }

    public func decode(_ node: YAMLNode) throws -> ConfigValue {
        try decodeWithLocations(node).value
    }

    /// Decodes the whole tree, reporting every problem together (in file order, up to a
    /// limit) rather than the first one, and records where each key's value was written.
    public func decodeWithLocations(_ node: YAMLNode) throws -> (value: ConfigValue, locations: [String: SourceLocation]) {
        let context = DecodeContext()
        let value = try decode(node, as: .section(root), path: "", context)
        if !context.errors.isEmpty { throw SAEPipeError.combining(context.errors) }
        return (value, context.locations)
    }

    /// What one decode pass collects: problems found so far and where values stand.
    final class DecodeContext {
        var errors: [SAEPipeError] = []
        var locations: [String: SourceLocation] = [:]

        /// Runs one key's decoding; its error is recorded and the key decodes to null, so
        /// the keys after it are still checked.
        func attempt(_ body: () throws -> ConfigValue) throws -> ConfigValue {
            do { return try body() } catch let error as SAEPipeError {
                errors.append(error)
                return .null
            }
        }
    }

    /// The default of every key, as the resolved config would show it.
    public func defaults() -> ConfigValue {
        // A section with no node decodes to its defaults and cannot fail unless a key is required.
        (try? decodeMissing(.section(root), path: "", field: nil)) ?? .map([:])
    }

    /// Every key that takes a value (`train.lr`, `datasets.A.path`; a table's entries as
    /// `<name>`), in schema order: what `--set` and sweep axes can name.
    public func keyPaths() -> [String] {
        var result: [String] = []
        func walk(_ section: ConfigSection, _ prefix: String) {
            for field in section.fields {
                let path = prefix.isEmpty ? field.name : "\(prefix).\(field.name)"
                switch field.type {
                case .section(let child): walk(child, path)
                case .table(let child): walk(child, "\(path).<name>")
                default: result.append(path)
                }
            }
        }
        walk(root, "")
        return result
    }

    /// `path → doc` for every documented key, for annotated output.
    public func docs() -> [String: String] {
        var result: [String: String] = [:]
        func walk(_ section: ConfigSection, _ prefix: String) {
            for field in section.fields {
                let path = prefix.isEmpty ? field.name : "\(prefix).\(field.name)"
                result[path] = field.doc
                if case .section(let child) = field.type { walk(child, path) }
            }
        }
        walk(root, "")
        return result
    }

    /// Every key with its type, default and doc, as Markdown: the top-level keys in one table,
    /// then one table per section under its own heading. Sibling sections with the same keys
    /// (`datasets.A`, `datasets.B`) are described once, as `datasets.<A|B>.key`.
    public func markdownReference() -> String {
        func row(_ path: String, _ field: ConfigField) -> String {
            let value = field.required ? "required" : field.defaultValue.isNull ? "—" : "`\(field.defaultValue.scalarDescription)`"
            let type = field.type.name.replacingOccurrences(of: "|", with: "\\|")
            return "| `\(path)` | \(type) | \(value) | \(field.doc) |"
        }
        func rows(_ section: ConfigSection, _ prefix: String) -> [String] {
            // Sections whose children are all sections with the same keys collapse into one set of rows.
            let children = section.fields.compactMap { field -> ConfigSection? in
                if case .section(let child) = field.type { return child } else { return nil }
            }
            if children.count == section.fields.count, children.count > 1,
                Set(children.map { $0.fields.map(\.name) }).count == 1 {
                let names = section.fields.map(\.name).joined(separator: ",")
                return rows(children[0], "\(prefix).{\(names)}")
            }
            var result: [String] = []
            for field in section.fields {
                let path = prefix.isEmpty ? field.name : "\(prefix).\(field.name)"
                switch field.type {
                case .section(let child): result += rows(child, path)
                case .table(let child):
                    result.append("| `\(path).<name>` | mapping | | \(field.doc) |")
                    result += rows(child, "\(path).<name>")
                default: result.append(row(path, field))
                }
            }
            return result
        }
        let header = ["| key | type | default | meaning |", "|---|---|---|---|"]
        var text = ""
        let scalars = root.fields.filter { if case .section = $0.type { return false } else { return true } }
        text += "**Top level**\n\n" + (header + scalars.map { row($0.name, $0) }).joined(separator: "\n") + "\n"
        for field in root.fields {
            guard case .section(let child) = field.type else { continue }
            var note = field.doc
            let subsections = child.fields.filter { if case .section = $0.type { return true } else { return false } }
            if subsections.count == child.fields.count, subsections.count > 1 {
                note += " (" + subsections.map { "`\($0.name)`: \($0.doc)" }.joined(separator: "; ") + ")"
            }
            text += "\n**`\(field.name)`** — \(note)\n\n" + (header + rows(child, field.name)).joined(separator: "\n") + "\n"
        }
        return text
    }

    // MARK: - Decoding

    private func decode(_ node: YAMLNode, as type: ConfigType, path: String, _ context: DecodeContext) throws -> ConfigValue {
        if !path.isEmpty { context.locations[path] = node.location }
        switch type {
        case .section(let section):
            guard case .mapping(let pairs, _) = node else {
                throw typeError(node, expected: type, path: path)
            }
            var given: [String: YAMLNode] = [:]
            for pair in pairs {
                guard let key = pair.key.scalarText else {
                    context.errors.append(SAEPipeError.input("keys must be plain names", at: pair.key.location, key: path))
                    continue
                }
                guard section.field(key) != nil else {
                    context.errors.append(unknownKey(key, in: section, path: path, at: pair.key.location))
                    continue
                }
                given[key] = pair.value
            }
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for field in section.fields {
                let childPath = join(path, field.name)
                entries[field.name] = try context.attempt {
                    if let child = given[field.name] {
                        return try decodeField(child, field, path: childPath, context)
                    }
                    return try decodeMissing(field.type, path: childPath, field: field, near: node)
                }
            }
            return .map(entries)
        case .table(let section):
            guard case .mapping(let pairs, _) = node else {
                throw typeError(node, expected: type, path: path)
            }
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for pair in pairs {
                guard let key = pair.key.scalarText, !key.isEmpty, !key.contains(".") else {
                    context.errors.append(SAEPipeError.input(
                        "entry names must be non-empty and contain no '.'", at: pair.key.location, key: path))
                    continue
                }
                entries[key] = try context.attempt { try decode(pair.value, as: .section(section), path: join(path, key), context) }
            }
            return .map(entries)
        case .dictionary(let element):
            guard case .mapping(let pairs, _) = node else {
                throw typeError(node, expected: type, path: path)
            }
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for pair in pairs {
                guard let key = pair.key.scalarText, !key.isEmpty else {
                    context.errors.append(SAEPipeError.input("keys must be plain names", at: pair.key.location, key: path))
                    continue
                }
                entries[key] = try context.attempt { try decode(pair.value, as: element, path: join(path, key), context) }
            }
            return .map(entries)
        case .any:
            return ConfigValue(untyped: node)
        case .list(let element):
            guard case .sequence(let items, _) = node else {
                // A single scalar where a list is expected is taken as a one-item list.
                if case .scalar = node, !isNull(node) { return .list([try decode(node, as: element, path: path, context)]) }
                throw typeError(node, expected: type, path: path)
            }
            return .list(try items.enumerated().map { index, item in
                try context.attempt { try decode(item, as: element, path: "\(path)[\(index)]", context) }
            })
        default:
            return try decodeScalar(node, as: type, path: path)
        }
    }

    private func decodeField(_ node: YAMLNode, _ field: ConfigField, path: String, _ context: DecodeContext) throws -> ConfigValue {
        context.locations[path] = node.location
        if isNull(node) {
            if field.required {
                throw SAEPipeError.input("`\(path)` is required and cannot be null", at: node.location, key: path)
            }
            switch field.type {
            case .section, .table: return try decodeMissing(field.type, path: path, field: field)
            default: return field.defaultValue  // an explicit null asks for the default
            }
        }
        return try decode(node, as: field.type, path: path, context)
    }

    private func decodeMissing(_ type: ConfigType, path: String, field: ConfigField?, near: YAMLNode? = nil) throws
        -> ConfigValue
    {
        if let field, field.required {
            throw SAEPipeError.input(
                "missing required key `\(path)`", at: near?.location, key: path,
                hint: "add `\(field.name):` (\(field.type.name)) — \(field.doc)")
        }
        switch type {
        case .section(let section):
            var entries: OrderedDictionary<String, ConfigValue> = [:]
            for child in section.fields {
                entries[child.name] = try decodeMissing(child.type, path: join(path, child.name), field: child, near: near)
            }
            return .map(entries)
        default:
            return field?.defaultValue ?? .null
        }
    }

    private func decodeScalar(_ node: YAMLNode, as type: ConfigType, path: String) throws -> ConfigValue {
        guard case .scalar(let text, let quoted, let location) = node else {
            throw typeError(node, expected: type, path: path)
        }
        let plain = !quoted
        switch type {
        case .string:
            return .string(text)
        case .fileName:
            if let problem = ConfigSchema.fileNameProblem(text) {
                throw SAEPipeError.input(
                    "`\(text)` cannot name a directory for `\(path)`: \(problem)", at: location, key: path,
                    hint: "use \(type.name), e.g. `my-run`")
            }
            return .string(text)
        case .bool:
            if plain, let value = ConfigSchema.parseBool(text) { return .bool(value) }
        case .int(let range):
            if plain, let value = Int(text.replacingOccurrences(of: "_", with: "")) {
                if let range, !range.contains(value) {
                    throw SAEPipeError.input(
                        "\(value) is out of range for `\(path)`", at: location, key: path,
                        hint: "use \(type.name)")
                }
                return .int(value)
            }
        case .double(let range):
            if plain, let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite {
                if let range, !range.contains(value) {
                    throw SAEPipeError.input(
                        "\(text) is out of range for `\(path)`", at: location, key: path, hint: "use \(type.name)")
                }
                return .double(value)
            }
        case .choice(let options):
            if options.contains(text) { return .string(text) }
            let suggestions = ConfigSchema.suggestions(for: text, in: options)
            let suggestion = suggestions.isEmpty ? "" : " — did you mean \(ConfigSchema.alternatives(suggestions))?"
            throw SAEPipeError.input(
                "`\(text)` is not a valid value for `\(path)`\(suggestion)", at: location, key: path,
                hint: "use \(type.name)")
        default:
            break
        }
        let got = quoted ? "the quoted string \"\(text)\"" : "`\(text)`"
        // Only suggest dropping the quotes when the text without them is a valid value.
        let unquotedWorks = quoted && (try? decodeScalar(.scalar(text, quoted: false, location), as: type, path: path)) != nil
        let hint = unquotedWorks ? "remove the quotes" : "use \(type.name)"
        throw SAEPipeError.input("expected \(type.name) for `\(path)`, got \(got)", at: location, key: path, hint: hint)
    }

    /// The type of the key at `path` (entries of tables and dictionaries included), nil if there is none.
    public func type(at path: [String]) -> ConfigType? {
        var type = ConfigType.section(root)
        for key in path {
            switch type {
            case .section(let section):
                guard let field = section.field(key) else { return nil }
                type = field.type
            case .table(let section): type = .section(section)
            case .dictionary(let element): type = element
            default: return nil
            }
        }
        return type
    }

    /// Why `name` is not one safe path component, or nil when it is.
    public static func fileNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name == "." || name == ".." { return "`.` and `..` name other directories" }
        if name.utf8.count > 200 { return "it is longer than 200 bytes" }
        if name.contains("/") { return "a `/` would put it in another directory" }
        if name.hasPrefix(".") { return "names starting with `.` are hidden (and saepipe's own temporary names)" }
        if name.hasPrefix("-") { return "a leading `-` reads as a command-line option" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=,+")
        if let bad = name.first(where: { !allowed.contains($0) }) {
            return "`\(bad)` is not allowed in a run name"
        }
        return nil
    }

    private func isNull(_ node: YAMLNode) -> Bool {
        guard case .scalar(let text, let quoted, _) = node, !quoted else { return false }
        return text.isEmpty || text == "~" || text.lowercased() == "null"
    }

    private func typeError(_ node: YAMLNode, expected: ConfigType, path: String) -> SAEPipeError {
        let what = path.isEmpty ? "the config" : "`\(path)`"
        return SAEPipeError.input(
            "expected \(expected.name) for \(what), got \(node.kindName)", at: node.location,
            key: path.isEmpty ? nil : path)
    }

    private func unknownKey(_ key: String, in section: ConfigSection, path: String, at location: SourceLocation)
        -> SAEPipeError
    {
        let names = section.fields.map(\.name)
        var message = "unknown key `\(join(path, key))`"
        var hint: String? = "valid keys" + (path.isEmpty ? "" : " in \(path)") + ": " + names.joined(separator: ", ")
        let suggestions = ConfigSchema.suggestions(for: key, in: names)
        if !suggestions.isEmpty {
            message += " — did you mean \(ConfigSchema.alternatives(suggestions))?"
            hint = nil
        }
        return SAEPipeError.input(message, at: location, key: join(path, key), hint: hint)
    }

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    /// The candidate nearest by edit distance, when it is near enough to be a typo.
    public static func closest(to word: String, in candidates: [String]) -> String? {
        suggestions(for: word, in: candidates).first
    }

    /// What `word` was probably meant to be, best first (at most three): the keys it is the
    /// start of (`l1` → `l1_coefficient`, `l1_warmup_fraction`), else the one key it is a part
    /// of, else the nearest by edit distance when near enough to be a typo.
    public static func suggestions(for word: String, in candidates: [String]) -> [String] {
        let lowered = word.lowercased()
        guard !lowered.isEmpty else { return [] }
        // A truncated name is a better guess than a short name one edit away (`l1` → `lr`).
        let extensions = candidates.filter { $0.lowercased().hasPrefix(lowered) && $0.lowercased() != lowered }
        if (1...3).contains(extensions.count) { return extensions.sorted { ($0.count, $0) < ($1.count, $1) } }
        if lowered.count >= 3 {
            let containing = candidates.filter { $0.lowercased().contains(lowered) || ($0.count >= 3 && lowered.contains($0.lowercased())) }
            if containing.count == 1 { return containing }
        }
        let scored = candidates.map { ($0, editDistance(lowered, $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return [] }
        let allowed = max(2, word.count / 3)
        return best.1 <= allowed ? [best.0] : []
    }

    /// "`a`", "`a` or `b`", "`a`, `b` or `c`".
    public static func alternatives(_ names: [String]) -> String {
        let quoted = names.map { "`\($0)`" }
        guard quoted.count > 1 else { return quoted.first ?? "" }
        return quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension ConfigField {
    /// `seed`: shared by every stage that draws random numbers.
    public static let seed = ConfigField(
        "seed", .int(0...Int(UInt32.max)), default: .int(0), doc: "seed for every random choice (sampling, shuffling, initialisation)")
}
