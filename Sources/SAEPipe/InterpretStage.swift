import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeLinalg
import SAEPipeModels
import SAEPipeSAE

/// interpret.A / interpret.B: what each feature of one SAE responds to, on both datasets.
public enum InterpretStage {
    public static let configFields: [ConfigField] = [
        ConfigField("interpret", .section(ConfigSection([
            ConfigField("top_k", .int(1...1000), default: .int(10), doc: "top activating contexts kept per feature"),
            ConfigField("reservoir", .int(4...10_000), default: .int(64), doc: "firing rows sampled per feature for quantile examples and token counts"),
            ConfigField("context_before", .int(0...512), default: .int(10), doc: "tokens shown before the activating token"),
            ConfigField("context_after", .int(0...512), default: .int(4), doc: "tokens shown after it"),
            ConfigField("logit_tokens", .int(1...100), default: .int(8), doc: "tokens listed as most promoted and most suppressed"),
            ConfigField("markdown_features", .int(1...10_000), default: .int(20), doc: "features per section of the Markdown summary"),
            ConfigField("selective_threshold", .double(0...1), default: .double(0.6), doc: "|normalized selectivity| above which a feature counts as selective"),
        ])), doc: "feature summaries"),
    ]

    public static func stage(side: String, config: ResolvedConfig, artifacts: String) -> StageSpec {
        let slice = config.value.slice(["seed", "model", "interpret", "datasets.A.label", "datasets.B.label"])
        return StageSpec(
            id: "interpret.\(side)", kind: "interpret", version: 2,
            upstream: ["collect.A", "collect.B", "train.\(side)"], config: slice,
            run: { context in try run(context, side: side, artifacts: artifacts) },
            publish: { context in
                for name in FileSystem.listFiles(in: context.entryDirectory + "/features") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/features/\(name)", to: context.runDirectory + "/features/\(name)")
                }
                return [:]
            })
    }

    static func run(_ context: StageContext, side: String, artifacts: String) throws {
        let config = context.config
        let seed = UInt64(config[path: "seed"].intValue ?? 0)
        let (parameters, activation) = try SAECheckpoint.readSAELens(try context.upstream("train.\(side)"))
        let modelPath = try ModelSource.resolve(config[path: "model.name"].stringValue!, artifacts: artifacts)
        let tokenizer = try Tokenizer.load(model: modelPath)
        let labels = ["A": config[path: "datasets.A.label"].stringValue ?? "A", "B": config[path: "datasets.B.label"].stringValue ?? "B"]
        let started = Date()
        var statistics: [String: FeatureStatistics] = [:]
        var sources: [String: ContextSource] = [:]
        for data in ["A", "B"] {
            let directory = try context.upstream("collect.\(data)")
            let dataset = try ActivationDataset(directory: directory, validationFraction: 0, maxValidationRows: 1, seed: seed)
            statistics[data] = FeatureStatistics.compute(
                parameters, activation: activation, dataset: dataset, topK: config[path: "interpret.top_k"].intValue!,
                reservoirSize: config[path: "interpret.reservoir"].intValue!, seed: seed)
            sources[data] = try ContextSource(directory: directory, tokenizer: tokenizer)
        }
        let encoded = Date().timeIntervalSince(started)
        let model = try LanguageModel.load(modelPath, scope: LoadScope(layers: 0, unembedding: true))
        let logits = try LogitAttribution.compute(parameters, unembedding: model.unembedding!, count: config[path: "interpret.logit_tokens"].intValue!)
        let summaries = FeatureSummaries(
            side: side, labels: labels, statistics: statistics, sources: sources, logits: logits, tokenizer: tokenizer,
            settings: config["interpret"])
        let output = context.output("features")
        for data in ["A", "B"] {
            try summaries.writeJSON(on: data, to: "\(output)/\(side)_on_\(data).json")
            try summaries.writeMarkdown(on: data, to: "\(output)/\(side)_on_\(data).md")
        }
        context.logger.info("interpret.\(side): \(parameters.features) features over \(statistics["A"]!.rows + statistics["B"]!.rows) tokens: encoder passes \(String(format: "%.1f", encoded)) s, all \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}

/// Token windows of an activation set, for rendering a row's context.
struct ContextSource {
    let tokens: [Int32]
    let positions: [Int32]
    let offsets: [Int]
    let tokenizer: Tokenizer

    init(directory: String, tokenizer: Tokenizer) throws {
        tokens = try ActivationStore.readInt32("\(directory)/tokens.mmap")
        positions = try ActivationStore.readInt32("\(directory)/positions.mmap")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/meta.json"))) as? [String: Any]
        offsets = meta?["sequence_offsets"] as? [Int] ?? [0, tokens.count]
        self.tokenizer = tokenizer
    }

    func token(ofRow row: Int) -> Int32 { tokens[Int(positions[row])] }

    /// The token before this row's token within its window, if any.
    func previousToken(ofRow row: Int) -> Int32? {
        let index = Int(positions[row])
        return index > windowStart(index) ? tokens[index - 1] : nil
    }

    /// The token range of the window holding token `index` (binary search on the offsets).
    func window(containing index: Int) -> Range<Int> {
        var (low, high) = (0, offsets.count - 1)
        while low + 1 < high {
            let middle = (low + high) / 2
            if offsets[middle] <= index { low = middle } else { high = middle }
        }
        return offsets[low]..<offsets[low + 1]
    }

    func windowStart(_ index: Int) -> Int { window(containing: index).lowerBound }

    /// Text around the row's token, the token itself marked «…».
    func context(ofRow row: Int, before: Int, after: Int) -> String {
        let index = Int(positions[row])
        let window = window(containing: index)
        let left = max(window.lowerBound, index - before), right = min(window.upperBound, index + 1 + after)
        let decode = { (range: Range<Int>) in tokenizer.decode(tokens[range].map(Int.init)) }
        return decode(left..<index) + "«" + decode(index..<(index + 1)) + "»" + decode((index + 1)..<right)
    }
}

/// Direct logit attribution: each decoder row times W_Uᵀ (the final norm ignored, as sae_vis does).
public enum LogitAttribution {
    struct Result {
        var promoted: [[(token: Int, value: Float)]]
        var suppressed: [[(token: Int, value: Float)]]
    }

    static func compute(_ p: SAEParameters, unembedding: Linear, count: Int) throws -> Result {
        let (F, d, vocab) = (p.features, p.d, unembedding.outFeatures)
        var promoted: [[(Int, Float)]] = [], suppressed: [[(Int, Float)]] = []
        let chunk = max(1, min(F, (32 << 20) / (4 * vocab)))
        var logits = [Float](repeating: 0, count: chunk * vocab)
        for first in stride(from: 0, to: F, by: chunk) {
            let rows = min(chunk, F - first)
            p.wDec.withUnsafeBufferPointer { wd in
                logits.withUnsafeMutableBufferPointer { out in
                    unembedding.apply(wd.baseAddress! + first * d, rows: rows, into: out.baseAddress!)
                }
            }
            for r in 0..<rows {
                logits.withUnsafeBufferPointer { all in
                    let row = UnsafeBufferPointer(rebasing: all[(r * vocab)..<((r + 1) * vocab)])
                    promoted.append(extremes(row, count: count, largest: true))
                    suppressed.append(extremes(row, count: count, largest: false))
                }
            }
        }
        return Result(promoted: promoted, suppressed: suppressed)
    }

    /// The `count` largest (or smallest) entries, best first, in one pass.
    public static func extremes(_ row: UnsafeBufferPointer<Float>, count: Int, largest: Bool) -> [(token: Int, value: Float)] {
        var best: [(token: Int, value: Float)] = []
        let better = { (a: Float, b: Float) in largest ? a > b : a < b }
        for (token, value) in row.enumerated() where best.count < count || better(value, best[best.count - 1].value) {
            var index = best.count
            while index > 0, better(value, best[index - 1].value) { index -= 1 }
            best.insert((token, value), at: index)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
