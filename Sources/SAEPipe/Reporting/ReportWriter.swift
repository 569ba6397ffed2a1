import Foundation
import SAEPipeCore

/// The write-up: report.md and a self-contained report.html, every number from results.json.
enum ReportWriter {
    static func number(_ value: Double, _ digits: Int = 3) -> String { NumberFormat.fixed(value, digits: digits) }

    /// Every figure viz draws, with what to look for in it.
    static let figures: [(file: String, caption: String)] = [
        ("fve_matrix", "FVE of each SAE on each dataset: the diagonal is in-domain, and how much paler the off-diagonal cells are is what transfer costs."),
        ("ce_recovered_matrix", "Share of the loss increase from zero-ablating the hook that each reconstruction recovers: compare each off-diagonal cell with the diagonal cell of its column."),
        ("generalization", "Each SAE's FVE on rows it trained on and on held-out rows: a training bar clearly above its held-out bar means the SAE memorized its training rows."),
        ("training_fve", "FVE during training (lines: training batches; dots: held-out rows): the curves should flatten before the end, with the dots on the lines."),
        ("training_l0", "Active features per token during training: L0 should settle, not still be moving at the end."),
        ("training_mse", "Reconstruction MSE during training: it should fall and flatten; held-out dots above the line mean overfitting."),
        ("training_loss", "Training loss (reconstruction plus the recipe's penalty: λ × sparsity for ReLU and JumpReLU, the AuxK term for TopK and BatchTopK; on scaled inputs): a smooth fall; spikes mean the learning rate is too high."),
        ("snapshot_fve", "Held-out FVE at each training snapshot (train.snapshots): where the curve flattens, more tokens stop paying."),
        ("emergence", "By each snapshot, the share of features that have fired on held-out rows, and the share of the final SAE's firing features whose decoder direction is already within cosine 0.9 of its final one: the gap is features still finding their direction."),
        ("snapshot_frequencies_A", "How often SAE A's features fire at each snapshot (darker: later): watch the distribution narrow as features specialize, and the count of silent features."),
        ("snapshot_frequencies_B", "The same for SAE B."),
        ("feature_density_A", "How often SAE A's features fire on all of dataset A's rows, training ones included (the tables' dead share counts held-out rows only): bars far left are nearly dead features, bars near zero on the right are dense ones."),
        ("feature_density_B", "How often SAE B's features fire on all of dataset B's rows, training ones included (the tables' dead share counts held-out rows only): bars far left are nearly dead features, bars near zero on the right are dense ones."),
        ("selectivity_A", "Each SAE A feature's mean activation on A against on B: dots below the diagonal favour A, above it B; the farther from it, the more domain-selective."),
        ("selectivity_B", "The same for SAE B's features: dots above the diagonal favour B."),
        ("feature_matching", "Each feature's highest decoder cosine to any feature of the other SAE, as a cumulative share: a curve that rises late means most features have a close counterpart; one that rises early means the dictionaries point different ways."),
        ("matching_by_class", "For each class of features (by mean activation on A against B; its size in each SAE below it), the share whose one-to-one partner in the other SAE reaches the matching threshold: compare the selective classes with the features active on both."),
        ("feature_map", "Every live feature of both SAEs placed by its decoder direction (UMAP; its subtitle says how many of each feature's nearest neighbours by decoder cosine stay nearest on the map), coloured by how much more active it is on one dataset: selective features gathering in their own regions would mean domain-specific directions; mixed colours mean the dictionaries share directions."),
        ("l0_by_pair", "Average L0 for each (SAE, dataset) pair with 95% intervals: compare an SAE's L0 on the other dataset with its L0 on its own."),
        ("mlsae_vs_per_layer_A", "The multi-layer SAE trained on A against per-layer SAEs of the same total width, FVE at each layer on held-out A: where the lines part, one dictionary shared across layers costs (or gains) reconstruction."),
        ("mlsae_layers_A", "The multi-layer SAE trained on A at each layer (each column coloured over its own range): reconstruction, L0, and the loss with it spliced in at that layer."),
        ("mlsae_per_layer_saes_A", "The per-layer SAEs on A at each layer, with the MMCS of each to the previous layer's and to the multi-layer SAE."),
        ("mlsae_latent_layers_A", "Each live latent of the multi-layer SAE on A (rows, sorted by mean layer) and its share of activation at each layer: a diagonal band means latents tied to a few adjacent layers, wide rows latents active across the depth."),
        ("mlsae_layer_std_A", "How many layers each latent of the multi-layer SAE on A spans: the standard deviation of its activation-weighted layer."),
        ("mlsae_vs_per_layer_B", "The same comparison for the multi-layer SAE trained on B."),
        ("mlsae_layers_B", "The multi-layer SAE trained on B at each layer."),
        ("mlsae_per_layer_saes_B", "The per-layer SAEs on B at each layer."),
        ("mlsae_latent_layers_B", "Each live latent of the multi-layer SAE on B and its share of activation at each layer."),
        ("mlsae_layer_std_B", "How many layers each latent of the multi-layer SAE on B spans."),
        ("l0_per_token", "Cumulative share of held-out tokens by L0: a curve crosses 0.5 at its median L0; a curve further right uses more features per token."),
    ]

