import Foundation
import SAEPipeCore

/// Where a dataset's documents come from, as the config describes it.
public struct DatasetSpec: Sendable, Equatable {
    public enum Format: String, Sendable, Decodable { case text, jsonl, parquet }
    /// How a plain-text file is cut into documents.
    public enum TextSplit: String, Sendable, Decodable {
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
    /// Invalid UTF-8: an error (the default) or replaced by U+FFFD.
    public var invalidUTF8: DatasetText.InvalidUTF8
    /// Text files' line ends: universal (`\r\n` → `\n`, the default) or kept as stored.
    public var newlines: DatasetText.Newlines
    /// The config key this dataset was read from (`datasets.A`), for errors.
    public var configKey: String

    /// The keys of one `datasets.<name>` section, with their defaults.
    public static let configFields = ConfigSection([
        ConfigField("label", .string, doc: "a name for the dataset in summaries (e.g. prose, code); defaults to A / B"),
        ConfigField("path", .string, doc: "a local file or glob: .txt (text), .jsonl, .parquet"),
        ConfigField("hub", .string, doc: "a Hugging Face dataset id, e.g. Salesforce/wikitext (instead of path)"),
        ConfigField("config", .string, doc: "the Hub dataset's config (subset), e.g. wikitext-2-raw-v1"),
        ConfigField("split", .string, default: .string("train"), doc: "the Hub dataset's split"),
        ConfigField("revision", .string, default: .string("main"), doc: "the Hub dataset's revision, with `files`"),
        ConfigField("files", .string, doc: "a glob over the Hub repo's own files (e.g. data/train-*.parquet) instead of its Parquet conversion"),
        ConfigField("format", .choice(["text", "jsonl", "parquet"]), doc: "file format; by default from the extension"),
        ConfigField("field", .string, default: .string("text"), doc: "JSONL field or Parquet column with the text"),
        ConfigField("split_text", .choice(["file", "blank_lines", "lines"]), default: .string("file"),
                    doc: "how a text file is cut into documents: the whole file, paragraphs, or lines"),
        ConfigField("filter", .dictionary(.list(.string)), default: .map([:]),
                    doc: "keep rows whose column equals one of the values, e.g. {language: Python}"),
        ConfigField("invalid_utf8", .choice(["error", "replace"]), default: .string("error"),
                    doc: "text that is not valid UTF-8: an error naming the byte offset, or replace bad bytes with U+FFFD"),
        ConfigField("newlines", .choice(["universal", "keep"]), default: .string("universal"),
                    doc: "text files' line ends: universal turns \\r\\n and \\r into \\n (as Python reads text); keep leaves them"),
    ])

    /// Unspecified options take the schema's defaults.
    public init(
        path: String? = nil, hub: String? = nil, hubConfig: String? = nil, split: String? = nil, revision: String? = nil,
        files: String? = nil, format: Format? = nil, field: String? = nil, textSplit: TextSplit? = nil,
        filters: [String: [String]] = [:], invalidUTF8: DatasetText.InvalidUTF8? = nil,
        newlines: DatasetText.Newlines? = nil, configKey: String = "dataset"
    ) {
        let defaults = DatasetSpec.schemaDefaults
        self.path = path
        self.hub = hub
        self.hubConfig = hubConfig
        self.split = split ?? defaults.split
        self.revision = revision ?? defaults.revision
        self.files = files
        self.format = format
        self.field = field ?? defaults.field
        self.textSplit = textSplit ?? defaults.splitText
        self.filters = filters
        self.invalidUTF8 = invalidUTF8 ?? defaults.invalidUTF8
        self.newlines = newlines ?? defaults.newlines
        self.configKey = configKey
    }

    /// A `datasets.<name>` section as the config holds it (the display label is read apart:
    /// it does not change the activations).
    struct Section: Decodable {
        var path: String?
        var hub: String?
        var config: String?
        var split: String
        var revision: String
        var files: String?
        var format: Format?
        var field: String
        var splitText: TextSplit
        var filter: [String: [String]]
        var invalidUTF8: DatasetText.InvalidUTF8
        var newlines: DatasetText.Newlines

        enum CodingKeys: String, CodingKey {
            case path, hub, config, split, revision, files, format, field, splitText = "split_text", filter
            case invalidUTF8 = "invalid_utf8", newlines
        }
    }

    static let schemaDefaults: Section = {
        // The schema's own defaults always decode.
        try! ConfigReader(ConfigSchema(configFields).defaults()).decode(Section.self, at: "")
    }()

    /// Reads the `datasets.<name>` section at `key`.
    public static func read(_ reader: ConfigReader, at key: String) throws -> DatasetSpec {
        let section = try reader.decode(Section.self, at: key)
        guard (section.path == nil) != (section.hub == nil) else {
            throw SAEPipeError.input(
                "give exactly one of `path` (a local file or glob) and `hub` (a Hub dataset id)", key: key,
                hint: "e.g. `path: datasets/wikitext-2-raw-v1-test.txt` or `hub: Salesforce/wikitext`")
        }
        return DatasetSpec(
            path: section.path, hub: section.hub, hubConfig: section.config, split: section.split, revision: section.revision,
            files: section.files, format: section.format, field: section.field, textSplit: section.splitText,
            filters: section.filter, invalidUTF8: section.invalidUTF8, newlines: section.newlines, configKey: key)
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
            // A plain path (no glob characters) that is a typo of an existing file gets a suggestion.
            let plain = !path.contains(where: { "*?[".contains($0) })
            let nearby = plain ? FileSystem.closestEntry(to: path, where: FileSystem.isRegularFile) : nil
            throw SAEPipeError.input("no file matches \(path)", key: "\(configKey).path", file: path,
                                     hint: nearby.map { "did you mean \($0)?" } ?? "check the dataset's `path` (relative to the directory saepipe runs in)")
        }
        // A FIFO or device would block the reader (and the planner's hashing) forever.
        for file in matches where !FileSystem.isRegularFile(file) {
            throw SAEPipeError.input(
                "the dataset path is \(FileSystem.kindDescription(file) ?? "unreadable"), not a regular file",
                key: "\(configKey).path", file: file, hint: "point `\(configKey).path` at text, JSONL or Parquet files")
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
