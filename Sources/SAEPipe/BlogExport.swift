import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import SAEPipeSAE

/// `saepipe export RUN --to DIR`: a blog bundle — report.md (every number from
/// results.json), figures and tables beside it, and a self-contained report.html with a
/// feature browser that highlights each context token by the feature's activation.
public enum BlogExport {
    struct Run {
        let directory: String
        let manifest: [String: Any]
        let results: [String: Any]
        var config: [String: Any] { manifest["config"] as? [String: Any] ?? [:] }
        var eval: [String: [String: Any]] { results["eval"] as? [String: [String: Any]] ?? [:] }
        func value(_ path: String) -> Any? {
            var node: Any? = config
            for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
            return node
        }
        func label(_ side: String) -> String { value("datasets.\(side).label") as? String ?? side }
        func metric(_ pair: String, _ key: String) -> Double { eval[pair]?[key] as? Double ?? .nan }
    }

    /// A run name (under outputs/) or a run directory.
    public static func runDirectory(_ run: String, outputs: String = "outputs") throws -> String {
        for candidate in [run, "\(outputs)/\(run)", "\(outputs)/sweeps/\(run)"]
        where FileSystem.exists("\(candidate)/manifest.json") || SweepExport.isSweep(candidate) { return candidate }
        throw SAEPipeError.input("no run named \(run)", file: run,
                                 hint: "pass a run or sweep name from \(outputs)/ (or its directory); run `saepipe run CONFIG` or `saepipe sweep CONFIG` first")
    }

    public static func export(run runName: String, to target: String, artifacts: String = "artifacts") throws {
        let directory = try runDirectory(runName)
        if SweepExport.isSweep(directory) { return try SweepExport.export(sweep: directory, to: target, artifacts: artifacts) }
        guard let manifestData = FileManager.default.contents(atPath: "\(directory)/manifest.json"),
            let manifest = (try? JSONSerialization.jsonObject(with: manifestData)) as? [String: Any]
        else { throw SAEPipeError.input("unreadable run manifest", file: "\(directory)/manifest.json") }
        guard let resultsData = FileManager.default.contents(atPath: "\(directory)/results.json"),
            let results = (try? JSONSerialization.jsonObject(with: resultsData)) as? [String: Any]
        else {
            throw SAEPipeError.input("the run has no results.json", file: directory,
                                     hint: "run every stage first: `saepipe run CONFIG`")
        }
        let run = Run(directory: directory, manifest: manifest, results: results)
        // Built in a temporary directory and renamed into place, so a failed export leaves nothing half-written.
        let temporary = target.hasSuffix("/") ? String(target.dropLast()) + ".tmp-\(getpid())" : target + ".tmp-\(getpid())"
        FileSystem.remove(temporary)
        try FileSystem.createDirectory(temporary)
        do {
            for folder in ["figures", "tables", "features"] {
                for name in FileSystem.listFiles(in: "\(directory)/\(folder)") where folder != "features" || name.hasSuffix(".md") {
                    try FileSystem.copyReplacing("\(directory)/\(folder)/\(name)", to: "\(temporary)/\(folder)/\(name)")
                }
            }
            try FileSystem.copyReplacing("\(directory)/results.json", to: "\(temporary)/results.json")
            let features = try FeatureBrowser.build(run: run, artifacts: artifacts)
            try FileSystem.writeAtomically(ReportWriter.markdown(run, features: features), to: "\(temporary)/report.md")
            try FileSystem.writeAtomically(ReportWriter.html(run, features: features, figures: "\(directory)/figures"), to: "\(temporary)/report.html")
            FileSystem.remove(target)
            try FileSystem.rename(from: temporary, to: target)
        } catch {
            FileSystem.remove(temporary)
            throw error
        }
    }
}

/// Features worth showing, with per-token activations around their top contexts.
struct FeatureBrowser {
    struct Token { var text: String; var activation: Double; var isMax: Bool }
    struct Example { var activation: Double; var tokens: [Token] }
    struct Feature { var sae: String; var data: String; var index: Int; var label: String; var frequency: Double
                     var selectivity: Double; var examples: [Example]; var promoted: [String] }

    var features: [Feature]