    /// The figures with captions fitting the run (a one-dataset run has no selectivity to colour by).
    static func figures(_ run: BlogExport.Run) -> [(file: String, caption: String)] {
        let annealing = kAnnealing(run).map { start, fraction in
            " k was annealed from \(number(start, 1)) × k over the first \(number(100 * fraction, 0))% of steps: while k is larger the SAE reconstructs more, so FVE and L0 fall (and MSE rises) until k reaches its final value, and the reconstruction improves again after."
        }
        return figures.map { figure in
            switch figure.file {
            case "feature_map" where run.results.sides.count == 1:
                return (figure.file, "Every live feature placed by its decoder direction (UMAP; its subtitle says how many of each feature's nearest neighbours by decoder cosine stay nearest on the map): groups of points are families of similar directions.")
            case "training_fve", "training_l0", "training_mse": return (figure.file, figure.caption + (annealing ?? ""))
            default: return figure
            }
        }
    }

    /// TopK/BatchTopK's k annealing (start multiple, share of steps), when the run used it.
    static func kAnnealing(_ run: BlogExport.Run) -> (start: Double, fraction: Double)? {
        guard ["topk", "batchtopk"].contains(run.text("sae.activation") ?? ""),
            let start = run.text("train.k_anneal_start").flatMap(Double.init), start > 1,
            let fraction = run.text("train.k_anneal_fraction").flatMap(Double.init), fraction > 0
        else { return nil }
        return (start, fraction)
    }

    struct Sections {
        var title: String
        var question: String
        var method: [String]
        var evaluation: String
        var results: [String]
        var failureModes: [String]
        var limitations: [String]
    }

    /// The write-up's sections, with a multi-layer SAE's per-layer results (mlsae.json) among the key results.
    static func sections(_ run: BlogExport.Run) -> Sections {
        var sections = baseSections(run)
        if let file = try? MultiLayerFile.read("\(run.directory)/\(MultiLayerFile.fileName)") {
            sections.results += file.findings(labels: run.labels)
        }
        return sections
    }

    static func baseSections(_ run: BlogExport.Run) -> Sections {
        let (a, b) = (run.label(.A), run.label(.B))
        let model = run.text("model.name") ?? "?"
        let hook = run.results.hook
        let source = { (side: Side) -> String in
            run.text("datasets.\(side).path") ?? (run.text("datasets.\(side).hub").map { "Hub dataset \($0)" } ?? "?")
        }
        let rows = run.results.sides.count == 2
            ? Side.allCases.map { side in run.results.datasetRows[side].map { "\($0) (\(side))" } ?? "?" }.joined(separator: " and ")
            : run.results.datasetRows[.A].map(String.init) ?? "?"
        let findings = Finding.all(run.results)
        let writer = FindingWriter(labels: run.labels,
                                   multiLayerAt: run.text("sae.layers") == nil ? nil : run.text("model.layer").flatMap { Int($0) })
        let counted = Side.allCases.compactMap { side -> String? in
            guard let c = run.results.eval[SAEPair(side, side)]?.counts else { return nil }
            return "\(c.windows) held-out windows (\(c.tokens) predicted tokens) and \(c.rows) held-out rows of \(run.label(side))"
        }.joined(separator: ", and ")
        guard run.results.sides.count == 2 else {
            return oneDatasetSections(run, model: model, hook: hook, source: source(.A), rows: rows, counted: counted,
                                      findings: findings, writer: writer)
        }
        return Sections(
            title: "Do sparse-autoencoder features transfer from \(a) to \(b)? (\(FileSystem.lastComponent(of: model)), \(hook))",
            question: "Sparse autoencoders (SAEs) decompose a language model's activations into sparse, hopefully interpretable features. "
                + "We train one SAE on the model's activations over \(a) (dataset A) and one over \(b) (dataset B), and ask how much each "
                + "SAE's dictionary is specific to the text it was trained on. Hypothesis: each SAE reconstructs its own domain well and "
                + "transfers only partly to the other, and some features are domain-selective while others are shared.",
            method: [
                modelLine(run, model: model, hook: hook),
                "Data: A = \(a) (\(source(.A))), B = \(b) (\(source(.B))); \(rows) activation rows from windows of \(run.text("collect.seq_len") ?? "?") tokens; special-token positions excluded: \(run.text("collect.exclude_special") ?? "?").",
                saeLine(run),
            ],
            evaluation: "Each SAE is evaluated on held-out data of both datasets — \(counted) — never seen in training. " + metricDefinitions(run),
            results: findings.filter(\.isKeyResult).map(writer.sentence),
            failureModes: findings.filter { !$0.isKeyResult }.map(writer.sentence),
            limitations: [
                "One model, one layer and one stream; two datasets of \(rows) activation rows, so rare features are under-sampled.",
                "Labels describe what each feature's top contexts share and its class compares mean activations across the datasets; they are not validated explanations. Direct logit attribution is left out: from a hook this far from the output it is not evidence of what a feature does.",
                "Next steps: sweep the sparsity (λ or k) and width (L0–FVE frontier), train on the union of A and B, and repeat across layers.",
            ])
    }

