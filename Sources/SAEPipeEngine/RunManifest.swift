import Collections
import Foundation
import SAEPipeCore

/// `outputs/<run>/manifest.json`: the cache entries a run used, its resolved config,
/// versions and timings, plus what stages publish (e.g. `activations`, `saes`).
public struct RunManifest: Sendable {
    public struct StageRecord: Sendable {
        public var id: String
        public var kind: String
        public var version: Int
        public var key: String
        /// The entry directory, relative to the project root.
        public var entry: String
        /// `ran`, `cached`, or `not-run` (outside the selection and not cached).
        public var status: String
        public var seconds: Double
        public var config: String
        public var upstream: [EntryManifest.Upstream]
        public var inputs: [EntryManifest.Input]

        var value: ConfigValue {
            .map([
                "id": .string(id), "kind": .string(kind), "version": .int(version), "key": .string(key),
                "entry": .string(entry), "status": .string(status), "seconds": .double((seconds * 1000).rounded() / 1000),
                "config": .string(config),
                "upstream": .list(upstream.map { .map(["id": .string($0.id), "key": .string($0.key)]) }),
                "inputs": .list(inputs.map { .map(["path": .string($0.path), "sha256": .string($0.sha256)]) }),
            ])
        }

        init(
            id: String, kind: String, version: Int, key: String, entry: String, status: String, seconds: Double,
            config: String, upstream: [EntryManifest.Upstream], inputs: [EntryManifest.Input]
        ) {
            self.id = id
            self.kind = kind
            self.version = version
            self.key = key
            self.entry = entry
            self.status = status
            self.seconds = seconds
            self.config = config
            self.upstream = upstream
            self.inputs = inputs
        }

        init?(_ value: ConfigValue) {
            guard let id = value["id"].stringValue, let kind = value["kind"].stringValue,
                let version = value["version"].intValue, let key = value["key"].stringValue
            else { return nil }
            self.init(
                id: id, kind: kind, version: version, key: key, entry: value["entry"].stringValue ?? "",
                status: value["status"].stringValue ?? "", seconds: value["seconds"].doubleValue ?? 0,
                config: value["config"].stringValue ?? "{}",
                upstream: (value["upstream"].listValue ?? []).compactMap {
                    guard let id = $0["id"].stringValue, let key = $0["key"].stringValue else { return nil }
                    return EntryManifest.Upstream(id: id, key: key)
                },
                inputs: (value["inputs"].listValue ?? []).compactMap {
                    guard let path = $0["path"].stringValue, let sha = $0["sha256"].stringValue else { return nil }
                    return EntryManifest.Input(path: path, sha256: sha)
                })
        }
    }

    public var runName: String
    public var config: ConfigValue
    public var configFiles: [String]
    public var started: Date
    public var seconds: Double
    public var stages: [StageRecord]
    public var published: OrderedDictionary<String, ConfigValue>

    public var json: String {
        var entries: OrderedDictionary<String, ConfigValue> = [
            "run_name": .string(runName),
            "saepipe_version": .string(SAEPipeVersion.current),
            "started": .string(ISO8601DateFormatter().string(from: started)),
            "seconds": .double((seconds * 1000).rounded() / 1000),
            "config_files": .list(configFiles.map { .string($0) }),
            "config": config,
            "stages": .list(stages.map(\.value)),
        ]
        for (key, value) in published { entries[key] = value }
        return ConfigValue.map(entries).prettyJSON() + "\n"
    }

    /// The stage records of a previous run, by id; empty when there is none.
    public static func previousRecords(at path: String) -> [String: StageRecord] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
            let value = try? ConfigValue(parsingJSON: text)
        else { return [:] }
        let records = (value["stages"].listValue ?? []).compactMap(StageRecord.init)
        return Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
    }
}
