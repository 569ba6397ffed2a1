import Collections
import Foundation
import SAEPipeCore

/// `outputs/<run>/manifest.json` (docs/formats.md): the cache entries a run used, its resolved
/// config, versions and timings, plus what stages publish (e.g. `activations`, `saes`).
public struct RunManifest: Sendable, Codable {
    public static let fileName = "manifest.json"

    public struct StageRecord: Sendable, Codable {
        public var id: StageID
        public var kind: String
        public var version: Int
        public var key: String
        /// The entry directory, relative to the project root.
        public var entry: String
        public var status: StageStatus
        public var seconds: Double
        /// The stage's config slice as canonical JSON.
        public var config: String
        public var upstream: [EntryManifest.Upstream]
        public var inputs: [EntryManifest.Input]

        init(
            id: StageID, kind: String, version: Int, key: String, entry: String, status: StageStatus, seconds: Double,
            config: String, upstream: [EntryManifest.Upstream], inputs: [EntryManifest.Input]
        ) {
            self.id = id
            self.kind = kind
            self.version = version
            self.key = key
            self.entry = entry
            self.status = status
            self.seconds = (seconds * 1000).rounded() / 1000
            self.config = config
            self.upstream = upstream
            self.inputs = inputs
        }
    }

    public var runName: String
    public var saepipeVersion: String
    /// ISO 8601.
    public var started: String
    public var seconds: Double
    public var configFiles: [String]
    public var config: ConfigValue
    public var stages: [StageRecord]
    /// What stages published, at the top level of the file: `activations: {A: entry, …}`, `saes`, `results`.
    public var published: OrderedDictionary<String, ConfigValue>

    public init(
        runName: String, config: ConfigValue, configFiles: [String], started: Date, seconds: Double, stages: [StageRecord],
        published: OrderedDictionary<String, ConfigValue>
    ) {
        self.runName = runName
        saepipeVersion = SAEPipeVersion.current
        self.started = ISO8601DateFormatter().string(from: started)
        self.seconds = (seconds * 1000).rounded() / 1000
        self.configFiles = configFiles
        self.config = config
        self.stages = stages
        self.published = published
    }

    /// A published map of side → entry directory (`activations`, `saes`).
    public func entries(_ key: String) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in published[key]?.mapValue ?? [:] { result[name] = value.stringValue }
        return result
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case runName = "run_name", saepipeVersion = "saepipe_version", started, seconds, configFiles = "config_files", config, stages
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        runName = try container.decode(String.self, forKey: .runName)
        saepipeVersion = try container.decode(String.self, forKey: .saepipeVersion)
        started = try container.decode(String.self, forKey: .started)
        seconds = try container.decode(Double.self, forKey: .seconds)
        configFiles = try container.decode([String].self, forKey: .configFiles)
        config = try container.decode(ConfigValue.self, forKey: .config)
        stages = try container.decode([StageRecord].self, forKey: .stages)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let all = try decoder.container(keyedBy: NameKey.self)
        published = [:]
        for key in all.allKeys where !known.contains(key.stringValue) {
            published[key.stringValue] = try all.decode(ConfigValue.self, forKey: key)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(runName, forKey: .runName)
        try container.encode(saepipeVersion, forKey: .saepipeVersion)
        try container.encode(started, forKey: .started)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(configFiles, forKey: .configFiles)
        try container.encode(config, forKey: .config)
        try container.encode(stages, forKey: .stages)
        var all = encoder.container(keyedBy: NameKey.self)
        for (key, value) in published { try all.encode(value, forKey: NameKey(stringValue: key)) }
    }

    /// Written in this order (the resolved config in schema order), integers apart from doubles.
    public func write(to path: String) throws { try FileSystem.writeAtomically(try ConfigValueEncoding.json(self), to: path) }

    public static func read(_ path: String) throws -> RunManifest {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SAEPipeError.input("cannot read the run manifest", file: path, hint: "rerun `saepipe run CONFIG`")
        }
        do { return try ConfigValueEncoding.decode(RunManifest.self, fromJSON: text) } catch var error as SAEPipeError {
            error.file = path
            error.hint = "rerun `saepipe run CONFIG`"
            throw error
        }
    }

    /// The manifest of the run in `directory`.
    public static func read(runDirectory directory: String) throws -> RunManifest { try read("\(directory)/\(fileName)") }

    /// The stage records of a previous run, by id; empty when there is none.
    public static func previousRecords(at path: String) -> [StageID: RunManifest.StageRecord] {
        guard FileSystem.exists(path), let manifest = try? read(path) else { return [:] }
        return Dictionary(manifest.stages.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
    }
}
