import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels
import SAEPipeSAE

/// `saepipe export RUN --to DIR`: a blog bundle — report.md (every number from
/// results.json), figures and tables beside it, and a self-contained report.html with a
/// feature browser that highlights each context token by the feature's activation.
public enum BlogExport {
    /// A finished run as the report reads it: its manifest and results.
    struct Run {
        let directory: String
        let manifest: RunManifest
        let results: EvalResults
        var config: ConfigValue { manifest.config }
        var labels: DatasetLabels { DatasetLabels(config: manifest.config) }
        /// A config value as the report prints it.
        func text(_ path: String) -> String? {
            let value = config[path: path]
            switch value {
            case .null: return nil
            case .string(let text): return text
            default: return value.scalarDescription
            }
        }
        func label(_ side: Side) -> String { labels[side] }
        func metric(_ pair: SAEPair, _ value: (EvalResults.PairMetrics) -> Double?) -> Double { results.eval[pair].flatMap(value) ?? .nan }
    }

    /// A run name (under outputs/) or a run directory.
    public static func runDirectory(_ run: String, outputs: String = "outputs") throws -> String {
        for candidate in [run, "\(outputs)/\(run)", "\(outputs)/sweeps/\(run)"]
        where FileSystem.exists("\(candidate)/manifest.json") || SweepExport.isSweep(candidate) { return candidate }
        let known = RunListing.runs(outputs: outputs).map(\.name) + RunListing.sweeps(outputs: outputs)
        let suggestions = ConfigSchema.suggestions(for: FileSystem.lastComponent(of: run), in: known)
        let hint = !suggestions.isEmpty ? "did you mean \(ConfigSchema.alternatives(suggestions))?"
            : known.isEmpty ? "run `saepipe run CONFIG` or `saepipe sweep CONFIG` first"
            : "runs and sweeps in \(outputs)/: " + known.prefix(12).joined(separator: ", ") + (known.count > 12 ? ", …" : "") + " (`saepipe runs` lists them)"
        throw SAEPipeError.input("no run or sweep named \(run)", file: run, hint: hint)
    }

    /// Every bundle holds this file, so a later export knows the directory is its own to replace.
    public static let bundleMarker = ".saepipe-bundle"

    /// Refuses a target that holds files saepipe did not write (unless `force`), and never
    /// replaces the filesystem root, the home directory, the working directory or a parent of it.
    public static func checkTarget(_ target: String, force: Bool) throws {
        let resolve = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        let (resolved, workingDirectory) = (resolve(target), resolve(FileManager.default.currentDirectoryPath))
        let home = resolve(NSHomeDirectory())
        if resolved == "/" || resolved == home || resolved == workingDirectory || workingDirectory.hasPrefix(resolved + "/") {
            throw SAEPipeError.input(
                "refusing to replace \(target): it is the filesystem root, the home directory, or the working directory or one of its parents",
                file: target, hint: "export into a new directory, e.g. --to blog/bundle")
        }
        guard FileSystem.exists(target) else { return }
        guard FileSystem.isDirectory(target) else {
            throw SAEPipeError.input("\(target) is a file, not a directory", file: target, hint: "choose a directory for the bundle")
        }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
        if !contents.isEmpty, !contents.contains(bundleMarker), !force {
            throw SAEPipeError.input(
                "\(target) holds files saepipe did not write (\(contents.sorted().prefix(3).joined(separator: ", "))\(contents.count > 3 ? ", …" : ""))",
                file: target, hint: "export into an empty or new directory, or pass --force to replace it")
        }
    }

