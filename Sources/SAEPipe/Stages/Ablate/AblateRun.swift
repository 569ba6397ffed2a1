import Foundation
import SAEPipeCore
import SAEPipeEngine

/// `saepipe ablate RUN`: the finished run's own resolved config (from its manifest) with the
/// `ablate` section set, run through the engine with only the ablate stage, so its output is an
/// ordinary cache entry published into the same run directory.
public enum AblateRun {
    /// Overrides for `--features SIDE:i,j,…` (repeatable), `--top` and `--sequences`.
    public static func overrides(features: [String], top: Int?, sequences: Int?) throws -> [String] {
        var result: [String] = []
        for item in features {
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["A", "B"].contains(parts[0]), !parts[1].isEmpty,
                  parts[1].split(separator: ",").allSatisfy({ Int($0.trimmingCharacters(in: .whitespaces)).map { $0 >= 0 } ?? false })
            else {
                throw SAEPipeError.input("--features takes SIDE:i,j,… (e.g. A:12,40), got '\(item)'", key: "--features")
            }
            result.append("ablate.features.\(parts[0])=[\(parts[1])]")
        }
        if let top { result.append("ablate.top=\(top)") }
        if let sequences { result.append("ablate.sequences=\(sequences)") }
        return result
    }

    /// Measures and publishes into the run; returns the run directory's ablation.json path.
    @discardableResult
    public static func run(_ run: String, overrides: [String], outputs: String = "outputs") throws -> String {
        let directory = try BlogExport.runDirectory(run, outputs: outputs)
        let manifestPath = "\(directory)/manifest.json"
        guard let object = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any],
              var config = object["config"] as? [String: Any], let runName = object["run_name"] as? String
        else {
            throw SAEPipeError.input("\(directory) holds no run manifest with its config (a sweep's directory holds variants)",
                                     file: manifestPath, hint: "name a run, e.g. outputs/default or a sweep variant's directory")
        }
        // An earlier ablation's settings (recorded in the manifest) are not this one's.
        config.removeValue(forKey: "ablate")
        // The config file's name is the run name when the config sets none.
        let scratch = NSTemporaryDirectory() + "saepipe-ablate-\(getpid())"
        defer { FileSystem.remove(scratch) }
        try FileSystem.createDirectory(scratch)
        let configPath = "\(scratch)/\(runName).json"
        try FileSystem.writeAtomically(try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), to: configPath)
        let experiment = try Experiment.load(configPath: configPath, overrides: overrides)
        guard experiment.graph.stages.contains(where: { $0.id == AblateStage.id }) else {
            throw SAEPipeError.input("nothing to ablate", hint: "give --features SIDE:i,j,… or --top N")
        }
        let location = experiment.location()
        guard FileSystem.lastComponent(of: location.path) == FileSystem.lastComponent(of: directory) else {
            throw SAEPipeError.input("the run in \(directory) no longer matches its config here (its inputs or settings changed)",
                                     file: directory, hint: "rerun it with `saepipe run` first")
        }
        // Ablation reads the run's activations and SAEs as cached; it never recomputes them.
        let upstream = Set(experiment.graph.stages.first { $0.id == AblateStage.id }!.upstream)
        if let missing = try experiment.runner().plan().first(where: { upstream.contains($0.stage.id) && $0.action == .run }) {
            let why = missing.reasons.isEmpty ? "" : " (\(missing.reasons.joined(separator: "; ")))"
            throw SAEPipeError.input("\(missing.stage.id) of the run in \(directory) is not in the cache for this saepipe\(why)", file: directory,
                                     hint: "rerun the run (`saepipe run` on its config) first; ablate measures the run's own SAEs")
        }
        _ = try experiment.runner().run(RunOptions(selection: RunSelection(only: AblateStage.id.rawValue)))
        return "\(location.path)/\(AblateStage.fileName)"
    }
}
