import Foundation
import SAEPipeCore
import SAEPipeHub

/// Streams a dataset's documents in a fixed order: local text, JSONL and Parquet files,
/// or a Hub dataset's Parquet shards, downloaded one at a time only while more are needed.
public struct DocumentReader: Sendable {
    public let spec: DatasetSpec
    public let hub: HubClient?
    /// The dataset viewer that lists a Hub dataset's Parquet conversion.
    public let datasetsServer: String

    public init(spec: DatasetSpec, hub: HubClient? = nil, datasetsServer: String = DocumentReader.defaultDatasetsServer) {
        self.spec = spec
        self.hub = hub
        self.datasetsServer = datasetsServer
    }

    public static var defaultDatasetsServer: String {
        ProcessInfo.processInfo.environment["HF_DATASETS_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "https://datasets-server.huggingface.co"
    }

    /// Calls `body` with each document until it returns false. Returns the files read.
    @discardableResult
    public func forEach(_ body: (String) throws -> Bool) throws -> [String] {
        var opened: [String] = []
        if spec.path != nil {
            for file in try spec.localFiles() {
                opened.append(file)
                if try !read(file, format: spec.format(of: file), body) { break }
            }
            return opened
        }
        guard let hub, let id = spec.hub, let repo = HubRepo(parsing: id, kind: .dataset) else {
            throw SAEPipeError.input("`\(spec.hub ?? "")` is not a Hub dataset id (ORG/NAME)", key: "hub")
        }
        let (dataRepo, files) = try cachedListing(repo.id, hub: hub)
        for file in files {
            let local = try hub.file(dataRepo, file)
            opened.append(local)
            let format = try spec.format ?? DatasetSpec(path: file).format(of: file)
            if try !read(local, format: format, body) { break }
        }
        return opened
    }

    /// The file list from the Hub, remembered in the Hub cache so that a later run with
    /// HF_HUB_OFFLINE=1 (or no network) can reuse shards already downloaded.
    func cachedListing(_ id: String, hub: HubClient) throws -> (HubRepo, [String]) {
        let key = Hashing.sha256Hex([id, spec.hubConfig ?? "", spec.split, spec.revision, spec.files ?? ""].joined(separator: "\n"))
        let folder = hub.cache.repoFolder(HubRepo(id: id, kind: .dataset))
        let saved = "\(folder)/saepipe-listings/\(key.prefix(16)).json"
        do {
            let (repo, files) = try hubFiles(id, hub: hub)
            try JSONFile.write(Listing(revision: repo.revision, files: files), to: saved, pretty: false)
            return (repo, files)
        } catch {
            guard FileSystem.exists(saved), let listing = try? JSONFile.read(Listing.self, from: saved) else { throw error }
            return (HubRepo(id: id, kind: .dataset, revision: listing.revision), listing.files)
        }
    }

    /// A remembered Hub file listing.
    struct Listing: Codable {
        var revision: String
        var files: [String]
    }

    /// The repo files to read, in order: a glob over the repo's own files, or the Parquet
    /// conversion of `config`/`split` (on the `refs/convert/parquet` branch).
    func hubFiles(_ id: String, hub: HubClient) throws -> (HubRepo, [String]) {
        if let pattern = spec.files {
            let repo = HubRepo(id: id, kind: .dataset, revision: spec.revision)
            let matching = try hub.listFiles(repo).files.filter { Glob.matches(pattern, $0) }.sorted()
            guard !matching.isEmpty else {
                throw SAEPipeError.input("no file of \(id) matches `\(pattern)`", key: "files",
                                         hint: "check the pattern against the repo's file list on the Hub")
            }
            return (repo, matching)
        }
        let repo = HubRepo(id: id, kind: .dataset, revision: "refs/convert/parquet")
        let listing = try hub.json(url: "\(datasetsServer)/parquet?dataset=\(id)", repo: repo)
        guard let entries = (listing as? [String: Any])?["parquet_files"] as? [[String: Any]] else {
            throw SAEPipeError.runtime("the dataset viewer's Parquet listing of \(id) has no parquet_files")
        }
        let config = spec.hubConfig
        let chosen = entries.filter { ($0["config"] as? String) == (config ?? $0["config"] as? String) && ($0["split"] as? String) == spec.split }
        let configs = Set(entries.compactMap { $0["config"] as? String })
        guard config != nil || configs.count <= 1 else {
            throw SAEPipeError.input("\(id) has several configs; name one", key: "config",
                                     hint: "configs: " + configs.sorted().joined(separator: ", "))
        }
        let paths = chosen.compactMap { ($0["url"] as? String).flatMap(Self.repoPath(fromResolveURL:)) }.sorted()
        guard !paths.isEmpty else {
            let splits = Set(entries.filter { ($0["config"] as? String) == (config ?? $0["config"] as? String) }.compactMap { $0["split"] as? String })
            throw SAEPipeError.input(
                "\(id) has no Parquet files for config \(config ?? "(default)") and split \(spec.split)", key: "split",
                hint: "splits there: " + splits.sorted().joined(separator: ", "))
        }
        return (repo, paths)
    }

    /// `…/datasets/ORG/NAME/resolve/refs%2Fconvert%2Fparquet/CONFIG/SPLIT/0000.parquet` → `CONFIG/SPLIT/0000.parquet`.
    static func repoPath(fromResolveURL url: String) -> String? {
        guard let marker = url.range(of: "/resolve/") else { return nil }
        let rest = url[marker.upperBound...].split(separator: "/", maxSplits: 1)
        guard rest.count == 2 else { return nil }
        return String(rest[1]).removingPercentEncoding
    }

    // MARK: - Files

    private func read(_ file: String, format: DatasetSpec.Format, _ body: (String) throws -> Bool) throws -> Bool {
        switch format {
        case .text: return try readText(file, body)
        case .jsonl: return try readJSONL(file, body)
        case .parquet: return try readParquet(file, body)
        }
    }

    private func readText(_ file: String, _ body: (String) throws -> Bool) throws -> Bool {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SAEPipeError.input("cannot read the dataset file", key: "\(spec.configKey).path", file: file)
        }
        let text = try DatasetText.decode(
            data, file: file, key: spec.configKey, invalidUTF8: spec.invalidUTF8, newlines: spec.newlines)
        switch spec.textSplit {
        case .file:
            return text.isEmpty ? true : try body(text)
        case .lines:
            for line in text.split(separator: "\n") where !line.allSatisfy(\.isWhitespace) {
                if try !body(String(line) + "\n") { return false }
            }
        case .blankLines:
            for paragraph in text.components(separatedBy: "\n\n") where !paragraph.allSatisfy(\.isWhitespace) {
                if try !body(paragraph) { return false }
            }
        }
        return true
    }

