import Foundation
import SAEPipeCore

/// The write-up: report.md and a self-contained report.html, every number from results.json.
enum ReportWriter {
    static func number(_ value: Double, _ digits: Int = 3) -> String { NumberFormat.fixed(value, digits: digits) }

    static let figures: [(file: String, caption: String)] = [
        ("fve_matrix", "Fraction of variance explained for each SAE on each dataset."),
        ("ce_recovered_matrix", "Share of the loss increase from zero-ablating the hook that each SAE's reconstruction recovers."),
        ("training_fve", "FVE during training (training batches)."),
        ("training_l0", "Active features per token during training."),
        ("training_loss", "Training loss."),
        ("feature_density_A", "How often SAE A's features fire on dataset A."),
        ("feature_density_B", "How often SAE B's features fire on dataset B."),
        ("selectivity_A", "Mean activation of each SAE A feature on A against on B; the line is equal activation."),
        ("selectivity_B", "The same for SAE B's features."),
        ("l0_by_pair", "Average L0 for each (SAE, dataset) pair."),
        ("l0_per_token", "Distribution of L0 per token on held-out rows, per pair."),
    ]

    struct Sections {
        var title: String
        var question: String
        var method: [String]
        var evaluation: String
        var results: [String]
        var failureModes: [String]
        var limitations: [String]
    }

    static func sections(_ run: BlogExport.Run) -> Sections {
        let (a, b) = (run.label(.A), run.label(.B))
        let model = run.text("model.name") ?? "?"
        let hook = run.results.hook
        let source = { (side: Side) -> String in
            run.text("datasets.\(side).path") ?? (run.text("datasets.\(side).hub").map { "Hub dataset \($0)" } ?? "?")
        }
        let m = { (pair: String, key: KeyPath<EvalResults.PairMetrics, Double>) in run.metric(SAEPair(key: pair)!) { $0[keyPath: key] } }
        let recovered = { (pair: String) in run.metric(SAEPair(key: pair)!) { $0.ceRecovered } }
        let drop = { (pair: String, value: (EvalResults.Transfer) -> Double?) in run.results.crossDomain[SAEPair(key: pair)!].flatMap(value) ?? .nan }
        let dead = ["A->A", "B->B"].map { m($0, \.deadFraction) }
        return Sections(
            title: "Do sparse-autoencoder features transfer from \(a) to \(b)? (\((model as NSString).lastPathComponent), \(hook))",
            question: "Sparse autoencoders (SAEs) decompose a language model's activations into sparse, hopefully interpretable features. "
                + "We train one SAE on the model's activations over \(a) (dataset A) and one over \(b) (dataset B), and ask how much each "
                + "SAE's dictionary is specific to the text it was trained on. Hypothesis: each SAE reconstructs its own domain well and "
                + "transfers only partly to the other, and some features are domain-selective while others are shared.",
            method: [
                "Model: \(model); activations at \(hook) (stream `\(run.text("model.stream") ?? "?")`).",
                "Data: A = \(a) (\(source(.A))), B = \(b) (\(source(.B))); \(run.text("collect.tokens") ?? "?") activation rows each from windows of \(run.text("collect.seq_len") ?? "?") tokens; special-token positions excluded: \(run.text("collect.exclude_special") ?? "?").",
                "SAE: \(run.text("sae.activation") ?? "?") activation, \(run.text("sae.expansion") ?? "?")× expansion, sparsity form `\(run.text("sae.sparsity") ?? "?")`, λ = \(run.text("train.l1_coefficient") ?? "?"), \(run.text("train.tokens") ?? "?") training tokens in batches of \(run.text("train.batch_size") ?? "?"), Adam at learning rate \(run.text("train.lr") ?? "?"), inputs scaled to E‖x‖ = √d.",
            ],
            evaluation: "Each SAE is evaluated on the held-out rows of both datasets: MSE, FVE = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², L0 (active features per token), "
                + "dead features, and the model's next-token loss on \(run.text("eval.sequences") ?? "?") windows with the hooked activation left alone, "
                + "replaced by the SAE's reconstruction, or zeroed; CE recovered = (CE_zero − CE_SAE) / (CE_zero − CE_clean).",
            results: [
                "In domain, SAE A explains \(number(m("A->A", \.fve))) of the variance on A at L0 \(number(m("A->A", \.l0), 1)) and recovers \(number(recovered("A->A"))) of the loss; SAE B explains \(number(m("B->B", \.fve))) on B at L0 \(number(m("B->B", \.l0), 1)) and recovers \(number(recovered("B->B"))).",
                "Across domains, SAE A on B explains \(number(m("A->B", \.fve))) (FVE drop \(number(drop("A->B") { $0.fveDrop })) against SAE B on B, MSE ratio \(number(drop("A->B") { $0.mseRatio }, 2))) and recovers \(number(recovered("A->B"))) of the loss; SAE B on A explains \(number(m("B->A", \.fve))) (drop \(number(drop("B->A") { $0.fveDrop })), MSE ratio \(number(drop("B->A") { $0.mseRatio }, 2))) and recovers \(number(recovered("B->A"))).",
                "Out of domain the SAEs also fire more: L0 \(number(m("A->B", \.l0), 1)) for A on B and \(number(m("B->A", \.l0), 1)) for B on A.",
            ],
            failureModes: [
                "Dead features: \(number(100 * dead[0], 1))% of SAE A's and \(number(100 * dead[1], 1))% of SAE B's features never fire on their own held-out data.",
                "Over-sparsification: the spliced-in loss rises from \(number(m("A->A", \.ceLossClean))) to \(number(m("A->A", \.ceLossSAE))) on A and from \(number(m("B->B", \.ceLossClean))) to \(number(m("B->B", \.ceLossSAE))) on B; a smaller λ trades L0 for fidelity.",
                "Reconstruction bias: with an L1 penalty, activations shrink toward zero, so even in domain \(number(100 * (1 - m("A->A", \.fve)), 1))% (A) and \(number(100 * (1 - m("B->B", \.fve)), 1))% (B) of the variance stay unexplained.",
            ],
            limitations: [
                "One model, one layer and one stream; two datasets of \(run.text("collect.tokens") ?? "?") tokens each, so rare features are under-sampled.",
                "Labels are heuristics from activating tokens and selectivity, not validated explanations; the logit attribution ignores the final norm.",
                "Next steps: sweep λ and width (L0–FVE frontier), train on the union of A and B, and repeat across layers.",
            ])
    }

