import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipeSAE
import SAEPipePlot

/// viz: PNG figures of training, feature density, selectivity and the 2×2 evaluation.
public enum VizStage {
    public static let configFields: [ConfigField] = [
        ConfigField("viz", .section(ConfigSection([
            ConfigField("scale", .choice(["1", "2"]), default: .string("1"), doc: "pixel density of the figures: 1 or 2 (high resolution, same layout)"),
        ])), doc: "figures"),
    ]

    /// Pixel density of the figures (`viz.scale`).
    enum FigureScale: String, Decodable {
        case one = "1", two = "2"
        var factor: Double { self == .one ? 1 : 2 }
    }

    struct Settings {
        var seed: UInt64
        var scale: FigureScale
        var labels: DatasetLabels
        var sides: [Side]
        /// What the subtitles say about the SAEs besides what their checkpoints hold.
        var activation: String
        var k: Int
        var l1Coefficient: Double
        var trainingTokens: Int
        var epochs: Double?

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                Settings(seed: try reader.decode(UInt64.self, at: "seed"), scale: try reader.decode(FigureScale.self, at: "viz.scale"), labels: try DatasetLabels.read(reader),
                         sides: try Side.present(reader), activation: try reader.decode(String.self, at: "sae.activation"),
                         k: try reader.decode(Int.self, at: "sae.k"), l1Coefficient: try reader.decode(Double.self, at: "train.l1_coefficient"),
                         trainingTokens: try reader.decode(Int.self, at: "train.tokens"), epochs: try reader.decode(Double?.self, at: "train.epochs"))
            }
        }

        /// "SmolLM2-135M-Instruct · layers.3.mlp_out · 4608-feature ReLU SAE, λ 3 · 2M training tokens".
        func subtitle(_ checkpoint: SAELensConfig) -> String {
            let model = FileSystem.lastComponent(of: (checkpoint.metadata?.modelName ?? checkpoint.modelName ?? "?"))
                .replacingOccurrences(of: #"\.(gguf|safetensors)$"#, with: "", options: .regularExpression)
            let hook = checkpoint.metadata?.hookName ?? checkpoint.hookName ?? "?"
            let sparsity: String
            switch activation {
            case "topk": sparsity = "TopK SAE, k \(k)"
            case "batchtopk": sparsity = "BatchTopK SAE, k \(k)"
            case "jumprelu": sparsity = "JumpReLU SAE, λ \(NumberFormat.short(l1Coefficient))"
            default: sparsity = "ReLU SAE, λ \(NumberFormat.short(l1Coefficient))"
            }
            let budget = epochs.map { "\(NumberFormat.short($0)) passes" } ?? "\(NumberFormat.count(trainingTokens)) training tokens"
            return "\(model) · \(hook) · \(checkpoint.dSAE)-feature \(sparsity) · \(budget)"
        }
    }

    /// The stage that draws the run's figures.
    public static func stage(config: ResolvedConfig) throws -> StageSpec {
        let (settings, slice) = try Settings.read(config.value)
        return StageSpec(
            id: .viz, kind: "viz", version: 11,
            upstream: settings.sides.map(StageID.train) + settings.sides.map(StageID.interpret) + [.eval],
            config: slice,
            run: { context in try run(context) },
            publish: { context in
                for folder in ["figures", "tables"] {
                    for name in FileSystem.listFiles(in: context.entryDirectory + "/\(folder)") {
                        try FileSystem.copyReplacing(context.entryDirectory + "/\(folder)/\(name)", to: context.runDirectory + "/\(folder)/\(name)")
                    }
                }
                if FileSystem.exists(context.entryDirectory + "/\(FeatureMapFile.fileName)") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/\(FeatureMapFile.fileName)", to: context.runDirectory + "/\(FeatureMapFile.fileName)")
                }
                return [:]
            })
    }

    static func run(_ context: StageContext) throws {
        let (settings, _) = try Settings.read(context.config)
        let scale = settings.scale.factor
        let labels = settings.labels
        let sides = settings.sides
        let compared = sides.count == 2
        let text = try TextRenderer()
        let output = context.output("figures")
        func save(_ canvas: Canvas, _ name: String) throws { try canvas.writePNG(to: "\(output)/\(name).png") }
        let checkpoint = try JSONFile.read(SAELensConfig.self, from: try context.upstream(.train(.A)) + "/\(SAELensConfig.fileName)")
        let subtitle = settings.subtitle(checkpoint)

        // Training curves, A and B together.
        var metrics: [Side: [TrainingMetrics.Row]] = [:]
        for side in sides { metrics[side] = try TrainingMetrics.read(try context.upstream(.train(side)) + "/\(TrainingMetrics.fileName)") }
        let curves: [(TrainingMetrics.Column, String, String)] = [
            (.loss, "Training loss (training batches)", "loss (scaled inputs)"), (.mse, "Reconstruction MSE", "MSE"),
            (.l0, "L0 (active features per token)", "L0"), (.fve, "Fraction of variance explained", "FVE")]
        let heldOutColumns: [TrainingMetrics.Column: TrainingMetrics.Column] = [.mse: .heldoutMSE, .l0: .heldoutL0, .fve: .heldoutFVE]
        for (column, title, label) in curves {
            var series: [Series] = []
            for (index, side) in sides.enumerated() {
                let color = Color.palette[index]
                let points = { (column: TrainingMetrics.Column) in
                    metrics[side]!.compactMap { row in row[.tokens].flatMap { x in row[column].map { (x, $0) } } }
                }
                series.append(.line(name: "SAE \(side) (\(labels[side])), training batches", points: points(column), color: color))
                if let heldOut = heldOutColumns[column], !points(heldOut).isEmpty {
                    series.append(.scatter(name: "SAE \(side) (\(labels[side])), held-out rows", points: points(heldOut), color: color.darker,
                                           radius: 6))
                }
            }
            var chart = Chart(title: title, xLabel: "training tokens", yLabel: label, series: series)
            chart.subtitle = subtitle
            if column == .loss || column == .l0 { chart.yScale = .log10 }
            if series.count > 2 { chart.legendOutside = true }
            try save(chart.render(scale: scale, text: text), "training_\(column.rawValue)")
        }

        // Snapshots, where training kept them.
        var snapshotFiles: [Side: (file: SnapshotsFile, entry: String)] = [:]
        for side in sides {
            let entry = try context.upstream(.train(side))
            if FileSystem.exists("\(entry)/\(SnapshotsFile.fileName)") {
                snapshotFiles[side] = (try SnapshotsFile.read("\(entry)/\(SnapshotsFile.fileName)"), entry)
            }
        }
        try drawSnapshots(snapshotFiles, settings: settings, subtitle: subtitle, text: text, tables: context.outputDirectory + "/tables", save: save)

        // Feature density and selectivity, from the feature summaries.
        var homeSummaries: [Side: [FeatureSummaryFile.Feature]] = [:]
        for side in sides {
            let interpret = try context.upstream(.interpret(side)) + "/features"
            let home = try FeatureSummaryFile.read(interpret + "/" + FeatureSummaryFile.fileName(sae: side, data: side)).features
            homeSummaries[side] = home
            let frequencies = home.map(\.frequency)
            let dead = frequencies.filter { $0 == 0 }.count
            let logs = frequencies.filter { $0 > 0 }.map { log10($0) }
            if let low = logs.min(), let high = logs.max() {
                let bins = 40, width = max((high - low) / Double(bins), 1e-6)
                var counts = [Double](repeating: 0, count: bins)
                for value in logs { counts[min(bins - 1, Int((value - low) / width))] += 1 }
                let bars = (0..<bins).map { (x0: low + Double($0) * width, x1: low + Double($0 + 1) * width, y: counts[$0]) }
                let silent = dead == 0 ? "every feature fires" : "\(dead) of \(home.count) features never fire"
                var chart = Chart(title: "How often SAE \(side)'s features fire on \(labels[side]) (\(silent))",
                                  xLabel: "log10 of the share of tokens a feature fires on", yLabel: "features",
                                  series: [.bars(name: "", bars: bars, color: Color.palette[side == .A ? 0 : 1])])
                chart.subtitle = subtitle
                try save(chart.render(scale: scale, text: text), "feature_density_\(side)")
            }
            guard compared else { continue }
            // The SAE's summary on its own dataset is `home`, read above; only the other one is read here.
            let away = try FeatureSummaryFile.read(interpret + "/" + FeatureSummaryFile.fileName(sae: side, data: side.other)).features
            let (onA, onB) = side == .A ? (home, away) : (away, home)
            let points = zip(onA, onB).compactMap { a, b -> (Double, Double)? in
                let (x, y) = (a.meanActivation, b.meanActivation)
                return x > 0 && y > 0 ? (x, y) : nil
            }
            var scatter = Chart(title: "Selectivity of SAE \(side)'s features (one dot per feature)", xLabel: "mean activation on A (\(labels[.A]))",
                                yLabel: "mean activation on B (\(labels[.B]))",
                                series: [.scatter(name: "", points: points, color: Color.palette[side == .A ? 0 : 1], radius: 3)])
            scatter.subtitle = subtitle
            scatter.xScale = .log10
            scatter.yScale = .log10
            scatter.diagonal = true
            scatter.equalAspect = true
            scatter.width = 1200
            scatter.height = 1100
            scatter.cornerLabels = (upperLeft: "more active on B (\(labels[.B]))", lowerRight: "more active on A (\(labels[.A]))")
            try save(scatter.render(scale: scale, text: text), "selectivity_\(side)")
        }

        // The 2×2 evaluation.
        let results = try EvalResults.read(try context.upstream(.eval) + "/\(EvalResults.fileName)")
        let eval = results.eval
        let sideLabels = Side.allCases.map { "\($0) (\(labels[$0]))" }
        let halfWidth = { (m: EvalResults.PairMetrics, key: String) in
            m.intervals[key].map { "± " + NumberFormat.fixed(($0[1] - $0[0]) / 2, digits: 3) } ?? ""
        }
        let matrices: [(String, String, (EvalResults.PairMetrics) -> Double?)] = [
            ("fve", "Fraction of variance explained (± 95% interval)", { $0.fve }),
            ("ce_recovered", "Cross-entropy loss recovered (± 95% interval)", { $0.ceRecovered })]
        for (key, title, value) in compared ? matrices : [] {
            var heatmap = Heatmap(
                title: title, rowTitle: "SAE trained on", columnTitle: "evaluated on", rowLabels: sideLabels, columnLabels: sideLabels,
                values: Side.allCases.map { trained in Side.allCases.map { data in eval[SAEPair(trained, data)].flatMap(value) ?? .nan } })
            heatmap.subtitle = subtitle
            heatmap.range = 0.0...1.0
            heatmap.notes = Side.allCases.map { trained in
                Side.allCases.map { data in
                    guard let m = eval[SAEPair(trained, data)] else { return "" }
                    return value(m) == nil ? "not measurable" : halfWidth(m, key)
                }
            }
            try save(heatmap.render(scale: scale, text: text), "\(key)_matrix")
        }
        let pairs = SAEPair.all.filter { eval[$0] != nil }
        let bars = pairs.enumerated().map { (x0: Double($0.offset) + 0.15, x1: Double($0.offset) + 0.85, y: eval[$0.element]?.l0 ?? 0) }
        let whiskers = pairs.enumerated().compactMap { index, pair -> Series.ErrorBar? in
            guard let interval = eval[pair]?.intervals["l0"] else { return nil }
            return Series.ErrorBar(x: Double(index) + 0.5, y0: interval[0], y1: interval[1])
        }
        var l0 = Chart(title: "Average L0 per (SAE → dataset) pair (± 95% interval)", xLabel: "SAE trained on → evaluated on", yLabel: "L0",
                       series: [.bars(name: "", bars: bars, color: Color.palette[2]), .errorBars(intervals: whiskers, color: .axis)])
        l0.subtitle = subtitle
        l0.xCategories = pairs.map(\.arrowLabel)
        try save(l0.render(scale: scale, text: text), "l0_by_pair")

        // Generalization: each SAE on its training rows and on held-out rows.
        var generalizationBars: [(x0: Double, x1: Double, y: Double)] = [], heldBars = generalizationBars
        var generalizationWhiskers: [Series.ErrorBar] = []
        for (index, side) in sides.enumerated() {
            guard let g = results.generalization[side] else { continue }
            let base = Double(index)
            generalizationBars.append((base + 0.1, base + 0.48, g.trainFVE))
            heldBars.append((base + 0.52, base + 0.9, g.heldoutFVE))
            if let i = g.intervals["train_fve"] { generalizationWhiskers.append(.init(x: base + 0.29, y0: i[0], y1: i[1])) }
            if let i = eval[SAEPair(side, side)]?.intervals["fve"] { generalizationWhiskers.append(.init(x: base + 0.71, y0: i[0], y1: i[1])) }
        }
        if !generalizationBars.isEmpty {
            var chart = Chart(title: "FVE on training rows and on held-out rows (± 95% interval)", xLabel: "SAE", yLabel: "FVE",
                              series: [.bars(name: "training rows", bars: generalizationBars, color: Color.palette[0]),
                                       .bars(name: "held-out rows", bars: heldBars, color: Color.palette[1]),
                                       .errorBars(intervals: generalizationWhiskers, color: .axis)])
            chart.subtitle = subtitle
            chart.xCategories = sides.map { "SAE \($0) (\(labels[$0]))" }
            try save(chart.render(scale: scale, text: text), "generalization")
        }

        if compared, FileSystem.exists(try context.upstream(.eval) + "/\(MatchingFile.fileName)") {
            let matching = try MatchingFile.read(try context.upstream(.eval) + "/\(MatchingFile.fileName)")
            try drawMatching(matching, summaries: homeSummaries, context: context, settings: settings, subtitle: subtitle, text: text, save: save)
        }

        // The feature map: both dictionaries' decoder directions in 2-D.
        var decoders: [(Side, SAEParameters)] = []
        for side in sides { decoders.append((side, try SAECheckpoint.readSAELens(try context.upstream(.train(side))).0)) }
        // The map's neighbour search is quadratic in the features: past this many it is left out.
        let mapFeatures = decoders.reduce(0) { $0 + $1.1.features }
        if mapFeatures > FeatureMapFile.maxFeatures {
            context.logger.info("no feature map: \(mapFeatures) features, more than the \(FeatureMapFile.maxFeatures) it is drawn for")
        } else if decoders.allSatisfy({ $0.1.d == decoders[0].1.d }) {
            let started = Date()
            let map = FeatureMapFile.compute(decoders, seed: settings.seed)
            try map.write(to: context.outputDirectory)
            try save(map.draw(summaries: homeSummaries, labels: labels, subtitle: subtitle, scale: scale, text: text), "feature_map")
            context.logger.info("feature map of \(decoders.reduce(0) { $0 + $1.1.features }) features in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: \(map.neighbours)-NN kept \(String(format: "%.2f", map.umapNeighbourhoodPreservation)) (UMAP), \(String(format: "%.2f", map.pcaNeighbourhoodPreservation)) (PCA)")
        }

        // L0 per token as a cumulative distribution: smooth where a histogram of single L0
        // values is noisy, and the median and tails read straight off it.
        let distributions = pairs.enumerated().compactMap { index, pair -> Series? in
            guard let counts = eval[pair]?.l0Histogram, !counts.isEmpty else { return nil }
            let total = Double(counts.reduce(0, +))
            guard total > 0 else { return nil }
            var running = 0.0
            let points = counts.enumerated().map { l0, count -> (Double, Double) in
                running += Double(count)
                return (Double(l0), running / total)
            }
            return .line(name: pair.arrowLabel, points: points, color: Color.palette[index])
        }
        if !distributions.isEmpty {
            var chart = Chart(title: "L0 per token on held-out rows (cumulative)", xLabel: "active features per token (L0)",
                              yLabel: "share of tokens with at most this L0", series: distributions)
            chart.subtitle = subtitle
            chart.legendAtBottom = true
            try save(chart.render(scale: scale, text: text), "l0_per_token")
        }
    }

    /// How the dictionaries relate: each feature's best decoder cosine in the other SAE, and the
    /// share of each selectivity class that has a counterpart at the matching threshold (a figure,
    /// and `tables/matching_by_class` beside eval's tables).
    static func drawMatching(_ matching: MatchingFile, summaries homeSummaries: [Side: [FeatureSummaryFile.Feature]], context: StageContext,
                             settings: Settings, subtitle: String, text: TextRenderer,
                             save: (Canvas, String) throws -> Void) throws {
        let labels = settings.labels, scale = settings.scale.factor
        let threshold = NumberFormat.short(matching.threshold)
        let curves = Side.allCases.enumerated().map { index, side -> Series in
            let cosines = matching.features(of: side).map(\.bestCosine).sorted()
            let count = Double(max(cosines.count, 1))
            let points = cosines.enumerated().map { (rank, cosine) in (cosine, Double(rank + 1) / count) }
            return .line(name: "SAE \(side) (\(labels[side])) → SAE \(side.other)", points: [(0, 0)] + points, color: Color.palette[index])
        }
        var chart = Chart(title: "Each feature's closest direction in the other SAE (cumulative)", xLabel: "highest decoder cosine to the other SAE's features",
                          yLabel: "share of features with at most this cosine", series: curves)
        chart.subtitle = subtitle
        chart.legendAtBottom = true
        try save(chart.render(scale: scale, text: text), "feature_matching")

        // By selectivity class (from each SAE's own feature summary): matched at the threshold or not.
        let classes = ["\(labels[.A])-selective", "\(labels[.B])-selective", "active on both"]
        var series: [Series] = []
        var sizes: [[Int]] = []
        var rows: [[String]] = []
        for (index, side) in Side.allCases.enumerated() {
            let summaries = homeSummaries[side] ?? []
            let matchedCosine = Dictionary(uniqueKeysWithValues: matching.features(of: side).map { ($0.feature, $0.matchedCosine ?? 0) })
            let members = classes.enumerated().map { position, name in
                summaries.filter { position < 2 ? $0.featureClass == name : $0.featureClass == "shared" }
            }
            sizes.append(members.map(\.count))
            let shared = members.map { $0.filter { (matchedCosine[$0.feature] ?? 0) >= matching.threshold }.count }
            let bars = classes.indices.map { position -> (x0: Double, x1: Double, y: Double) in
                let base = Double(position) + (index == 0 ? 0.1 : 0.52)
                return (base, base + 0.38, members[position].isEmpty ? 0 : Double(shared[position]) / Double(members[position].count))
            }
            series.append(.bars(name: "SAE \(side) (\(labels[side]))", bars: bars, color: Color.palette[index]))
            rows += classes.indices.map { position in
                [side.rawValue, classes[position], "\(members[position].count)", "\(shared[position])",
                 NumberFormat.fixed(bars[position].y, digits: 3)]
            }
        }
        try Table(header: ["SAE", "class", "features", "shared", "shared_fraction"], rows: rows)
            .write(to: context.outputDirectory + "/tables", name: "matching_by_class")
        var byClass = Chart(title: "Share of each class with a counterpart in the other SAE (matched cosine ≥ \(threshold))",
                            xLabel: "feature class by mean activation on A against B (its features in SAE A / SAE B)",
                            yLabel: "share of the class's features", series: series)
        byClass.subtitle = subtitle
        byClass.xCategories = classes.indices.map { "\(classes[$0]) (\(sizes[0][$0]) / \(sizes[1][$0]))" }
        try save(byClass.render(scale: scale, text: text), "matching_by_class")
    }
}