    /// A one-dataset run's write-up: one SAE, no transfer or selectivity to speak of.
    static func oneDatasetSections(_ run: BlogExport.Run, model: String, hook: String, source: String, rows: String, counted: String,
                                   findings: [Finding], writer: FindingWriter) -> Sections {
        let a = run.label(.A)
        return Sections(
            title: "What does a sparse autoencoder learn on \(a)? (\(FileSystem.lastComponent(of: model)), \(hook))",
            question: "Sparse autoencoders (SAEs) decompose a language model's activations into sparse, hopefully interpretable features. "
                + "We train one SAE on the model's activations over \(a) and ask how well it reconstructs activations it never saw, "
                + "how few features it needs per token, how much of the model's next-token loss survives when its reconstruction "
                + "replaces the activation, and what its features respond to.",
            method: [
                modelLine(run, model: model, hook: hook),
                "Data: \(a) (\(source)); \(rows) activation rows from windows of \(run.text("collect.seq_len") ?? "?") tokens; special-token positions excluded: \(run.text("collect.exclude_special") ?? "?").",
                saeLine(run),
            ],
            evaluation: "The SAE is evaluated on held-out data — \(counted) — never seen in training. " + metricDefinitions(run),
            results: findings.filter(\.isKeyResult).map(writer.sentence),
            failureModes: findings.filter { !$0.isKeyResult }.map(writer.sentence),
            limitations: [
                "One model, one layer, one stream and one dataset of \(rows) activation rows, so rare features are under-sampled.",
                "Labels describe what each feature's top contexts share; they are not validated explanations. Direct logit attribution is left out: from a hook this far from the output it is not evidence of what a feature does.",
                "Next steps: add a second dataset (`datasets.B`) to compare the dictionary across domains, sweep the sparsity (λ or k) and width (L0–FVE frontier), and repeat across layers.",
            ])
    }

    /// The method's model and SAE lines, shared by both kinds of write-up.
    static func modelLine(_ run: BlogExport.Run, model: String, hook: String) -> String {
        "Model: \(model); activations at \(hook) (stream `\(run.text("model.stream") ?? "?")`)."
    }

