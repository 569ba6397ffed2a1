import Foundation

/// A config as the pipeline sees it: the resolved values plus where they came from.
public struct ResolvedConfig: Sendable {
    public var value: ConfigValue
    /// The file the user named (after `extends` chains are merged in).
    public var sourceFile: String
    /// Every file that contributed, the named one last.
    public var sourceFiles: [String]
    /// Where each key's value was written (`model.layer` → file:line:col), for errors found
    /// after decoding; keys left at their defaults have none.
    public var locations: [String: SourceLocation]
    /// The schema's defaults (every key at its default), for comparing with a config written
    /// before a key existed.
    public var defaults: ConfigValue

    public init(value: ConfigValue, sourceFile: String, sourceFiles: [String], locations: [String: SourceLocation] = [:],
                defaults: ConfigValue = .null) {
        self.value = value
        self.sourceFile = sourceFile
        self.sourceFiles = sourceFiles
        self.locations = locations
        self.defaults = defaults
    }

    public subscript(path path: String) -> ConfigValue { value[path: path] }

    /// Where `keyPath` was written, or failing that its nearest written parent (a default
    /// inside a written section is reported at the section), or nil.
    public func location(of keyPath: String) -> SourceLocation? {
        var path = keyPath
        while !path.isEmpty {
            if let location = locations[path] { return location }
            guard let dot = path.lastIndex(of: ".") else { break }
            path = String(path[..<dot])
        }
        return nil
    }

    /// `error` (and the errors it carries) placed at their keys' locations when they have none.
    public func placing(_ error: SAEPipeError) -> SAEPipeError {
        func place(_ error: SAEPipeError) -> SAEPipeError {
            var placed = error
            if placed.location == nil, let key = placed.keyPath, let location = location(of: key) {
                placed.location = location
                // The file the problem concerns stays visible when the location takes its place.
                if let file = placed.file, !placed.message.contains(file) { placed.message += " (\(file))" }
            }
            return placed
        }
        return SAEPipeError.combining(error.all.map(place))
    }
}

/// Reads a YAML or JSON config, follows `extends`, applies `--set` overrides, and
/// decodes the result against the schema.
public struct ConfigLoader: Sendable {
    public var schema: ConfigSchema

    public init(schema: ConfigSchema) { self.schema = schema }

    public func load(path: String, overrides: [String] = []) throws -> ResolvedConfig {
        let (node, files) = try loadNode(path: path, overrides: overrides)
        return try resolve(node, path: path, files: files)
    }

    /// The config's node tree with `extends` merged and overrides applied, before decoding;
    /// sweeps edit it so their values keep the line and column they were written at.
    public func loadNode(path: String, overrides: [String] = []) throws -> (node: YAMLNode, files: [String]) {
        var files: [String] = []
        var node = try loadWithExtends(path: path, chain: [], files: &files)
        for (index, override) in overrides.enumerated() {
            node = try apply(override: override, index: index, to: node)
        }
        return (node, files)
    }

    /// Decodes a node tree from `loadNode` against the schema.
    public func resolve(_ node: YAMLNode, path: String, files: [String]) throws -> ResolvedConfig {
        var (value, locations) = try schema.decodeWithLocations(node)
        // A run is named after its config file unless the config says otherwise.
        if schema.root.field("run_name") != nil, value["run_name"].isNull {
            let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            if let problem = ConfigSchema.fileNameProblem(stem) {
                throw SAEPipeError.input(
                    "the config file's name `\(stem)` cannot name the run directory: \(problem)", file: path,
                    hint: "set `run_name:` in the config, or rename the file")
            }
            value = value.setting(.string(stem), at: ["run_name"])
        }
        return ResolvedConfig(value: value, sourceFile: path, sourceFiles: files, locations: locations, defaults: schema.defaults())
    }

    /// Parses `key.path=value`; the value is read as YAML so it is typed like file values.
    public func apply(override: String, index: Int, to node: YAMLNode) throws -> YAMLNode {
        let source = "--set[\(index + 1)] '\(override)'"
        guard let equals = override.firstIndex(of: "=") else {
            throw SAEPipeError.input(
                "override must look like key.path=value", at: SourceLocation(file: source, line: 1, column: 1),
                hint: "for example --set train.l1_coefficient=5")
        }
        let keyPath = String(override[..<equals])
        let valueText = String(override[override.index(after: equals)...])
        let keys = keyPath.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.isEmpty, !keys.contains(where: \.isEmpty) else {
            throw SAEPipeError.input(
                "empty key in override path `\(keyPath)`", at: SourceLocation(file: source, line: 1, column: 1))
        }
        let valueColumn = keyPath.count + 2
        var valueNode = try YAMLParser.parse(valueText, sourceName: source)
        if valueText.isEmpty { valueNode = .scalar("", quoted: false, valueNode.location) }
        valueNode = ConfigLoader.shift(valueNode, columns: valueColumn - 1)
        let keyLocation = SourceLocation(file: source, line: 1, column: 1)
        return setting(valueNode, at: keys[...], in: node, keyLocation: keyLocation)
    }

