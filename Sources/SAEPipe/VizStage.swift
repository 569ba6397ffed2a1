import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipePlot

/// viz: PNG figures of training, feature density, selectivity and the 2×2 evaluation.
public enum VizStage {
    public static let configFields: [ConfigField] = [
        ConfigField("viz", .section(ConfigSection([
            ConfigField("scale", .choice(["1", "2"]), default: .string("1"), doc: "pixel density of the figures: 1 or 2 (high resolution, same layout)"),
        ])), doc: "figures"),
    ]

    public static func stage(config: ResolvedConfig) -> StageSpec {
        StageSpec(
            id: "viz", kind: "viz", version: 5,
            upstream: ["train.A", "train.B", "interpret.A", "interpret.B", "eval"],
            config: config.value.slice(["viz", "datasets.A.label", "datasets.B.label"]),
            run: { context in try run(context) },
            publish: { context in
                for name in FileSystem.listFiles(in: context.entryDirectory + "/figures") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/figures/\(name)", to: context.runDirectory + "/figures/\(name)")
                }
                return [:]
            })
    }

    static func run(_ context: StageContext) throws {
        let scale = Double(context.config[path: "viz.scale"].stringValue ?? "1") ?? 1
        let labels = ["A": context.config[path: "datasets.A.label"].stringValue ?? "A",
                      "B": context.config[path: "datasets.B.label"].stringValue ?? "B"]
        let text = try TextRenderer()
        let output = context.output("figures")
        func save(_ canvas: Canvas, _ name: String) throws { try canvas.writePNG(to: "\(output)/\(name).png") }

        // Training curves, A and B together.
        var metrics: [String: [[String: Double]]] = [:]
        for side in ["A", "B"] { metrics[side] = try readCSV(try context.upstream("train.\(side)") + "/metrics.csv") }
        for (column, title, label) in [("loss", "Training loss", "loss (scaled inputs)"), ("mse", "Reconstruction MSE", "MSE"),
                                       ("l0", "L0 (active features per token)", "L0"), ("fve", "Fraction of variance explained", "FVE")] {
            let series = ["A", "B"].enumerated().map { index, side in
                Series.line(name: "SAE \(side) (\(labels[side]!))", points: metrics[side]!.compactMap { row in
                    row["tokens"].flatMap { x in row[column].map { (x, $0) } }
                }, color: Color.palette[index])
            }
            var chart = Chart(title: title, xLabel: "training tokens", yLabel: label, series: series)
            if column == "loss" || column == "l0" { chart.yScale = .log10 }
            try save(chart.render(scale: scale, text: text), "training_\(column)")
        }

        // Feature density and selectivity, from the feature summaries.
        for side in ["A", "B"] {
            let interpret = try context.upstream("interpret.\(side)") + "/features"
            let onA = try features(interpret + "/\(side)_on_A.json"), onB = try features(interpret + "/\(side)_on_B.json")
            let home = side == "A" ? onA : onB
            let frequencies = home.map { $0["frequency"] ?? 0 }
            let dead = frequencies.filter { $0 == 0 }.count
            let logs = frequencies.filter { $0 > 0 }.map { log10($0) }
            if let low = logs.min(), let high = logs.max() {
                let bins = 40, width = max((high - low) / Double(bins), 1e-6)
                var counts = [Double](repeating: 0, count: bins)
                for value in logs { counts[min(bins - 1, Int((value - low) / width))] += 1 }
                let bars = (0..<bins).map { (x0: low + Double($0) * width, x1: low + Double($0 + 1) * width, y: counts[$0]) }
                let chart = Chart(title: "Feature density: SAE \(side) on \(labels[side]!) (\(dead) never fire)",
                                  xLabel: "log10 activation frequency", yLabel: "features",
                                  series: [.bars(name: "", bars: bars, color: Color.palette[side == "A" ? 0 : 1])])
                try save(chart.render(scale: scale, text: text), "feature_density_\(side)")
            }
            let points = zip(onA, onB).compactMap { a, b -> (Double, Double)? in
                guard let x = a["mean_activation"], let y = b["mean_activation"], x > 0, y > 0 else { return nil }
                return (x, y)
            }
            var scatter = Chart(title: "Selectivity of SAE \(side)'s features", xLabel: "mean activation on A (\(labels["A"]!))",
                                yLabel: "mean activation on B (\(labels["B"]!))",
                                series: [.scatter(name: "", points: points, color: Color.palette[side == "A" ? 0 : 1], radius: 1.6)])
            scatter.xScale = .log10
            scatter.yScale = .log10
            scatter.diagonal = true
            try save(scatter.render(scale: scale, text: text), "selectivity_\(side)")
        }

        // The 2×2 evaluation.
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try context.upstream("eval") + "/results.json"))) as? [String: Any]
        let eval = results?["eval"] as? [String: [String: Any]] ?? [:]
        for (key, title, range) in [("fve", "Fraction of variance explained", 0.0...1.0), ("ce_recovered", "Cross-entropy loss recovered", 0.0...1.0)] {
            var heatmap = Heatmap(
                title: title, rowTitle: "SAE trained on", columnTitle: "evaluated on",
                rowLabels: ["A (\(labels["A"]!))", "B (\(labels["B"]!))"], columnLabels: ["A (\(labels["A"]!))", "B (\(labels["B"]!))"],
                values: ["A", "B"].map { trained in ["A", "B"].map { data in (eval["\(trained)->\(data)"]?[key] as? Double) ?? .nan } })
            heatmap.range = range
            try save(heatmap.render(scale: scale, text: text), "\(key)_matrix")
        }
        let pairs = ["A->A", "A->B", "B->A", "B->B"]
        let bars = pairs.enumerated().map { (x0: Double($0.offset) + 0.15, x1: Double($0.offset) + 0.85, y: (eval[$0.element]?["l0"] as? Double) ?? 0) }
        var l0 = Chart(title: "Average L0 per (SAE → dataset) pair", xLabel: "SAE trained on → evaluated on", yLabel: "L0",
                       series: [.bars(name: "", bars: bars, color: Color.palette[2])])
        l0.xCategories = pairs.map { $0.replacingOccurrences(of: "->", with: " → ") }
        try save(l0.render(scale: scale, text: text), "l0_by_pair")

        // L0 per token: the distribution behind the averages, all four pairs.
        let histograms = pairs.enumerated().compactMap { index, pair -> Series? in
            guard let counts = eval[pair]?["l0_histogram"] as? [Int], !counts.isEmpty else { return nil }
            let total = Double(counts.reduce(0, +)), width = max(1, counts.count / 40)
            let points = stride(from: 0, to: counts.count, by: width).map { start in
                (Double(start) + Double(width) / 2, Double(counts[start..<min(start + width, counts.count)].reduce(0, +)) / total)
            }
            return .line(name: pair.replacingOccurrences(of: "->", with: " → "), points: points, color: Color.palette[index])
        }
        if !histograms.isEmpty {
            let chart = Chart(title: "L0 per token on held-out rows", xLabel: "active features per token (L0)",
                              yLabel: "share of tokens", series: histograms)
            try save(chart.render(scale: scale, text: text), "l0_per_token")
        }
    }

    static func readCSV(_ path: String) throws -> [[String: Double]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
        guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
        return lines.dropFirst().map { line in
            var row: [String: Double] = [:]
            for (name, value) in zip(header, line.split(separator: ",")) { row[name] = Double(value) }
            return row
        }
    }

    static func features(_ path: String) throws -> [[String: Double]] {
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return (document?["features"] as? [[String: Any]] ?? []).map { feature in
            ["frequency": feature["frequency"] as? Double ?? 0, "mean_activation": feature["mean_activation"] as? Double ?? 0]
        }
    }
}