    static func saeLine(_ run: BlogExport.Run) -> String {
        let text = { (key: String) in run.text(key) ?? "?" }
        let learningRate = learningRateText(lr: text("train.lr"), decoderScale: run.text("train.decoder_lr_scale"))
        // Only the keys the activation uses: a λ beside a BatchTopK SAE would describe nothing that happened.
        let sparsity: String
        switch text("sae.activation") {
        case "relu": sparsity = "ReLU with an L1 penalty, λ = \(text("train.l1_coefficient"))"
        case "topk": sparsity = "TopK, k = \(text("sae.k")) active features per token, AuxK coefficient \(text("train.auxk_coefficient"))"
        case "batchtopk":
            sparsity = "BatchTopK, k = \(text("sae.k")) active features per token on average over a batch (one learned threshold "
                + "at inference), AuxK coefficient \(text("train.auxk_coefficient"))"
        case "jumprelu":
            sparsity = "JumpReLU with an L0 penalty, λ = \(text("train.l1_coefficient")), bandwidth \(text("sae.jumprelu_bandwidth"))"
        case let other: sparsity = "\(other) activation"
        }
        let scaled = run.text("sae.normalize_activations") == "false" ? "" : ", inputs scaled to E‖x‖ = √d"
        if let layers = run.text("sae.layers") {
            // A multi-layer SAE: the same recipe, over many layers' vectors.
            return "SAE: one multi-layer SAE per dataset on the `\(text("model.stream"))` vectors of \(layers == "all" ? "every layer" : "layers \(layers)"), each layer's vector a "
                + "separate example standardized to zero mean and unit variance (SAELens' layer_norm; undone after decoding); \(sparsity), "
                + "\(text("sae.expansion"))× expansion, \(text("train.tokens")) training vectors in batches of \(text("train.batch_size")), "
                + "Adam at learning rate \(learningRate). The transfer results below use it at layer \(text("model.layer"))."
        }
        return "SAE: \(sparsity)\(recipeAdditions(run)), \(text("sae.expansion"))× expansion, decoder `\(text("sae.sparsity"))`, "
            + "\(text("train.tokens")) training tokens in batches of \(text("train.batch_size")), "
            + "Adam at learning rate \(learningRate)\(scaled)."
    }

    /// The learning rate, with the decoder weights' own multiple when it is not 1 (older runs' configs lack the key).
    static func learningRateText(lr: String, decoderScale: String?) -> String {
        guard let scale = decoderScale.flatMap(Double.init), scale != 1 else { return lr }
        return "\(lr) (the decoder weights at \(NumberFormat.short(scale)) × that)"
    }

    /// k annealing and a decoder bias or rows started from the data, when the run used them (older runs' configs lack the keys).
    static func recipeAdditions(_ run: BlogExport.Run) -> String {
        var additions = ""
        if let (start, fraction) = kAnnealing(run) {
            additions += ", k annealed from \(number(start, 1)) × k down to k over the first \(number(100 * fraction, 0))% of steps"
        }
        switch run.text("sae.b_dec_init") {
        case "mean": additions += ", decoder bias started at the training rows' mean"
        case "geometric_median": additions += ", decoder bias started at the training rows' geometric median"
        default: break
        }
        if run.text("sae.w_dec_init") == "training_rows" {
            additions += ", decoder rows started along distinct random training rows (less that bias)"
        }
        return additions
    }

    /// The metrics' definitions, shared by both kinds of write-up.
    static func metricDefinitions(_ run: BlogExport.Run) -> String {
        "Reconstruction: "
            + "FVE = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², MSE, cosine similarity of x and x̂, L2 ratio ‖x̂‖/‖x‖, relative reconstruction bias "
            + "E‖x̂‖² / E[x·x̂] (below 1: shrinkage); sparsity: L0 (active features per token) and dead features; the model: next-token "
            + "loss with the hooked activation left alone, replaced by the SAE's reconstruction, or zeroed, CE recovered = "
            + "(CE_zero − CE_SAE) / (CE_zero − CE_clean), and the KL divergence of the next-token distribution from the clean one "
            + "(KL score = 1 − KL_SAE / KL_zero). A ratio is reported only when zeroing the hook has a clearly measurable effect. "
            + "Every number is followed by ± the half-width of its 95% bootstrap interval (\(run.results.bootstrap.resamples) resamples of held-out windows); "
            + "a difference is called a rise, a drop or a difference only when its interval excludes zero."
            + (run.results.matching.map { matching in
                " The two dictionaries are compared by decoder direction: each feature's highest cosine to any of the other SAE's features "
                    + "(their mean is the MMCS) and a one-to-one matching that maximises the summed cosine (Hungarian method); a matched pair "
                    + "at cosine ≥ \(NumberFormat.short(matching.threshold)) counts as shared."
            } ?? "")
    }

