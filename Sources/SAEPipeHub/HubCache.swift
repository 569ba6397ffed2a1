import Foundation
import SAEPipeCore

/// A Hugging Face Hub repository at a revision: `ORG/NAME[@REV]`.
public struct HubRepo: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable { case model, dataset }

    public var id: String
    public var kind: Kind
    public var revision: String

    public init(id: String, kind: Kind = .model, revision: String = "main") {
        self.id = id
        self.kind = kind
        self.revision = revision
    }

    /// Parses `ORG/NAME` or `ORG/NAME@REV`; nil when the text is not shaped like a repo id.
    public init?(parsing text: String, kind: Kind = .model) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        let pieces = name.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard pieces.count == 2, pieces.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }),
            name.unicodeScalars.allSatisfy({ allowed.contains($0) || $0 == "/" }),
            parts.count == 1 || !parts[1].isEmpty
        else { return nil }
        self.init(id: name, kind: kind, revision: parts.count == 2 ? parts[1] : "main")
    }

    public var description: String { revision == "main" ? id : "\(id)@\(revision)" }

    /// `models--ORG--NAME`, the folder name Python's huggingface_hub uses.
    var folderName: String { "\(kind == .model ? "models" : "datasets")--\(id.replacingOccurrences(of: "/", with: "--"))" }

    /// URL path prefix of the resolve endpoint.
    var urlPrefix: String { kind == .model ? id : "datasets/\(id)" }

    var isCommitHash: Bool { revision.count == 40 && revision.allSatisfy(\.isHexDigit) }
}

/// The on-disk cache layout shared with Python's huggingface_hub:
/// `hub/models--ORG--NAME/{refs/REV, snapshots/COMMIT/FILE → ../../blobs/ETAG, blobs/ETAG}`.
public struct HubCache: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    /// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `<artifacts>/hf_cache/hub`.
    public static func fromEnvironment(artifacts: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> HubCache {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return HubCache(root: cache) }
        if let home = environment["HF_HOME"], !home.isEmpty { return HubCache(root: "\(home)/hub") }
        return HubCache(root: "\(artifacts)/hf_cache/hub")
    }

    public func repoFolder(_ repo: HubRepo) -> String { "\(root)/\(repo.folderName)" }

    /// The commit a revision points to, from `refs/`, or the revision itself when it is a hash.
    public func commit(for repo: HubRepo) -> String? {
        if repo.isCommitHash { return repo.revision }
        guard let data = FileManager.default.contents(atPath: "\(repoFolder(repo))/refs/\(repo.revision)") else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    public func snapshotFolder(_ repo: HubRepo, commit: String) -> String {
        "\(repoFolder(repo))/snapshots/\(commit)"
    }

    /// The cached path of `file`, when the revision's snapshot holds it.
    public func cachedFile(_ repo: HubRepo, _ file: String) -> String? {
        guard let commit = commit(for: repo) else { return nil }
        let path = "\(snapshotFolder(repo, commit: commit))/\(file)"
        return FileSystem.exists(path) ? path : nil
    }

    func blobPath(_ repo: HubRepo, etag: String) -> String { "\(repoFolder(repo))/blobs/\(etag)" }

    func writeRef(_ repo: HubRepo, commit: String) throws {
        guard !repo.isCommitHash else { return }
        try FileSystem.writeAtomically(commit, to: "\(repoFolder(repo))/refs/\(repo.revision)")
    }

    /// Points `snapshots/COMMIT/FILE` at the blob with a relative link, as huggingface_hub does.
    func link(_ repo: HubRepo, commit: String, file: String, etag: String) throws -> String {
        let path = "\(snapshotFolder(repo, commit: commit))/\(file)"
        let depth = file.split(separator: "/").count + 1
        let target = String(repeating: "../", count: depth) + "blobs/\(etag)"
        try FileSystem.createDirectory(FileSystem.parent(of: path))
        let temporary = path + ".link-\(getpid())"
        FileSystem.remove(temporary)
        guard symlink(target, temporary) == 0 else {
            throw SAEPipeError.runtime("cannot link \(path): \(String(cString: strerror(errno)))", file: path)
        }
        try FileSystem.rename(from: temporary, to: path)
        return path
    }
}
