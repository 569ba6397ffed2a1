import Foundation
import SAEPipeCore

/// Turns what a user writes for a model — a directory, a .gguf file, or a Hub id
/// `ORG/NAME[@REV]` — into a local path, downloading Hub files into the shared cache.
public enum ModelSource {
    /// Files a model needs from its Hub listing: config, tokenizer and safetensors weights.
    static func requiredFiles(listing: [String], repo: HubRepo) throws -> [String] {
        let present = Set(listing)
        guard present.contains("config.json") else {
            throw SAEPipeError.input("\(repo) has no config.json", hint: "is this a transformers model repo?")
        }
        var files = ["config.json"]
        if present.contains("tokenizer.json") { files.append("tokenizer.json") }
        if present.contains("model.safetensors.index.json") {
            files.append("model.safetensors.index.json")  // shards are read from it after download
        } else if present.contains("model.safetensors") {
            files.append("model.safetensors")
        } else if let pickle = listing.first(where: { $0.hasSuffix(".bin") || $0.hasSuffix(".pt") || $0.hasSuffix(".pth") }) {
            throw SAEPipeError.input(
                "\(repo) has only a pickled checkpoint (\(pickle)), which saepipe never loads",
                hint: "pick a revision with model.safetensors (e.g. the Hub's `refs/pr/N` safetensors conversion) or convert it")
        } else {
            throw SAEPipeError.input("\(repo) has no model.safetensors", hint: "saepipe reads safetensors and GGUF weights")
        }
        return files
    }

    /// A local directory or file, unchanged; a Hub id, resolved to its cached snapshot directory.
    public static func resolve(_ spec: String, artifacts: String, hub: HubClient? = nil) throws -> String {
        if FileSystem.exists(spec) { return spec }
        guard let repo = HubRepo(parsing: spec) else {
            throw SAEPipeError.input(
                "no model directory or .gguf file at this path", file: spec,
                hint: "pass a local Hugging Face model directory, a .gguf file or a Hub id like EleutherAI/pythia-70m-deduped")
        }
        let client = hub ?? HubClient.fromEnvironment(artifacts: artifacts)
        if let snapshot = completeSnapshot(repo, cache: client.cache) { return snapshot }
        let (_, listing) = try client.listFiles(repo)
        var last = ""
        for file in try requiredFiles(listing: listing, repo: repo) {
            last = try client.file(repo, file)
            if file == "model.safetensors.index.json" {
                for shard in try shards(indexAt: last) { _ = try client.file(repo, shard) }
            }
        }
        return FileSystem.parent(of: last)
    }

    /// The local directory a Hub id already resolves to without the network, or nil (not a
    /// Hub id, or not downloaded yet).
    public static func cachedSnapshot(_ spec: String, artifacts: String) -> String? {
        guard let repo = HubRepo(parsing: spec) else { return nil }
        return completeSnapshot(repo, cache: HubCache.fromEnvironment(artifacts: artifacts))
    }

    /// Whether `spec` reads as a Hub id (`ORG/NAME[@REV]`) rather than a local path.
    public static func looksLikeHubID(_ spec: String) -> Bool {
        guard !spec.hasPrefix("/"), !spec.hasPrefix("."), !spec.hasPrefix("~"), !spec.hasSuffix(".gguf") else { return false }
        return HubRepo(parsing: spec) != nil
    }

    /// The cached snapshot of a revision when it already holds config and weights (no network).
    static func completeSnapshot(_ repo: HubRepo, cache: HubCache) -> String? {
        guard let config = cache.cachedFile(repo, "config.json") else { return nil }
        let directory = FileSystem.parent(of: config)
        if FileSystem.exists("\(directory)/model.safetensors") { return directory }
        if let shardList = try? shards(indexAt: "\(directory)/model.safetensors.index.json"),
            shardList.allSatisfy({ FileSystem.exists("\(directory)/\($0)") })
        {
            return directory
        }
        return nil
    }

    public static func shards(indexAt path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let map = json["weight_map"] as? [String: String]
        else { throw SAEPipeError.input("shard index has no weight_map", file: path) }
        return Set(map.values).sorted()
    }
}