    static func markdown(_ run: BlogExport.Run, features: FeatureBrowser) -> String {
        let s = sections(run)
        var text = "# \(s.title)\n\n## Research question and hypothesis\n\n\(s.question)\n\n## Method\n\n"
        text += s.method.map { "- \($0)" }.joined(separator: "\n") + "\n\n## Evaluation\n\n\(s.evaluation)\n\n## Key results\n\n"
        text += s.results.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        for (table, caption) in [("fve_matrix", "FVE (rows: SAE trained on; columns: evaluated on)"),
                                 ("ce_recovered_matrix", "CE loss recovered (rows: SAE trained on; columns: evaluated on)"),
                                 ("eval", "Every metric per pair (SAE trained on → evaluated on)"),
                                 ("cross_domain", "Cross-domain degradation against the in-domain SAE (paired over the same windows)"),
                                 ("generalization", "Each SAE on its training rows against held-out rows")] {
            if let content = try? String(contentsOfFile: "\(run.directory)/tables/\(table).md", encoding: .utf8) {
                text += "**\(caption)**\n\n" + content + "\n"
            }
        }
        for figure in figures(run) where FileSystem.exists("\(run.directory)/figures/\(figure.file).png") {
            text += "![\(figure.caption)](figures/\(figure.file).png)\n\n*\(figure.caption)*\n\n"
        }
        text += "### Example features\n\n"
        if let classes = classSentence(run, features: features) { text += classes + "\n\n" }
        for feature in features.features {
            text += "- SAE \(feature.sae) feature \(feature.index) — \(feature.label) (" + featureFacts(feature, run: run) + ")"
            if let example = labelledExample(feature) {
                text += ": `" + VisibleText.oneLine(example.tokens.map { $0.isMax ? "«\($0.text)»" : $0.text }.joined())
                    .replacingOccurrences(of: "`", with: "'") + "`"
            }
            text += "\n"
        }
        text += "\nEvery feature, searchable, with its contexts, histograms, neighbours and its match in the other SAE: "
            + "[browser/index.html](browser/index.html) (opens offline). The notable ones as Markdown: `features/*.md`.\n\n## Failure modes\n\n" + s.failureModes.map { "- \($0)" }.joined(separator: "\n")
        text += "\n\n## Limitations and next steps\n\n" + s.limitations.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return text
    }

    /// The highest-activation example whose activating token is the one the label names (a label
    /// holds for most top contexts, not necessarily the very top one), else the top example.
    static func labelledExample(_ feature: FeatureBrowser.Feature) -> FeatureBrowser.Example? {
        guard let separator = feature.label.range(of: ": ") else { return feature.examples.first }
        let body = feature.label[separator.upperBound...]
        return feature.examples.first { example in
            example.tokens.first(where: \.isMax).map { body.hasPrefix(FeatureSummaries.quoted($0.text)) } ?? false
        } ?? feature.examples.first
    }

    /// How many features of each SAE are selective for either dataset or shared.
    static func classSentence(_ run: BlogExport.Run, features: FeatureBrowser) -> String? {
        guard run.results.sides.count == 2 else { return nil }
        let parts = Side.allCases.compactMap { side -> String? in
            guard let counts = features.classCounts[side] else { return nil }
            let total = counts.values.reduce(0, +)
            let (a, b) = ("\(run.label(.A))-selective", "\(run.label(.B))-selective")
            return "of SAE \(side)'s \(total) features, \(counts[a] ?? 0) are \(a), \(counts[b] ?? 0) \(b), \(counts["shared"] ?? 0) shared and \(counts["dead"] ?? 0) dead"
        }
        guard !parts.isEmpty else { return nil }
        return "By mean activation (selective: at least \(run.text("interpret.selective_ratio") ?? "?")× more active on one dataset), "
            + parts.joined(separator: "; ") + "."
    }

    /// Frequency, the class's effect size and the measured ablation effect with its sign.
    static func featureFacts(_ feature: FeatureBrowser.Feature, run: BlogExport.Run) -> String {
        var facts = "frequency \(number(feature.frequency, 4))"
        if let effect = feature.log2Ratio { facts += ", " + effectText(effect, run: run) }
        if let ablation = feature.ablation {
            let sign = ablation.meanLossChange >= 0 ? "+" : ""
            facts += "; removing it from the spliced-in reconstruction changes the next-token loss at its top contexts by "
                + "\(sign)\(number(ablation.meanLossChange, 4)) nats (mean of \(ablation.contexts))"
        }
        return facts
    }

