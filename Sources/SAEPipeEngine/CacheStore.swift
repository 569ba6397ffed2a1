import Foundation
import SAEPipeCore

/// Content-addressed stage outputs: `<root>/<kind>/<key>/`, each with a manifest.json
/// written last, and made visible by one rename, so an entry that exists is complete.
public struct CacheStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public func entryDirectory(kind: String, key: String) -> String { "\(root)/\(kind)/\(key)" }

    public func manifestPath(kind: String, key: String) -> String {
        "\(entryDirectory(kind: kind, key: key))/manifest.json"
    }

    public func readManifest(kind: String, key: String) -> EntryManifest? {
        guard let data = FileManager.default.contents(atPath: manifestPath(kind: kind, key: key)) else { return nil }
        return try? JSONDecoder().decode(EntryManifest.self, from: data)
    }

    /// Why a complete-looking entry cannot be used, or nil when it can.
    public func problem(kind: String, key: String) -> String? {
        let directory = entryDirectory(kind: kind, key: key)
        guard FileSystem.isDirectory(directory) else { return "no cache entry" }
        guard let manifest = readManifest(kind: kind, key: key) else { return "cache entry has no readable manifest" }
        for output in manifest.outputs {
            let path = "\(directory)/\(output.path)"
            guard let size = FileSystem.fileSize(path) else { return "output \(output.path) is missing" }
            if size != output.size { return "output \(output.path) changed size (\(size) ≠ \(output.size) bytes)" }
        }
        return nil
    }

    /// The most recently finished entry that the given stage id wrote, for explaining changes.
    public func latestManifest(kind: String, stageId: StageID) -> EntryManifest? {
        let directory = "\(root)/\(kind)"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".lock") }
            .compactMap { readManifest(kind: kind, key: $0) }
            .filter { $0.stageId == stageId }
            .max { $0.finished < $1.finished }
    }

    /// Holds an exclusive lock on one entry while it is written; released on close or on process death.
    public func lock(kind: String, key: String, waiting: (Int32?) -> Void) throws -> FileLock {
        let directory = "\(root)/\(kind)"
        try FileSystem.createDirectory(directory)
        return try FileLock(path: "\(directory)/\(key).lock", waiting: waiting)
    }

    /// A fresh private directory for writing an entry, after removing what killed runs left.
    /// Runs `build` in a private directory that becomes the entry for `key` once it returns the
    /// entry's manifest (outputs hashed here); the entry is never seen partly written.
    public func write(kind: String, key: String, build: (_ directory: String) throws -> EntryManifest) throws {
        // The engine holds the entry's lock (`lock(kind:key:)`) while it writes.
        try FileSystem.replaceDirectory(at: entryDirectory(kind: kind, key: key), alreadyLocked: true) { temporary in
            var manifest = try build(temporary)
            manifest.outputs = try FileSystem.listFiles(in: temporary).map { relative in
                let path = "\(temporary)/\(relative)"
                return EntryManifest.Output(
                    path: relative, size: FileSystem.fileSize(path) ?? 0, sha256: try Hashing.sha256Hex(fileAt: path))
            }
            try JSONFile.write(manifest, to: "\(temporary)/\(EntryManifest.fileName)")
        }
    }
}

/// What an entry records about how it was made.
public struct EntryManifest: Codable, Sendable {
    public static let fileName = "manifest.json"
    public struct Upstream: Codable, Sendable, Equatable {
        public var id: StageID
        public var key: String
        public init(id: StageID, key: String) {
            self.id = id
            self.key = key
        }
    }
    public struct Input: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
        public init(path: String, sha256: String) {
            self.path = path
            self.sha256 = sha256
        }
    }
    public struct Output: Codable, Sendable {
        public var path: String
        public var size: UInt64
        public var sha256: String
    }

    public var saepipeVersion: String
    public var stage: String
    public var stageId: StageID
    public var version: Int
    public var key: String
    /// The config slice as canonical JSON.
    public var config: String
    public var upstream: [Upstream]
    public var inputs: [Input]
    public var outputs: [Output]
    public var started: Double
    public var finished: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case saepipeVersion = "saepipe_version", stage, stageId = "stage_id", version, key, config, upstream, inputs,
            outputs, started, finished, seconds
    }
}

