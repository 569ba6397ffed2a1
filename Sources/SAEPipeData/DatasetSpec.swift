import Foundation
import SAEPipeCore

/// Where a dataset's documents come from, as the config describes it.
public struct DatasetSpec: Sendable, Equatable {
    public enum Format: String, Sendable { case text, jsonl, parquet }
    /// How a plain-text file is cut into documents.
    public enum TextSplit: String, Sendable {
        /// The whole file is one document.
        case file
        /// Paragraphs separated by blank lines.
        case blankLines = "blank_lines"
        /// Every non-empty line.
        case lines
    }

    /// A local file or glob.
    public var path: String?
    /// A Hub dataset repo id, `ORG/NAME`.
    public var hub: String?
    /// The Hub dataset's config (subset) and split, read from its Parquet conversion.
    public var hubConfig: String?
    public var split: String
    public var revision: String
    /// Instead of the Parquet conversion: a glob over the repo's own files (e.g. `data/train-*.parquet`).
    public var files: String?
    public var format: Format?
    /// JSONL field or Parquet column holding the text.
    public var field: String
    public var textSplit: TextSplit
    /// Rows kept only when each named column equals one of the listed values.
    public var filters: [String: [String]]

    public init(
        path: String? = nil, hub: String? = nil, hubConfig: String? = nil, split: String = "train",
        revision: String = "main", files: String? = nil, format: Format? = nil, field: String = "text",
        textSplit: TextSplit = .file, filters: [String: [String]] = [:]
    ) {
        self.path = path
        self.hub = hub
        self.hubConfig = hubConfig
        self.split = split
        self.revision = revision
        self.files = files
        self.format = format
        self.field = field
        self.textSplit = textSplit
        self.filters = filters
    }

    /// Reads a `datasets.<name>` config section; `key` names it in errors.
    public init(config: ConfigValue, key: String) throws {
        let path = config["path"].stringValue
        let hub = config["hub"].stringValue
        guard (path == nil) != (hub == nil) else {
            throw SAEPipeError.input(
                "give exactly one of `path` (a local file or glob) and `hub` (a Hub dataset id)", key: key,
                hint: "e.g. `path: datasets/wikitext-2-raw-v1-test.txt` or `hub: Salesforce/wikitext`")
        }
        var filters: [String: [String]] = [:]
        for (column, values) in config["filter"].mapValue ?? [:] {
            filters[column] = (values.listValue ?? [values]).compactMap { $0.stringValue ?? ($0.isNull ? nil : $0.scalarDescription) }
        }
        self.init(
            path: path, hub: hub, hubConfig: config["config"].stringValue, split: config["split"].stringValue ?? "train",
            revision: config["revision"].stringValue ?? "main", files: config["files"].stringValue,
            format: config["format"].stringValue.flatMap(Format.init(rawValue:)),
            field: config["field"].stringValue ?? "text",
            textSplit: TextSplit(rawValue: config["split_text"].stringValue ?? "file") ?? .file, filters: filters)
    }

    /// The format a local file has, from `format` or its extension.
    public func format(of file: String) throws -> Format {
        if let format { return format }
        let lower = file.lowercased()
        if lower.hasSuffix(".parquet") { return .parquet }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
        if lower.hasSuffix(".txt") || lower.hasSuffix(".md") || lower.hasSuffix(".py") || lower.hasSuffix(".raw") { return .text }
        throw SAEPipeError.input("cannot tell the format of \(file) from its name", file: file,
                                 hint: "set `format: text | jsonl | parquet` in the dataset's config")
    }

    /// Local files matching `path` (a file or a glob), sorted; an error when there are none.
    public func localFiles() throws -> [String] {
        guard let path else { return [] }
        let matches = Glob.expand(path)
        guard !matches.isEmpty else {
            throw SAEPipeError.input("no file matches \(path)", file: path, hint: "check the dataset's `path`")
        }
        return matches
    }
}

/// Shell-style file globs through libc.
enum Glob {
    static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
            .filter { !FileSystem.isDirectory($0) }.sorted()
    }

    /// fnmatch for repo paths (Hub file lists).
    static func matches(_ pattern: String, _ path: String) -> Bool {
        fnmatch(pattern, path, 0) == 0
    }
}