    // MARK: - extends

    private func loadWithExtends(path: String, chain: [String], files: inout [String]) throws -> YAMLNode {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.path
        if chain.contains(canonical) {
            throw SAEPipeError.input(
                "`extends` forms a cycle: " + (chain + [canonical]).joined(separator: " → "), file: path,
                hint: "remove one of the `extends` entries")
        }
        var node = try YAMLParser.parseFile(path)
        guard case .mapping(var pairs, let location) = node else {
            throw SAEPipeError.input(
                "a config must be a mapping of keys to values, got \(node.kindName)", at: node.location)
        }
        guard let index = pairs.firstIndex(where: { $0.key.scalarText == "extends" }) else {
            files.append(path)
            return node
        }
        let extendsNode = pairs.remove(at: index).value
        let parents: [YAMLNode]
        switch extendsNode {
        case .scalar: parents = [extendsNode]
        case .sequence(let items, _): parents = items
        case .mapping:
            throw SAEPipeError.input(
                "`extends` takes a file path or a list of paths", at: extendsNode.location, key: "extends")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var merged: YAMLNode = .mapping([], location)
        for parent in parents {
            guard let relative = parent.scalarText, !relative.isEmpty else {
                throw SAEPipeError.input("`extends` entries must be file paths", at: parent.location, key: "extends")
            }
            let parentPath = relative.hasPrefix("/") ? relative : directory.appendingPathComponent(relative).path
            guard FileManager.default.fileExists(atPath: parentPath) else {
                throw SAEPipeError.input(
                    "`extends` names \(relative), which does not exist", at: parent.location, key: "extends",
                    hint: "paths are relative to the file that extends them (\(directory.path))")
            }
            let parentNode = try loadWithExtends(path: parentPath, chain: chain + [canonical], files: &files)
            merged = merge(merged, parentNode)
        }
        node = merge(merged, .mapping(pairs, location))
        files.append(path)
        return node
    }

    /// Mappings merge key by key; anything else in `override` replaces `base`.
    private func merge(_ base: YAMLNode, _ override: YAMLNode) -> YAMLNode {
        guard case .mapping(var basePairs, _) = base, case .mapping(let overPairs, let location) = override else {
            return override
        }
        for pair in overPairs {
            if let index = basePairs.firstIndex(where: { $0.key.scalarText == pair.key.scalarText }) {
                basePairs[index] = (basePairs[index].key, merge(basePairs[index].value, pair.value))
            } else {
                basePairs.append(pair)
            }
        }
        return .mapping(basePairs, location)
    }

    // MARK: - overrides

    /// `node` with `value` at the dotted `keys`, creating mappings on the way; new keys are
    /// reported at `keyLocation` if the schema rejects them.
    public func setting(_ value: YAMLNode, at keys: [String], in node: YAMLNode, keyLocation: SourceLocation) -> YAMLNode {
        setting(value, at: keys[...], in: node, keyLocation: keyLocation)
    }

    /// `node` without the top-level `key`.
    public func removing(_ key: String, from node: YAMLNode) -> YAMLNode {
        guard case .mapping(let pairs, let location) = node else { return node }
        return .mapping(pairs.filter { $0.key.scalarText != key }, location)
    }

    private func setting(_ value: YAMLNode, at keys: ArraySlice<String>, in node: YAMLNode, keyLocation: SourceLocation)
        -> YAMLNode
    {
        guard let key = keys.first else { return value }
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var location = keyLocation
        if case .mapping(let existing, let existingLocation) = node {
            pairs = existing
            location = existingLocation
        }
        if let index = pairs.firstIndex(where: { $0.key.scalarText == key }) {
            let child = setting(value, at: keys.dropFirst(), in: pairs[index].value, keyLocation: keyLocation)
            pairs[index] = (.scalar(key, quoted: false, keyLocation), child)
        } else {
            let empty = YAMLNode.mapping([], keyLocation)
            let child = setting(value, at: keys.dropFirst(), in: empty, keyLocation: keyLocation)
            pairs.append((.scalar(key, quoted: false, keyLocation), child))
        }
        return .mapping(pairs, location)
    }

    /// The node with first-line columns moved right, for text parsed out of a longer option.
    public static func shift(_ node: YAMLNode, columns: Int) -> YAMLNode {
        func moved(_ l: SourceLocation) -> SourceLocation {
            SourceLocation(file: l.file, line: l.line, column: l.line == 1 ? l.column + columns : l.column)
        }
        switch node {
        case .scalar(let text, let quoted, let l): return .scalar(text, quoted: quoted, moved(l))
        case .sequence(let items, let l): return .sequence(items.map { shift($0, columns: columns) }, moved(l))
        case .mapping(let pairs, let l):
            return .mapping(pairs.map { (shift($0.key, columns: columns), shift($0.value, columns: columns)) }, moved(l))
        }
    }
}
