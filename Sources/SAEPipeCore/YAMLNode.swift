import CYAML
import Foundation

/// A YAML (or JSON, which libyaml also reads) document as a tree whose every node
/// remembers where it stood, so config errors can name file:line:column.
public indirect enum YAMLNode: Sendable {
    case scalar(String, quoted: Bool, SourceLocation)
    case mapping([(key: YAMLNode, value: YAMLNode)], SourceLocation)
    case sequence([YAMLNode], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .scalar(_, _, let l), .mapping(_, let l), .sequence(_, let l): return l
        }
    }

    /// The text of a scalar node; nil for collections.
    public var scalarText: String? {
        if case .scalar(let text, _, _) = self { return text }
        return nil
    }

    public var kindName: String {
        switch self {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// Looks a key up in a mapping node.
    public func value(forKey key: String) -> YAMLNode? {
        guard case .mapping(let pairs, _) = self else { return nil }
        return pairs.last(where: { $0.key.scalarText == key })?.value
    }
}

public enum YAMLParser {
    /// Parses one document. `sourceName` is what error messages call the text.
    /// An empty document gives an empty mapping.
    public static func parse(_ text: String, sourceName: String) throws -> YAMLNode {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw SAEPipeError.runtime("libyaml could not initialise a parser")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer -> YAMLNode in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var document = yaml_document_t()
            guard yaml_parser_load(&parser, &document) == 1 else {
                throw syntaxError(parser, sourceName: sourceName)
            }
            defer { yaml_document_delete(&document) }
            guard let root = yaml_document_get_root_node(&document) else {
                return .mapping([], SourceLocation(file: sourceName, line: 1, column: 1))
            }
            var converter = NodeConverter(sourceName: sourceName)
            let node = try converter.convert(&document, root)
            // yaml_parser_load reads one document; what follows must be nothing at all.
            var rest = yaml_document_t()
            guard yaml_parser_load(&parser, &rest) == 1 else {
                throw syntaxError(parser, sourceName: sourceName)
            }
            defer { yaml_document_delete(&rest) }
            if yaml_document_get_root_node(&rest) != nil {
                let mark = rest.start_mark
                throw SAEPipeError.input(
                    "a config holds one document; a second one starts here",
                    at: SourceLocation(file: sourceName, line: mark.line + 1, column: mark.column + 1),
                    hint: "remove the `---` separator and merge the documents")
            }
            return node
        }
    }

    public static func parseFile(_ path: String) throws -> YAMLNode {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read config file", file: path, hint: "check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SAEPipeError.input("config file is not UTF-8 text", file: path)
        }
        return try parse(text, sourceName: path)
    }

    private static func syntaxError(_ parser: yaml_parser_t, sourceName: String) -> SAEPipeError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark = parser.problem_mark
        let location = SourceLocation(file: sourceName, line: mark.line + 1, column: mark.column + 1)
        var message = "syntax error: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            let at = parser.context_mark
            message += " (\(context) at line \(at.line + 1), column \(at.column + 1))"
        }
        return SAEPipeError.input(
            message, at: location,
            hint: "fix the YAML/JSON syntax at this position (indentation, a missing ':' or closing bracket)")
    }
}

private struct NodeConverter {
    let sourceName: String
    var depth = 0

    mutating func convert(_ document: inout yaml_document_t, _ node: UnsafeMutablePointer<yaml_node_t>) throws
        -> YAMLNode
    {
        depth += 1
        defer { depth -= 1 }
        let mark = node.pointee.start_mark
        let location = SourceLocation(file: sourceName, line: mark.line + 1, column: mark.column + 1)
        // Aliases resolve to shared nodes; a self-referencing alias would recurse forever.
        if depth > 200 {
            throw SAEPipeError.input("document nests too deeply (recursive alias?)", at: location)
        }
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let scalar = node.pointee.data.scalar
            let text = scalar.value.map { pointer in
                String(decoding: UnsafeBufferPointer(start: pointer, count: scalar.length), as: UTF8.self)
            } ?? ""
            return .scalar(text, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, location)
        case YAML_SEQUENCE_NODE:
            var items: [YAMLNode] = []
            var item = node.pointee.data.sequence.items.start
            while let current = item, current != node.pointee.data.sequence.items.top {
                if let child = yaml_document_get_node(&document, current.pointee) {
                    items.append(try convert(&document, child))
                }
                item = current + 1
            }
            return .sequence(items, location)
        case YAML_MAPPING_NODE:
            var pairs: [(key: YAMLNode, value: YAMLNode)] = []
            var pair = node.pointee.data.mapping.pairs.start
            while let current = pair, current != node.pointee.data.mapping.pairs.top {
                if let keyNode = yaml_document_get_node(&document, current.pointee.key),
                    let valueNode = yaml_document_get_node(&document, current.pointee.value)
                {
                    let key = try convert(&document, keyNode)
                    if let name = key.scalarText,
                        let previous = pairs.first(where: { $0.key.scalarText == name })
                    {
                        throw SAEPipeError.input(
                            "duplicate key `\(name)` (first at line \(previous.key.location.line))",
                            at: key.location, key: name, hint: "remove one of the two entries")
                    }
                    pairs.append((key, try convert(&document, valueNode)))
                }
                pair = current + 1
            }
            return .mapping(pairs, location)
        default:
            return .scalar("", quoted: false, location)
        }
    }
}
