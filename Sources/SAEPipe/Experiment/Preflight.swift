import Foundation
import SAEPipeCore
import SAEPipeHub
import SAEPipeModels

/// Everything about a config that can be checked before any work and that building the stages
/// does not already check (the datasets' files are checked by the collect stages' inputs): the
/// model file and its layer count, a half-written `datasets.B`, the output directories. `validate`, `status`,
/// `run --dry-run` and `run` all load through it, so a problem is reported once, with the
/// key and where it was written, before a stage starts.
public enum Preflight {
    /// Every problem found (empty when the config is ready to run).
    public static func problems(in config: ResolvedConfig) -> [SAEPipeError] {
        var problems: [SAEPipeError] = []
        func check(_ body: () throws -> Void) {
            do { try body() } catch let error as SAEPipeError { problems += error.all } catch {
                problems.append(SAEPipeError.fromSystem(error))
            }
        }
        let artifacts = config[path: "paths.artifacts"].stringValue ?? "artifacts"
        check { try checkModel(config, artifacts: artifacts) }
        check { try checkDatasetB(config) }
        for key in ["paths.artifacts", "paths.outputs"] {
            check { try checkWritableDirectory(config, key: key) }
        }
        return problems
    }

    static func checkModel(_ config: ResolvedConfig, artifacts: String) throws {
        let model = try ModelSettings.read(ConfigReader(config.value))
        let hook = try model.hookPoint()
        let local: String
        if FileSystem.exists(model.name) {
            local = model.name
        } else if ModelSource.looksLikeHubID(model.name) {
            // Not downloaded yet: collect fetches it; its header is checked then.
            guard let snapshot = ModelSource.cachedSnapshot(model.name, artifacts: artifacts) else { return }
            local = snapshot
        } else {
            throw missingModel(model.name)
        }
        let header: ModelHeader
        do { header = try ModelHeader.read(local) } catch var error as SAEPipeError {
            error.keyPath = "model.name"
            throw error
        }
        guard hook.layer < header.layerCount else {
            let key = model.hook == nil ? "model.layer" : "model.hook"
            throw SAEPipeError.input(
                "layer \(hook.layer) does not exist: the model has \(header.layerCount) layers (0…\(header.layerCount - 1))",
                key: key, file: header.source, hint: "use a layer from 0 to \(header.layerCount - 1)")
        }
    }

    /// A model path that does not exist, with the likeliest fix.
    static func missingModel(_ name: String) -> SAEPipeError {
        var hint = "pass a local model directory, a .gguf file, or a Hub id like EleutherAI/pythia-70m-deduped"
        if name == ModelSettings.defaultName {
            hint = "the quickstart model is downloaded by scripts/fetch-quickstart-model.sh (./run_all.sh runs it)"
        } else if let nearby = FileSystem.closestEntry(to: name) {
            hint = "did you mean \(nearby)?"
        }
        return SAEPipeError.input("no model directory or .gguf file at \(name)", key: "model.name", hint: hint)
    }

    /// `datasets.B` with settings but neither `path` nor `hub` is a half-written dataset, not
    /// a one-dataset run.
    static func checkDatasetB(_ config: ResolvedConfig) throws {
        guard Side.present(in: config.value) == [.A] else { return }
        let written = config.locations.keys.filter { $0.hasPrefix("datasets.B.") && !config.value[path: $0].isNull }.sorted()
        guard let first = written.first else { return }
        throw SAEPipeError.input(
            "`datasets.B` sets \(written.map { "`\($0.dropFirst("datasets.B.".count))`" }.joined(separator: ", ")) but neither `path` nor `hub`",
            at: config.location(of: first), key: "datasets.B",
            hint: "add `path:` or `hub:` to compare two datasets, or remove `datasets.B` for a one-dataset run")
    }

    /// An output directory must be a directory, or creatable inside a writable one.
    static func checkWritableDirectory(_ config: ResolvedConfig, key: String) throws {
        guard let path = config[path: key].stringValue, !path.isEmpty else {
            throw SAEPipeError.input("`\(key)` must name a directory", key: key)
        }
        var existing = URL(fileURLWithPath: path).standardizedFileURL
        while !FileSystem.exists(existing.path), existing.path != "/" { existing.deleteLastPathComponent() }
        guard FileSystem.isDirectory(existing.path) else {
            throw SAEPipeError.input(
                "\(existing.path) is \(FileSystem.kindDescription(existing.path) ?? "not a directory"), so `\(key)` cannot be a directory there",
                key: key, hint: "point `\(key)` at a directory")
        }
        guard access(existing.path, W_OK) == 0 else {
            throw SAEPipeError.input("\(existing.path) is not writable, so saepipe cannot write `\(key)` (\(path))",
                                     key: key, hint: "point `\(key)` at a directory you can write to")
        }
    }
}