    /// "3.1× more active on code" from log2(mean on A / mean on B).
    static func effectText(_ effect: Double, run: BlogExport.Run) -> String {
        var facts = ""
        if abs(effect) >= 20 {
            facts += "fires on \(run.label(effect > 0 ? .A : .B)) only"
        } else if pow(2, abs(effect)) < 1.1 {
            facts += "about equally active on both datasets"
        } else {
            facts += "\(number(pow(2, abs(effect)), 1))× more active on \(run.label(effect >= 0 ? .A : .B))"
        }
        return facts
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
        // A one-dataset run has no cross-domain table; its caption goes with it.
        for (table, caption) in [("eval", "Every metric per pair (SAE trained on → evaluated on):"),
                                 ("cross_domain", "Cross-domain degradation against the in-domain SAE (paired over the same windows):"),
                                 ("generalization", "Each SAE on its training rows against held-out rows:")] {
            let html = htmlTable(run, table)
            if !html.isEmpty { body += "<p class=\"meta\">\(caption)</p>" + html }
        }
        for figure in figures(run) {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(figure.file).png") else { continue }
            body += "<figure><img alt=\"\(escape(figure.caption))\" src=\"data:image/png;base64,\(data.base64EncodedString())\"><figcaption>\(escape(figure.caption))</figcaption></figure>\n"
        }
        body += "<h2>Example features</h2>\n<p>Every feature, searchable, with its own page: <a href=\"browser/index.html\">the feature browser</a>. "
            + "Below, each context is colored by the feature's activation on every token (darker is stronger); the token with the top activation is outlined.</p>\n"
        if let classes = classSentence(run, features: features) { body += "<p>\(prose(classes))</p>\n" }
        for (position, feature) in features.features.enumerated() {
            body += "<details class=\"feature\"\(position < 6 ? " open" : "")><summary>SAE \(feature.sae) · feature \(feature.index) · \(escape(feature.label))</summary>\n"
            body += "<p class=\"meta\">\(escape(featureFacts(feature, run: run)))</p>\n"
            for example in feature.examples {
                let peak = max(example.tokens.map(\.activation).max() ?? 1, 1e-9)
                body += "<div class=\"context\"><span class=\"act\">\(number(example.activation, 2))</span>"
                for token in example.tokens {
                    let alpha = min(max(token.activation / peak, 0), 1)
                    let text = VisibleText.oneLine(escape(token.text))
                    body += "<span class=\"tok\(token.isMax ? " max" : "")\" title=\"\(number(token.activation, 3))\" style=\"background: rgba(230,159,0,\(number(alpha, 2)))\">\(text)</span>"
                }
                body += "</div>\n"
            }
            body += "</details>\n"
        }
        body += "<h2>Failure modes</h2>\n<ul>" + s.failureModes.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n"
        body += "<h2>Limitations and next steps</h2>\n<ul>" + s.limitations.map { "<li>\(prose($0))</li>" }.joined() + "</ul>\n"
        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>\(escape(s.title))</title><style>\(style)</style></head>\n<body>\n\(body)</body></html>\n"
    }

    static let style = """
        body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;max-width:860px;margin:2em auto;padding:0 1em;line-height:1.5;color:#222}
        .table{overflow-x:auto}table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:12px}
        td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}code{font-size:90%;background:#f4f4f4;padding:0 3px}
        th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#555;font-size:14px}
        .feature{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.4em .8em}.meta{color:#555;font-size:13px;margin:.3em 0}
        .context{font-family:"DejaVu Sans Mono",monospace;font-size:13px;white-space:pre-wrap;margin:.25em 0}
        .act{display:inline-block;width:4em;color:#777}.tok{border-radius:2px}.tok.max{outline:1.5px solid #0072B2}
        @media (max-width:600px){figure{overflow-x:auto;margin:1.5em -1em}figure img{max-width:none;width:800px}figcaption{padding:0 1em}}
        """

    static func htmlTable(_ run: BlogExport.Run, _ name: String) -> String {
        guard let csv = try? String(contentsOfFile: "\(run.directory)/tables/\(name).csv", encoding: .utf8),
            let table = Table.parseCSV(csv)
        else { return "" }
        // The columns that fit a page; the full table is in tables/.
        let wide: Set<String> = ["SAE trained on", "evaluated on", "l1", "mse", "dense", "cosine", "l2_ratio", "ce_clean", "ce_zero", "kl_sae", "kl_zero", "rows"]
        let keep = table.header.indices.filter { !wide.contains(table.header[$0]) }
        return Table(header: keep.map { table.header[$0] }, rows: table.rows.map { row in keep.map { row.indices.contains($0) ? row[$0] : "" } }).html()
    }
}