    static func markdown(_ run: BlogExport.Run, features: FeatureBrowser) -> String {
        let s = sections(run)
        var text = "# \(s.title)\n\n## Research question and hypothesis\n\n\(s.question)\n\n## Method\n\n"
        text += s.method.map { "- \($0)" }.joined(separator: "\n") + "\n\n## Evaluation\n\n\(s.evaluation)\n\n## Key results\n\n"
        text += s.results.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        for (table, caption) in [("fve_matrix", "FVE (rows: SAE trained on; columns: evaluated on)"),
                                 ("ce_recovered_matrix", "CE loss recovered (rows: SAE trained on; columns: evaluated on)"),
                                 ("eval", "Every metric per pair (SAE trained on → evaluated on)"),
                                 ("cross_domain", "Cross-domain degradation against the in-domain SAE")] {
            if let content = try? String(contentsOfFile: "\(run.directory)/tables/\(table).md", encoding: .utf8) {
                text += "**\(caption)**\n\n" + content + "\n"
            }
        }
        for figure in figures where FileSystem.exists("\(run.directory)/figures/\(figure.file).png") {
            text += "![\(figure.caption)](figures/\(figure.file).png)\n\n*\(figure.caption)*\n\n"
        }
        text += "### Example features\n\n"
        for feature in features.features {
            text += "- SAE \(feature.sae) feature \(feature.index) — \(feature.label) (frequency \(number(feature.frequency, 4)), selectivity \(number(feature.selectivity, 2)))"
            if let example = feature.examples.first {
                text += ": `" + example.tokens.map { $0.isMax ? "«\($0.text)»" : $0.text }.joined().replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "`", with: "'") + "`"
            }
            text += "\n"
        }
        text += "\nAll features: `features/*.md`.\n\n## Failure modes\n\n" + s.failureModes.map { "- \($0)" }.joined(separator: "\n")
        text += "\n\n## Limitations and next steps\n\n" + s.limitations.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return text
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Escaped prose with Markdown `code` spans as <code>.
    static func prose(_ text: String) -> String {
        escape(text).replacingOccurrences(of: #"`([^`]*)`"#, with: "<code>$1</code>", options: .regularExpression)
    }

    static func html(_ run: BlogExport.Run, features: FeatureBrowser, figures directory: String) -> String {
        let s = sections(run)
        var body = "<h1>\(escape(s.title))</h1>\n<h2>Research question and hypothesis</h2>\n<p>\(prose(s.question))</p>\n<h2>Method</h2>\n<ul>"
        body += s.method.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n<h2>Evaluation</h2>\n<p>\(prose(s.evaluation))</p>\n<h2>Key results</h2>\n<ul>"
        body += s.results.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n"
        body += "<p class=\"meta\">Every metric per pair (SAE trained on → evaluated on):</p>" + htmlTable(run, "eval")
        body += "<p class=\"meta\">Cross-domain degradation against the in-domain SAE:</p>" + htmlTable(run, "cross_domain")
        for figure in figures {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(figure.file).png") else { continue }
            body += "<figure><img alt=\"\(escape(figure.caption))\" src=\"data:image/png;base64,\(data.base64EncodedString())\"><figcaption>\(escape(figure.caption))</figcaption></figure>\n"
        }
        body += "<h2>Feature browser</h2>\n<p>Each context is colored by the feature's activation on every token (darker is stronger); the token with the top activation is outlined.</p>\n"
        for (position, feature) in features.features.enumerated() {
            body += "<details class=\"feature\"\(position < 6 ? " open" : "")><summary>SAE \(feature.sae) · feature \(feature.index) · \(escape(feature.label))</summary>\n"
            body += "<p class=\"meta\">frequency \(number(feature.frequency, 4)) · selectivity \(number(feature.selectivity, 2)) · promotes \(escape(feature.promoted.prefix(6).joined(separator: " ")))</p>\n"
            for example in feature.examples {
                let peak = max(example.tokens.map(\.activation).max() ?? 1, 1e-9)
                body += "<div class=\"context\"><span class=\"act\">\(number(example.activation, 2))</span>"
                for token in example.tokens {
                    let alpha = min(max(token.activation / peak, 0), 1)
                    let text = escape(token.text).replacingOccurrences(of: "\n", with: "↵")
                    body += "<span class=\"tok\(token.isMax ? " max" : "")\" title=\"\(number(token.activation, 3))\" style=\"background: rgba(230,159,0,\(number(alpha, 2)))\">\(text)</span>"
                }
                body += "</div>\n"
            }
            body += "</details>\n"
        }
        body += "<h2>Failure modes</h2>\n<ul>" + s.failureModes.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n"
        body += "<h2>Limitations and next steps</h2>\n<ul>" + s.limitations.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n"
        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(escape(s.title))</title><style>\(style)</style></head>\n<body>\n\(body)</body></html>\n"
    }

    static let style = """
        body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;max-width:860px;margin:2em auto;padding:0 1em;line-height:1.5;color:#222}
        .table{overflow-x:auto}table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:12px}
        td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}code{font-size:90%;background:#f4f4f4;padding:0 3px}
        th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#555;font-size:14px}
        .feature{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.4em .8em}.meta{color:#555;font-size:13px;margin:.3em 0}
        .context{font-family:"DejaVu Sans Mono",monospace;font-size:13px;white-space:pre-wrap;margin:.25em 0}
        .act{display:inline-block;width:4em;color:#777}.tok{border-radius:2px}.tok.max{outline:1.5px solid #0072B2}
        """

    static func htmlTable(_ run: BlogExport.Run, _ name: String) -> String {
        guard let csv = try? String(contentsOfFile: "\(run.directory)/tables/\(name).csv", encoding: .utf8),
            let table = Table.parseCSV(csv)
        else { return "" }
        // The columns that fit a page; the full table is in tables/.
        let keep = table.header.indices.filter { !["SAE trained on", "evaluated on", "l1", "dense_fraction"].contains(table.header[$0]) }
        return Table(header: keep.map { table.header[$0] }, rows: table.rows.map { row in keep.map { row.indices.contains($0) ? row[$0] : "" } }).html()
    }
}