    public static func export(run runName: String, to target: String, artifacts: String = "artifacts", force: Bool = false) throws {
        try checkTarget(target, force: force)
        let directory = try runDirectory(runName)
        if SweepExport.isSweep(directory) { return try SweepExport.export(sweep: directory, to: target, artifacts: artifacts) }
        let manifest = try RunManifest.read(runDirectory: directory)
        guard let results = try EvalResults.read(runDirectory: directory) else {
            throw SAEPipeError.input("the run has no results.json", file: directory,
                                     hint: "run every stage first: `saepipe run CONFIG`")
        }
        let run = Run(directory: directory, manifest: manifest, results: results)
        // Built beside the target and renamed into place, so a failed export leaves nothing half-written.
        try FileSystem.replaceDirectory(at: target.hasSuffix("/") ? String(target.dropLast()) : target) { temporary in
            for folder in ["figures", "tables", "features"] {
                for name in FileSystem.listFiles(in: "\(directory)/\(folder)") where folder != "features" || name.hasSuffix(".md") {
                    try FileSystem.copyReplacing("\(directory)/\(folder)/\(name)", to: "\(temporary)/\(folder)/\(name)")
                }
            }
            try FileSystem.copyReplacing("\(directory)/\(EvalResults.fileName)", to: "\(temporary)/\(EvalResults.fileName)")
            let features = try FeatureBrowser.build(run: run, artifacts: artifacts)
            if let modelName = run.text("model.name"), Side.allCases.contains(where: { FileSystem.exists("\(directory)/features/\(FeatureStore.fileName(sae: $0))") }) {
                let tokenizer = try Tokenizer.load(model: try ModelSource.resolve(modelName, artifacts: artifacts))
                try FileSystem.createDirectory("\(temporary)/browser")
                try FeatureBrowserBundle.write(runDirectory: directory, manifest: manifest, results: results, tokenizer: tokenizer, to: "\(temporary)/browser")
            }
            try FileSystem.writeAtomically(ReportWriter.markdown(run, features: features), to: "\(temporary)/report.md")
            try FileSystem.writeAtomically(ReportWriter.html(run, features: features, figures: "\(directory)/figures"), to: "\(temporary)/report.html")
            try FileSystem.writeAtomically("written by saepipe export; a later export may replace this directory\n", to: "\(temporary)/\(bundleMarker)")
        }
    }
}

/// Features worth showing, with per-token activations around their top contexts.
struct FeatureBrowser {
    struct Token { var text: String; var activation: Double; var isMax: Bool }
    struct Example { var activation: Double; var tokens: [Token] }
    struct Feature {
        var sae: Side
        var data: Side
        var index: Int
        var label: String
        var frequency: Double
        /// log2(mean on A / mean on B), the effect size behind the class.
        /// Nil in a one-dataset run.
        var log2Ratio: Double?
        var examples: [Example]
        var ablation: FeatureSummaryFile.Ablation?
    }

    var features: [Feature]
    /// Each SAE's features by class on its own dataset's summary (dead, selective either way, shared).
    var classCounts: [Side: [String: Int]] = [:]

    static func build(run: BlogExport.Run, artifacts: String, perGroup: Int = 4) throws -> FeatureBrowser {
        guard let modelName = run.text("model.name") else { return FeatureBrowser(features: []) }
        let tokenizer = try Tokenizer.load(model: try ModelSource.resolve(modelName, artifacts: artifacts))
        var shown: [Feature] = []
        var classCounts: [Side: [String: Int]] = [:]
        for side in Side.allCases {
            let path = "\(run.directory)/features/\(FeatureSummaryFile.fileName(sae: side, data: side))"
            let storePath = "\(run.directory)/features/\(FeatureStore.fileName(sae: side))"
            guard FileSystem.exists(path), FileSystem.exists(storePath) else { continue }
            let list = try FeatureSummaryFile.read(path).features
            let store = try FeatureStore.Reader(path: storePath)
            for feature in list { classCounts[side, default: [:]][feature.featureClass, default: 0] += 1 }
            let firing = list.filter { $0.frequency > 0 }
            // This SAE's most selective features for its own dataset, and its most frequent ones.
            // Features with a measured effect: the Markdown's listed ones.
            let measured = firing.filter { $0.ablation != nil }
            // One dataset: no selectivity, so the most frequent measured features fill the group.
            let towardHome = { (f: FeatureSummaryFile.Feature) in (side == .A ? 1 : -1) * (f.selectivityLog2Ratio ?? f.frequency) }
            let own = measured.sorted { towardHome($0) > towardHome($1) }.prefix(perGroup)
            let frequent = measured.sorted { $0.frequency > $1.frequency }.filter { candidate in !own.contains { $0.feature == candidate.feature } }
                .prefix(perGroup / 2)
            for feature in own + frequent {
                let top = try store.record(feature.feature).view(on: side)?.top ?? []
                let examples = top.prefix(4).map { example in
                    Example(activation: Double(example.activation), tokens: example.tokens.indices.map { k in
                        Token(text: tokenizer.decode([Int(example.tokens[k])]), activation: Double(example.values[k]), isMax: k == example.center)
                    })
                }
                shown.append(Feature(sae: side, data: side, index: feature.feature, label: feature.label, frequency: feature.frequency,
                                     log2Ratio: feature.selectivityLog2Ratio, examples: examples, ablation: feature.ablation))
            }
        }
        return FeatureBrowser(features: shown, classCounts: classCounts)
    }
}