    private func readJSONL(_ file: String, _ body: (String) throws -> Bool) throws -> Bool {
        var keepGoing = true
        try LineReader.forEachLine(file) { line, number in
            guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { return true }
            let location = SourceLocation(file: file, line: number, column: 1)
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw SAEPipeError.input("line is not a JSON object", at: location)
            }
            for (column, allowed) in spec.filters {
                guard let value = object[column] else {
                    throw SAEPipeError.input("no field `\(column)` to filter on", at: location, key: "filter.\(column)")
                }
                if !allowed.contains("\(value)") { return true }
            }
            guard let text = object[spec.field] as? String else {
                throw SAEPipeError.input(
                    "no string field `\(spec.field)`", at: location, key: "field",
                    hint: "fields here: " + object.keys.sorted().joined(separator: ", "))
            }
            keepGoing = try body(text)
            return keepGoing
        }
        return keepGoing
    }

    private func readParquet(_ file: String, _ body: (String) throws -> Bool) throws -> Bool {
        let parquet = try ParquetFile(path: file)
        let column = parquet.columns[try parquet.columnIndex(spec.field)]
        guard column.physicalType == 6 else {
            throw SAEPipeError.input(
                "column `\(spec.field)` holds \(ParquetFile.physicalTypeName(column.physicalType)) values, not text",
                key: "\(spec.configKey).field", file: file,
                hint: "set `\(spec.configKey).field` to a string column: " + parquet.columns.filter { $0.physicalType == 6 }.map(\.name).joined(separator: ", "))
        }
        for group in 0..<parquet.rowGroupSizes.count {
            let texts = try parquet.read(column: spec.field, rowGroup: group)
            var keep = [Bool](repeating: true, count: texts.count)
            for (column, allowed) in spec.filters {
                for (row, value) in try parquet.read(column: column, rowGroup: group).enumerated()
                where !(value.map { allowed.contains($0.text) } ?? false) {
                    keep[row] = false
                }
            }
            for (row, cell) in texts.enumerated() where keep[row] {
                guard case .bytes(let bytes)? = cell, !bytes.isEmpty else { continue }
                let text = try DatasetText.decodeCell(
                    bytes, file: file, key: spec.configKey, row: "row \(row) of row group \(group)", invalidUTF8: spec.invalidUTF8)
                if try !body(text) { return false }
            }
        }
        return true
    }
}

/// Reads a file line by line in 1 MiB chunks, so large JSONL files stream.
enum LineReader {
    static func forEachLine(_ path: String, _ body: ([UInt8], Int) throws -> Bool) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SAEPipeError.input("cannot read the dataset file", file: path)
        }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var number = 0
        while true {
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = 0
            while let end = pending[start...].firstIndex(of: 0x0A) {
                number += 1
                if try !body(Array(pending[start..<end]), number) { return }
                start = end + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { _ = try body(pending, number + 1) }
    }
}
