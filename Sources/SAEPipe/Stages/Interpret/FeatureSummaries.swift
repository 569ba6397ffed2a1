import Foundation
import SAEPipeCore
import SAEPipeModels

/// Feature summaries of one SAE on one dataset: every feature in JSON, the notable ones in Markdown.
struct FeatureSummaries {
    let side: Side
    let labels: DatasetLabels
    let statistics: [Side: FeatureStatistics]
    let sources: [Side: ContextSource]
    let logits: LogitAttribution.Result
    let tokenizer: Tokenizer
    let settings: InterpretStage.InterpretSettings

    var features: Int { statistics[.A]!.features }
    var before: Int { settings.contextBefore }
    var after: Int { settings.contextAfter }

    /// Mean activation on A minus on B (every token counted), and that difference over their sum.
    func selectivity(_ i: Int) -> (difference: Double, normalized: Double) {
        let (a, b) = (statistics[.A]!.means[i], statistics[.B]!.means[i])
        return (a - b, a + b > 0 ? (a - b) / (a + b) : 0)
    }

    /// The tokens (and the commonest token pair) among a feature's sampled firing rows.
    func topTokens(_ i: Int, on data: Side) -> (tokens: [(text: String, share: Double)], bigram: (text: String, share: Double)?) {
        let sample = statistics[data]!.reservoir[i]
        guard !sample.isEmpty else { return ([], nil) }
        let source = sources[data]!
        var counts: [Int32: Int] = [:], pairs: [String: Int] = [:]
        for example in sample {
            let token = source.token(ofRow: example.row)
            counts[token, default: 0] += 1
            if let previous = source.previousToken(ofRow: example.row) {
                pairs[tokenizer.decode([Int(previous), Int(token)]), default: 0] += 1
            }
        }
        let n = Double(sample.count)
        let tokens = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5)
            .map { (tokenizer.decode([Int($0.key)]), Double($0.value) / n) }
        let bigram = pairs.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, Double($0.value) / n) }
        return (tokens, bigram)
    }

    /// e.g. `code-selective: "self", ".", "(" (" self.")`.
    func label(_ i: Int) -> String {
        let threshold = settings.selectiveThreshold
        let normalized = selectivity(i).normalized
        let kind = statistics[.A]!.counts[i] + statistics[.B]!.counts[i] == 0 ? "dead"
            : normalized > threshold ? "\(labels[.A])-selective" : normalized < -threshold ? "\(labels[.B])-selective" : "both"
        // Describe the feature by where it is most active on average.
        let home: Side = selectivity(i).difference >= 0 ? .A : .B
        let (tokens, bigram) = topTokens(i, on: home)
        var text = kind
        if !tokens.isEmpty { text += ": " + tokens.prefix(3).map { quoted($0.text) }.joined(separator: ", ") }
        if let bigram, bigram.share >= 0.3 { text += " (" + quoted(bigram.text) + ")" }
        return text
    }

    func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    func writeJSON(on data: Side, to path: String) throws {
        let stats = statistics[data]!, source = sources[data]!
        let context = { (example: FeatureStatistics.Example) in
            FeatureSummaryFile.Context(activation: Double(example.activation), row: example.row,
                                       context: source.context(ofRow: example.row, before: before, after: after))
        }
        let entries = (0..<features).map { i -> FeatureSummaryFile.Feature in
            let (difference, normalized) = selectivity(i)
            let sample = stats.reservoir[i].sorted { $0.activation < $1.activation }
            let quantiles = [0.1, 0.25, 0.5].compactMap { q -> FeatureStatistics.Example? in
                sample.isEmpty ? nil : sample[min(sample.count - 1, Int(q * Double(sample.count)))]
            }
            let (tokens, bigram) = topTokens(i, on: data)
            return FeatureSummaryFile.Feature(
                feature: i, label: label(i), frequency: stats.frequencies[i], meanActivation: stats.means[i],
                maxActivation: Double(stats.maxima[i]), selectivity: difference, selectivityNormalized: normalized,
                topContexts: stats.top[i].map(context), quantileExamples: quantiles.map(context),
                topTokens: tokens.map { FeatureSummaryFile.TokenShare(token: $0.text, share: $0.share) },
                topBigram: bigram.map { FeatureSummaryFile.Bigram(text: $0.text, share: $0.share) },
                promotedTokens: logits.promoted[i].map { .init(token: tokenizer.decode([$0.token]), logit: Double($0.value)) },
                suppressedTokens: logits.suppressed[i].map { .init(token: tokenizer.decode([$0.token]), logit: Double($0.value)) })
        }
        let document = FeatureSummaryFile(
            sae: side, dataset: data, datasetLabel: labels[data], features: entries, tokens: stats.rows,
            notes: [
                "frequency": "share of the dataset's tokens on which the feature is active",
                "selectivity": "mean activation on A minus mean activation on B (all tokens); normalized: that over their sum",
                "logit_attribution": "decoder row · W_U (unembedding); the final norm is ignored, as sae_vis does",
                "top_tokens": "from a seeded reservoir sample of the feature's firing tokens",
            ])
        try JSONFile.write(document, to: path)
    }

    func writeMarkdown(on data: Side, to path: String) throws {
        let stats = statistics[data]!, source = sources[data]!
        let count = settings.markdownFeatures
        let alive = (0..<features).filter { stats.counts[$0] > 0 }
        let byFrequency = alive.sorted { (stats.counts[$0], $1) > (stats.counts[$1], $0) }.prefix(count)
        let towardA = (0..<features).sorted { (selectivity($0).difference, $1) > (selectivity($1).difference, $0) }.prefix(count / 2)
        let towardB = (0..<features).sorted { (selectivity($0).difference, $1) < (selectivity($1).difference, $0) }.prefix(count / 2)
        var text = "# SAE \(side) on dataset \(data) (\(labels[data]))\n\n"
        text += "\(features) features, \(stats.rows) tokens; \(alive.count) features fire here. "
        text += "Selectivity compares mean activations on A (\(labels[.A])) and B (\(labels[.B])); logit attribution is the decoder row times W_U with the final norm ignored (as sae_vis).\n\n"
        for (title, list) in [("Most frequent features", Array(byFrequency)),
                              ("Most \(labels[.A])-selective (A over B)", Array(towardA)),
                              ("Most \(labels[.B])-selective (B over A)", Array(towardB))] {
            text += "## \(title)\n\n"
            for i in list { text += section(i, stats: stats, source: source) }
        }
        try FileSystem.writeAtomically(text, to: path)
    }

    private func section(_ i: Int, stats: FeatureStatistics, source: ContextSource) -> String {
        let (difference, normalized) = selectivity(i)
        let show = { (text: String) in text.replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "|", with: "\\|") }
        var text = "### Feature \(i) — \(label(i))\n\n"
        text += String(format: "frequency %.4f, mean %.4f, max %.3f, selectivity %.4f (normalized %.2f)\n\n",
                       stats.frequencies[i], stats.means[i], stats.maxima[i], difference, normalized)
        text += "| activation | context |\n|---|---|\n"
        for example in stats.top[i].prefix(5) {
            text += String(format: "| %.3f | ", example.activation) + show(source.context(ofRow: example.row, before: before, after: after)) + " |\n"
        }
        let sample = stats.reservoir[i].sorted { $0.activation < $1.activation }
        if let low = sample.first, sample.count >= 4 {
            let median = sample[sample.count / 2]
            for (name, example) in [("median", median), ("low", low)] {
                text += String(format: "| %.3f (%@) | ", example.activation, name) + show(source.context(ofRow: example.row, before: before, after: after)) + " |\n"
            }
        }
        let promoted = logits.promoted[i].map { quoted(tokenizer.decode([$0.token])) }.joined(separator: " ")
        let suppressed = logits.suppressed[i].map { quoted(tokenizer.decode([$0.token])) }.joined(separator: " ")
        text += "\npromotes: \(show(promoted))  \nsuppresses: \(show(suppressed))\n\n"
        return text
    }
}
