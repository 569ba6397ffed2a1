import Foundation
import SAEPipeCore
import SAEPipeModels

/// Feature summaries of one SAE on one dataset: every feature in JSON (its contexts go to the
/// feature store), the notable ones in Markdown.
/// A feature's label on a dataset comes from its own top contexts there, so it never contradicts
/// the contexts printed beside it; its class comes from an effect size across the datasets.
struct FeatureSummaries {
    let side: Side
    let labels: DatasetLabels
    let statistics: [Side: FeatureStatistics]
    let sources: [Side: ContextSource]
    let logits: LogitAttribution.Result
    /// Why logit attribution is only indicative here (nil when the hook is next to the output).
    let logitCaveat: String?
    /// Measured effects of the notable features on the SAE's own dataset.
    let ablation: [Int: FeatureAblation.Effect]
    let tokenizer: Tokenizer
    let settings: InterpretStage.InterpretSettings

    var features: Int { statistics[.A]!.features }
    /// Whether there is a second dataset to compare with (a one-dataset run has only A).
    var compared: Bool { statistics[.B] != nil }
    var before: Int { settings.contextBefore }
    var after: Int { settings.contextAfter }

    /// Mean activation on A minus on B (every token counted), and that difference over their sum.
    func selectivity(_ i: Int) -> (difference: Double, normalized: Double) {
        guard compared else { return (0, 0) }
        let (a, b) = (statistics[.A]!.means[i], statistics[.B]!.means[i])
        return (a - b, a + b > 0 ? (a - b) / (a + b) : 0)
    }

    /// The effect size behind the class: log2 of mean activation on A over mean activation on B
    /// (±20 when the feature never fires on one of them).
    func log2Ratio(_ i: Int) -> Double {
        guard compared else { return 0 }
        let (a, b) = (statistics[.A]!.means[i], statistics[.B]!.means[i])
        if a == 0 && b == 0 { return 0 }
        if b == 0 { return 20 }
        if a == 0 { return -20 }
        return max(-20, min(20, log2(a / b)))
    }

    /// dead, `<A label>-selective`, `<B label>-selective` (mean activation at least
    /// `interpret.selective_ratio` times higher there), or shared; with one dataset, dead or active.
    func featureClass(_ i: Int) -> String {
        if statistics.values.reduce(0, { $0 + $1.counts[i] }) == 0 { return "dead" }
        guard compared else { return "active" }
        let threshold = log2(settings.selectiveRatio), effect = log2Ratio(i)
        return effect >= threshold ? "\(labels[.A])-selective" : effect <= -threshold ? "\(labels[.B])-selective" : "shared"
    }

    /// "3.1× more active on code", for the report and the Markdown.
    func effectText(_ i: Int) -> String {
        let effect = log2Ratio(i)
        if abs(effect) >= 20 { return "fires on \(effect > 0 ? labels[.A] : labels[.B]) only" }
        if pow(2, abs(effect)) < 1.1 { return "about equally active on both datasets" }
        let ratio = pow(2, abs(effect))
        return NumberFormat.fixed(ratio, digits: 1) + "× more active on " + (effect >= 0 ? labels[.A] : labels[.B])
    }

