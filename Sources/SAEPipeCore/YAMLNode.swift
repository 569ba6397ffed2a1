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

/// What one document may cost to read: configs are kilobytes, so these only stop
/// crafted input (alias bombs, deep nesting, huge files) early and with a clear message.
public struct YAMLLimits: Sendable {
    /// Bytes of text.
    public var documentBytes: Int
    /// Nodes after expanding aliases: `*a` counts every node of what `&a` names.
    public var expandedNodes: Int
    /// Collections inside collections.
    public var depth: Int

    public static let config = YAMLLimits(documentBytes: 4 << 20, expandedNodes: 100_000, depth: 64)
    /// Files saepipe wrote itself (manifests, sweep state) may be larger, never deeper.
    public static let storedFile = YAMLLimits(documentBytes: 256 << 20, expandedNodes: 20_000_000, depth: 64)
}

public enum YAMLParser {
    /// Parses one document. `sourceName` is what error messages call the text.
    /// An empty document gives an empty mapping.
    public static func parse(_ text: String, sourceName: String, limits: YAMLLimits = .config) throws -> YAMLNode {
        let bytes = Array(text.utf8)
        guard bytes.count <= limits.documentBytes else {
            throw SAEPipeError.input(
                "the document is \(bytes.count) bytes, past the \(limits.documentBytes)-byte limit",
                file: sourceName, hint: "configs are small; check that this is the file you meant")
        }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw SAEPipeError.runtime("libyaml could not initialise a parser")
        }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeBufferPointer { buffer -> YAMLNode in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(sourceName: sourceName, limits: limits)
            // Events, not libyaml's loader: the loader composes the whole document before we
            // could count, while events let a budget stop an alias bomb or deep nest at once.
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    throw syntaxError(parser, sourceName: sourceName)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(event)
            }
            return builder.root ?? .mapping([], SourceLocation(file: sourceName, line: 1, column: 1))
        }
    }

    public static func parseFile(_ path: String) throws -> YAMLNode {
        guard FileSystem.isRegularFile(path) else {
            let kind = FileSystem.kindDescription(path)
            let isConfig = { (candidate: String) in [".yaml", ".yml", ".json"].contains { candidate.hasSuffix($0) } }
            let hint = kind == nil ? FileSystem.closestEntry(to: path, where: isConfig).map { "did you mean \($0)?" } ?? "check the path" : "check the path"
            throw SAEPipeError.input(
                kind == nil ? "no config file at this path" : "config path is \(kind!), not a file", file: path, hint: hint)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= YAMLLimits.config.documentBytes else {
            throw SAEPipeError.input(
                "the config is \(size) bytes, past the \(YAMLLimits.config.documentBytes)-byte limit", file: path,
                hint: "configs are small; check that this is the file you meant")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read config file", file: path, hint: "check the path and its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SAEPipeError.input("config file is not UTF-8 text", file: path)
        }
        return try parse(text, sourceName: path)
    }

    fileprivate static func syntaxError(_ parser: yaml_parser_t, sourceName: String) -> SAEPipeError {
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

/// Builds the tree from libyaml's events, counting expanded nodes and depth as it goes.
private struct TreeBuilder {
    enum Collection {
        case sequence([YAMLNode])
        /// `lines` maps each key's text to its line, for duplicate-key errors.
        case mapping([(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, lines: [String: Int])
    }
    struct Frame {
        var collection: Collection
        let location: SourceLocation
        let anchor: String?
        /// The expanded-node count when this collection opened, to size it for its anchor.
        let nodesBefore: Int
    }

    let sourceName: String
    let limits: YAMLLimits
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, size: Int, location: SourceLocation)] = [:]
    var openAnchors: Set<String> = []
    var nodes = 0
    var root: YAMLNode?
    var documents = 0

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: sourceName, line: mark.line + 1, column: mark.column + 1)
    }

    static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    mutating func handle(_ event: yaml_event_t) throws {
        let at = location(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw SAEPipeError.input(
                    "a config holds one document; a second one starts here", at: at,
                    hint: "remove the `---` separator and merge the documents")
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = scalar.value.map { pointer in
                String(decoding: UnsafeBufferPointer(start: pointer, count: scalar.length), as: UTF8.self)
            } ?? ""
            let node = YAMLNode.scalar(text, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, at)
            let before = nodes
            try add(node, size: 1)
            if let anchor = TreeBuilder.text(scalar.anchor) { anchors[anchor] = (node, nodes - before, at) }
        case YAML_SEQUENCE_START_EVENT:
            try open(.sequence([]), at: at, anchor: TreeBuilder.text(event.data.sequence_start.anchor))
        case YAML_MAPPING_START_EVENT:
            try open(.mapping([], pendingKey: nil, lines: [:]), at: at, anchor: TreeBuilder.text(event.data.mapping_start.anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node: YAMLNode
            switch frame.collection {
            case .sequence(let items): node = .sequence(items, frame.location)
            case .mapping(let pairs, _, _): node = .mapping(pairs, frame.location)
            }
            // The collection's own node was counted when it opened; attach without recounting.
            try attach(node)
            if let anchor = frame.anchor {
                openAnchors.remove(anchor)
                anchors[anchor] = (node, nodes - frame.nodesBefore, frame.location)
            }
        case YAML_ALIAS_EVENT:
            let name = TreeBuilder.text(event.data.alias.anchor) ?? ""
            if openAnchors.contains(name) {
                throw SAEPipeError.input("alias *\(name) refers to a collection that contains it", at: at,
                                         hint: "a recursive alias would never end; copy the values instead")
            }
            guard let target = anchors[name] else {
                throw SAEPipeError.input("alias *\(name) names no anchor defined before it", at: at,
                                         hint: "define `&\(name)` earlier in the file")
            }
            if nodes + target.size > limits.expandedNodes {
                throw SAEPipeError.input(
                    "alias *\(name) expands anchor &\(name) (line \(target.location.line), \(target.size) nodes) past the \(limits.expandedNodes)-node limit for a document",
                    at: at, hint: "aliases here expand to too much; is this an alias bomb?")
            }
            try add(target.node, size: target.size)
        default:
            break  // stream and document ends carry nothing
        }
    }

    mutating func open(_ collection: Collection, at: SourceLocation, anchor: String?) throws {
        guard stack.count < limits.depth else {
            throw SAEPipeError.input("the document nests deeper than \(limits.depth) levels", at: at,
                                     hint: "configs nest a few levels; flatten this structure")
        }
        let before = nodes
        try count(1, at: at)
        if let anchor { openAnchors.insert(anchor) }
        stack.append(Frame(collection: collection, location: at, anchor: anchor, nodesBefore: before))
    }

    mutating func count(_ size: Int, at: SourceLocation) throws {
        nodes += size
        guard nodes <= limits.expandedNodes else {
            throw SAEPipeError.input("the document holds more than \(limits.expandedNodes) nodes", at: at,
                                     hint: "configs are small; check that this is the file you meant")
        }
    }

    mutating func add(_ node: YAMLNode, size: Int) throws {
        try count(size, at: node.location)
        try attach(node)
    }

    mutating func attach(_ node: YAMLNode) throws {
        guard var frame = stack.popLast() else {
            root = node
            return
        }
        switch frame.collection {
        case .sequence(var items):
            frame.collection = .sequence([])  // drop the frame's reference so the append is in place
            items.append(node)
            frame.collection = .sequence(items)
        case .mapping(var pairs, let pendingKey, var lines):
            frame.collection = .sequence([])
            if let key = pendingKey {
                pairs.append((key, node))
                frame.collection = .mapping(pairs, pendingKey: nil, lines: lines)
            } else {
                if let name = node.scalarText {
                    if let line = lines[name] {
                        throw SAEPipeError.input(
                            "duplicate key `\(name)` (first at line \(line))",
                            at: node.location, key: name, hint: "remove one of the two entries")
                    }
                    lines[name] = node.location.line
                }
                frame.collection = .mapping(pairs, pendingKey: node, lines: lines)
            }
        }
        stack.append(frame)
    }
}