    static func build(run: BlogExport.Run, artifacts: String, perGroup: Int = 4) throws -> FeatureBrowser {
        guard let saes = run.manifest["saes"] as? [String: String], let activations = run.manifest["activations"] as? [String: String],
            let modelName = run.value("model.name") as? String
        else { return FeatureBrowser(features: []) }
        let tokenizer = try Tokenizer.load(model: try ModelSource.resolve(modelName, artifacts: artifacts))
        var shown: [Feature] = []
        for side in ["A", "B"] {
            guard let summary = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run.directory)/features/\(side)_on_\(side).json"))) as? [String: Any],
                let list = summary["features"] as? [[String: Any]], let saePath = saes[side], let actsPath = activations[side]
            else { continue }
            let (parameters, activation) = try SAECheckpoint.readSAELens(saePath)
            let source = try ContextSource(directory: actsPath, tokenizer: tokenizer)
            let dataset = try ActivationDataset(directory: actsPath, validationFraction: 0, maxValidationRows: 1, seed: 0)
            var rowOfToken: [Int: Int] = [:]
            for (row, position) in source.positions.enumerated() { rowOfToken[Int(position)] = row }
            let selectivity = { (f: [String: Any]) in f["selectivity_normalized"] as? Double ?? 0 }
            let firing = list.filter { ($0["frequency"] as? Double ?? 0) > 0 }
            // This SAE's most selective features for its own dataset, and its most frequent ones.
            let own = firing.sorted { side == "A" ? selectivity($0) > selectivity($1) : selectivity($0) < selectivity($1) }.prefix(perGroup)
            let frequent = firing.sorted { ($0["frequency"] as? Double ?? 0) > ($1["frequency"] as? Double ?? 0) }.prefix(perGroup / 2)
            for feature in own + frequent {
                let index = feature["feature"] as? Int ?? 0
                let contexts = (feature["top_contexts"] as? [[String: Any]] ?? []).prefix(4)
                let examples = contexts.compactMap { context -> Example? in
                    guard let row = context["row"] as? Int else { return nil }
                    let center = Int(source.positions[row])
                    let window = source.window(containing: center)
                    let start = max(window.lowerBound, center - 12), end = min(window.upperBound, center + 5)
                    let rows = (start..<end).map { rowOfToken[$0] }
                    let values = FeatureBrowser.activations(of: index, rows: rows, parameters: parameters, activation: activation, dataset: dataset)
                    let tokens = (start..<end).enumerated().map { offset, token in
                        Token(text: tokenizer.decode([Int(source.tokens[token])]), activation: values[offset], isMax: token == center)
                    }
                    return Example(activation: context["activation"] as? Double ?? 0, tokens: tokens)
                }
                shown.append(Feature(sae: side, data: side, index: index, label: feature["label"] as? String ?? "",
                                     frequency: feature["frequency"] as? Double ?? 0, selectivity: selectivity(feature),
                                     examples: examples,
                                     promoted: (feature["promoted_tokens"] as? [[String: Any]] ?? []).compactMap { $0["token"] as? String }))
            }
        }
        return FeatureBrowser(features: shown)
    }

    /// Feature `index`'s activation on each row (0 where a position has no row: excluded specials).
    static func activations(of index: Int, rows: [Int?], parameters: SAEParameters, activation: SAEActivation,
                            dataset: ActivationDataset) -> [Double] {
        let present = rows.compactMap { $0 }
        guard !present.isEmpty else { return rows.map { _ in 0 } }
        let d = dataset.d
        var x = [Float](repeating: 0, count: present.count * d)
        x.withUnsafeMutableBufferPointer { dataset.gather(present[...], scale: 1, into: $0.baseAddress!) }
        let workspace = SAEWorkspace(batch: present.count, d: d, features: parameters.features)
        _ = x.withUnsafeBufferPointer {
            SAEMath.forward(parameters, $0.baseAddress!, rows: present.count, activation: activation, form: .unitNormDecoder, workspace: workspace)
        }
        let f = workspace.activations
        var next = 0
        return rows.map { row in
            guard row != nil else { return 0 }
            defer { next += 1 }
            return Double(f[next * parameters.features + index])
        }
    }
}
