import Foundation
import Logging
import SAEPipeCore

/// A stage's id, unique within a pipeline: `collect.A`, `train.B`, `eval`.
public struct StageID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
    public static func < (a: StageID, b: StageID) -> Bool { a.rawValue < b.rawValue }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// What became of a stage in a run.
public enum StageStatus: String, Sendable, Codable {
    /// Computed in this run.
    case ran
    /// Its cache entry was complete already.
    case cached
    /// Outside the selection and not cached.
    case notRun = "not-run"
}

/// One node of the pipeline graph, as built for a particular config.
public struct StageSpec: Sendable {
    /// Unique within a pipeline, e.g. `train.A`.
    public var id: StageID
    /// The implementation, e.g. `train`; the cache is organised by kind, so two
    /// stages with identical inputs share one entry.
    public var kind: String
    /// Bump when the stage's output for the same inputs changes.
    public var version: Int
    /// Ids of the stages whose outputs this one reads.
    public var upstream: [StageID]
    /// The part of the config this stage reads; nothing else can invalidate it.
    public var config: ConfigValue
    /// Files (datasets, model weights) whose content the output depends on.
    public var inputFiles: [String]
    /// Produces every output file in `context.outputDirectory`.
    public var run: @Sendable (StageContext) throws -> Void
    /// Copies human-facing files into the run directory and names what the run
    /// manifest should record; called for every stage with a complete entry.
    public var publish: (@Sendable (PublishContext) throws -> [String: ConfigValue])?

    public init(
        id: StageID, kind: String, version: Int, upstream: [StageID] = [], config: ConfigValue,
        inputFiles: [String] = [], run: @escaping @Sendable (StageContext) throws -> Void,
        publish: (@Sendable (PublishContext) throws -> [String: ConfigValue])? = nil
    ) {
        self.id = id
        self.kind = kind
        self.version = version
        self.upstream = upstream
        self.config = config
        self.inputFiles = inputFiles
        self.run = run
        self.publish = publish
    }
}

public struct StageContext: Sendable {
    public let stageId: StageID
    public let key: String
    public let config: ConfigValue
    /// A private directory that becomes the cache entry once `run` returns.
    public let outputDirectory: String
    /// Complete cache entries of the upstream stages, by stage id.
    public let upstreamDirectories: [StageID: String]
    public let logger: Logger

    public func output(_ name: String) -> String { (outputDirectory as NSString).appendingPathComponent(name) }

    public func upstream(_ id: StageID) throws -> String {
        guard let directory = upstreamDirectories[id] else {
            throw SAEPipeError.runtime("stage \(stageId) has no upstream \(id)")
        }
        return directory
    }
}

public struct PublishContext: Sendable {
    public let stageId: StageID
    /// The stage's complete cache entry.
    public let entryDirectory: String
    /// `outputs/<run>/` being assembled (a temporary directory until the run ends).
    public let runDirectory: String
    /// The entry's path relative to the project root, for manifests.
    public let entryRelativePath: String
}