    /// What the feature's top contexts on `data` share: the activating token, the token before
    /// it, and a token most of the contexts hold earlier in the line.
    func contextLabel(_ i: Int, on data: Side) -> String {
        let top = statistics[data]!.top[i]
        guard !top.isEmpty else { return "no firing context" }
        let source = sources[data]!
        let n = Double(top.count)
        func commonest(_ tokens: [Int32]) -> (token: Int32, share: Double)? {
            var counts: [Int32: Int] = [:]
            for token in tokens { counts[token, default: 0] += 1 }
            return counts.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, Double($0.value) / n) }
        }
        let tokens = top.map { source.token(ofRow: $0.row) }
        var text: String
        if let (token, share) = commonest(tokens), share >= 0.5 {
            text = quoted(tokenizer.decode([Int(token)]))
        } else {
            // No token dominates: the top context's token first, then the commonest others.
            var counts: [Int32: Int] = [:]
            for token in tokens { counts[token, default: 0] += 1 }
            let others = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key).filter { $0 != tokens[0] }
            text = "various: " + ([tokens[0]] + others.prefix(2)).map { quoted(tokenizer.decode([Int($0)])) }.joined(separator: " / ")
        }
        let previous = top.compactMap { source.previousToken(ofRow: $0.row) }
        var shown = Set(tokens)
        if let (token, share) = commonest(previous), share >= 0.5 {
            text += " after " + quoted(tokenizer.decode([Int(token)]))
            shown.insert(token)
        }
        // A word most contexts hold a few tokens earlier (`except` before `:` `pass`).
        var presence: [Int32: Int] = [:]
        for example in top {
            let index = Int(source.positions[example.row])
            let window = source.window(containing: index)
            let earlier = Set(source.tokens[max(window.lowerBound, index - 8)..<max(window.lowerBound, index - 1)])
            for token in earlier where !shown.contains(token) { presence[token, default: 0] += 1 }
        }
        let words = presence.filter { Double($0.value) >= 0.8 * n && isWord(tokenizer.decode([Int($0.key)])) }
        if let word = words.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }) {
            text += ", " + quoted(tokenizer.decode([Int(word.key)])) + " earlier"
        }
        return text
    }

    func isWord(_ text: String) -> Bool { text.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.count >= 2 }

    /// e.g. `code-selective: " pass" after ":", " except" earlier` — from this dataset's contexts.
    func label(_ i: Int, on data: Side) -> String {
        let kind = featureClass(i)
        if kind == "dead" { return kind }
        return compared ? kind + ": " + contextLabel(i, on: data) : contextLabel(i, on: data)
    }

    /// The tokens (and the commonest token pair) among a feature's sampled firing rows.
    func topTokens(_ i: Int, on data: Side) -> (tokens: [(text: String, share: Double)], bigram: (text: String, share: Double)?) {
        let sample = statistics[data]!.reservoir[i]
        guard !sample.isEmpty else { return ([], nil) }
        let source = sources[data]!
        var pairs: [String: Int] = [:]
        for example in sample {
            if let previous = source.previousToken(ofRow: example.row) {
                pairs[tokenizer.decode([Int(previous), Int(source.token(ofRow: example.row))]), default: 0] += 1
            }
        }
        let n = Double(sample.count)
        let tokens = FeatureDetails.topTokens(i, stats: statistics[data]!, source: source, count: 5)
            .map { (tokenizer.decode([Int($0.token)]), $0.share) }
        let bigram = pairs.max { ($0.value, $1.key) < ($1.value, $0.key) }.map { ($0.key, Double($0.value) / n) }
        return (tokens, bigram)
    }

    func quoted(_ text: String) -> String { Self.quoted(text) }

    /// A token as labels quote it (the report matches examples to labels with it).
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
            .replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The features the Markdown lists (and whose ablation effect is measured): the most frequent
    /// here, and the most selective each way by effect size.
    static func notable(statistics: [Side: FeatureStatistics], on data: Side, count: Int,
                        log2Ratio: (Int) -> Double) -> (frequent: [Int], towardA: [Int], towardB: [Int]) {
        let stats = statistics[data]!
        let features = stats.features
        let alive = (0..<features).filter { stats.counts[$0] > 0 }
        let frequent = alive.sorted { (stats.counts[$0], $1) > (stats.counts[$1], $0) }.prefix(count)
        // One dataset: nothing to be selective against.
        guard let a = statistics[.A], let b = statistics[.B] else { return (Array(frequent), [], []) }
        let firingAnywhere = (0..<features).filter { a.counts[$0] + b.counts[$0] > 0 }
        // Among features firing often enough to matter, the largest effects each way.
        let common = firingAnywhere.filter { a.frequencies[$0] + b.frequencies[$0] >= 0.001 }
        let towardA = common.sorted { (log2Ratio($0), $1) > (log2Ratio($1), $0) }.prefix(count / 2)
        let towardB = common.sorted { (log2Ratio($0), $1) < (log2Ratio($1), $0) }.prefix(count / 2)
        return (Array(frequent), Array(towardA), Array(towardB))
    }

    func writeJSON(on data: Side, to path: String) throws {
        let stats = statistics[data]!
        let entries = (0..<features).map { i -> FeatureSummaryFile.Feature in
            let (difference, normalized) = selectivity(i)
            let (tokens, bigram) = topTokens(i, on: data)
            return FeatureSummaryFile.Feature(
                feature: i, label: label(i, on: data), featureClass: featureClass(i), frequency: stats.frequencies[i],
                meanActivation: stats.means[i], maxActivation: Double(stats.maxima[i]), selectivity: compared ? difference : nil,
                selectivityNormalized: compared ? normalized : nil, selectivityLog2Ratio: compared ? log2Ratio(i) : nil,
                topTokens: tokens.map { FeatureSummaryFile.TokenShare(token: $0.text, share: $0.share) },
                topBigram: bigram.map { FeatureSummaryFile.Bigram(text: $0.text, share: $0.share) },
                ablation: data == side ? ablation[i].map { .init(meanLossChange: $0.meanLossChange, contexts: $0.contexts) } : nil)
        }
        let document = FeatureSummaryFile(
            sae: side, dataset: data, datasetLabel: labels[data], features: entries, tokens: stats.rows,
            notes: [
                "frequency": "share of the dataset's tokens on which the feature is active",
                "selectivity": "mean activation on A minus mean activation on B (all tokens); normalized: that over their sum",
                "selectivity_log2_ratio": "log2 of mean activation on A over mean activation on B (±20: fires on one only); the class uses it with interpret.selective_ratio",
                "label": "the class, then what this dataset's top contexts share: the activating token, the token before it, a word most hold earlier",
                "ablation": "mean change in next-token loss at the feature's top activating positions on the SAE's own dataset when the feature is removed from the spliced-in reconstruction (positive: the feature helps the prediction); measured for the features the Markdown lists",
                "top_tokens": "from a seeded reservoir sample of the feature's firing tokens",
            ])
        // Compact: thousands of features; `jq` or any JSON reader lays it out.
        try JSONFile.write(document, to: path, pretty: false)
    }

    func writeMarkdown(on data: Side, to path: String) throws {
        let stats = statistics[data]!, source = sources[data]!
        let lists = Self.notable(statistics: statistics, on: data, count: settings.markdownFeatures, log2Ratio: log2Ratio)
        let alive = (0..<features).filter { stats.counts[$0] > 0 }
        var text = "# SAE \(side) on dataset \(data) (\(labels[data]))\n\n"
        text += "\(features) features, \(stats.rows) tokens; \(alive.count) features fire here. "
        text += "Labels describe the top contexts on this dataset"
        if compared {
            text += "; the class compares mean activation on A (\(labels[.A])) and B (\(labels[.B])): "
            text += "selective means at least \(NumberFormat.fixed(settings.selectiveRatio, digits: 1))× more active on one. "
        } else {
            text += ". "
        }
        if data == side {
            text += "The ablation effect is the mean change in next-token loss at the top contexts when the feature is removed from the spliced-in reconstruction (positive: it helps). "
        }
        text += "Logit attribution is the decoder row times W_U with the final norm ignored" + (logitCaveat.map { " (\($0))" } ?? "") + ".\n\n"
        let groups = [("Most frequent features", lists.frequent)]
            + (compared ? [("Most \(labels[.A])-selective (A over B)", lists.towardA),
                           ("Most \(labels[.B])-selective (B over A)", lists.towardB)] : [])
        for (title, list) in groups {
            text += "## \(title)\n\n"
            for i in list { text += section(i, on: data, stats: stats, source: source) }
        }
        try FileSystem.writeAtomically(text, to: path)
    }

    private func section(_ i: Int, on data: Side, stats: FeatureStatistics, source: ContextSource) -> String {
        let show = { (text: String) in VisibleText.oneLine(text).replacingOccurrences(of: "|", with: "\\|") }
        var text = "### Feature \(i) — \(label(i, on: data))\n\n"
        text += String(format: "frequency %.4f, mean %.4f, max %.3f", stats.frequencies[i], stats.means[i], stats.maxima[i])
        if compared { text += "; " + effectText(i) }
        if data == side, let effect = ablation[i] {
            text += "; ablation effect " + (effect.meanLossChange >= 0 ? "+" : "") + NumberFormat.fixed(effect.meanLossChange, digits: 4)
                + " nats over \(effect.contexts) contexts"
        }
        text += "\n\n| activation | context |\n|---|---|\n"
        // Every top context the label was read from, so a reader can check it.
        for example in stats.top[i] {
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
        let caveat = logitCaveat == nil ? "" : " (indicative only)"
        text += "\npromotes\(caveat): \(show(promoted))  \nsuppresses\(caveat): \(show(suppressed))\n\n"
        return text
    }
}
