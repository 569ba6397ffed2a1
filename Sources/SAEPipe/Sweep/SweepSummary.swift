import Foundation
import SAEPipeCore
import SAEPipePlot

/// A sweep's summary: `summary.csv`/`.md` (one row per variant: its swept values and key
/// metrics from its results.json) and figures — the L0–FVE and L0–CE-recovered frontiers
/// with Pareto points marked, and each metric against each swept key; for a sweep over layers,
/// `layers.csv|md` and a layers × metrics heatmap per SAE (`LayerSummary`).
public enum SweepSummary {
    /// Column name, results.json pair, metric.
    static let metricColumns: [(column: String, pair: SAEPair, metric: String, value: @Sendable (EvalResults.PairMetrics) -> Double?)] =
        Side.allCases.flatMap { side -> [(String, SAEPair, String, @Sendable (EvalResults.PairMetrics) -> Double?)] in
            let pair = SAEPair(side, side)
            return [("\(side).fve", pair, "fve", { $0.fve }), ("\(side).l0", pair, "l0", { $0.l0 }),
                    ("\(side).ce_recovered", pair, "ce_recovered", { $0.ceRecovered }),
                    ("\(side).dead_fraction", pair, "dead_fraction", { $0.deadFraction }), ("\(side).mse", pair, "mse", { $0.mse })]
        } + SAEPair.transfers.map { pair in ("\(pair.key).fve", pair, "fve", { $0.fve }) }

    struct Row {
        var variant: String
        var complete: Bool
        var status: String
        var values: [ConfigValue]
        /// The values as the sweep wrote them (as in the variant's name).
        var texts: [String]
        var metrics: [String: Double]
        /// 95% intervals of the metrics, by column.
        var intervals: [String: [Double]] = [:]
        var paretoFVE: [String: Bool] = [:]
    }

    static func rows(_ definition: SweepDefinition, outcomes: [SweepRunner.Outcome]) -> [Row] {
        var rows = zip(definition.variants, outcomes).map { variant, outcome -> Row in
            let results = (try? EvalResults.read(runDirectory: "\(definition.directory)/\(variant.name)"))?.eval
            var metrics: [String: Double] = [:]
            var intervals: [String: [Double]] = [:]
            for column in metricColumns {
                if let value = results?[column.pair].flatMap(column.value) { metrics[column.column] = value }
                if let interval = results?[column.pair]?.intervals[column.metric] { intervals[column.column] = interval }
            }
            let status: String
            switch outcome.status {
            case .done, .finished: status = results == nil ? "complete (no eval)" : "complete"
            case .failed: status = "failed"
            case .pending, .running: status = "not run"
            }
            return Row(variant: variant.name, complete: results != nil, status: status,
                       values: definition.sweptKeys.map { variant.value(of: $0) },
                       texts: variant.assignments.map { SweepDefinition.display($0.node) }, metrics: metrics, intervals: intervals)
        }
        for side in Side.allCases {
            let candidates = rows.indices.filter { rows[$0].metrics["\(side).l0"] != nil && rows[$0].metrics["\(side).fve"] != nil }
            let optimal = paretoOptimal(candidates.map { (rows[$0].metrics["\(side).l0"]!, rows[$0].metrics["\(side).fve"]!) })
            for (index, isOptimal) in zip(candidates, optimal) { rows[index].paretoFVE[side.rawValue] = isOptimal }
        }
        return rows
    }

    /// Which points no other point beats on both counts (lower x, higher y); ties keep both.
    public static func paretoOptimal(_ points: [(x: Double, y: Double)]) -> [Bool] {
        points.map { point in
            !points.contains { other in
                other.x <= point.x && other.y >= point.y && (other.x < point.x || other.y > point.y)
            }
        }
    }

    public static func table(_ definition: SweepDefinition, outcomes: [SweepRunner.Outcome]) -> Table {
        table(definition, rows: rows(definition, outcomes: outcomes))
    }

    static func table(_ definition: SweepDefinition, rows: [Row]) -> Table {
        // Each metric beside the half-width of its 95% interval (`_pm`).
        let header = ["variant", "status"] + definition.sweptKeys + metricColumns.flatMap { [$0.column, $0.column + "_pm"] }
            + ["pareto_A", "pareto_B"]
        let body = rows.map { row in
            [row.variant, row.status] + row.texts
                + metricColumns.flatMap { column -> [String] in
                    let digits = column.metric == "l0" ? 2 : 4
                    return [row.metrics[column.column].map { NumberFormat.fixed($0, digits: digits) } ?? "",
                            row.intervals[column.column].map { NumberFormat.fixed(($0[1] - $0[0]) / 2, digits: digits) } ?? ""]
                }
                + Side.allCases.map { row.paretoFVE[$0.rawValue] == true ? "yes" : "" }
        }
        return Table(header: header, rows: body)
    }

    /// The summary's main columns for the terminal: variant, swept values, FVE, L0 and CE recovered per SAE.
    public static func terminalTable(_ table: Table) -> String {
        let header = table.header
        let shown: Set<String> = ["A.fve", "A.l0", "A.ce_recovered", "B.fve", "B.l0", "B.ce_recovered"]
        let metricNames = Set(metricColumns.flatMap { [$0.column, $0.column + "_pm"] } + ["pareto_A", "pareto_B"])
        let keep = header.indices.filter { !metricNames.contains(header[$0]) || shown.contains(header[$0]) }
        return TextTable.render(header: keep.map { header[$0] }, rows: table.rows.map { row in keep.map { row[$0] } })
    }

    /// Writes summary.csv, summary.md and figures/ (each variant's results.json read once) and returns the table.
    @discardableResult
    public static func write(_ definition: SweepDefinition, outcomes: [SweepRunner.Outcome]) throws -> Table {
        let rows = rows(definition, outcomes: outcomes)
        let table = table(definition, rows: rows)
        try FileSystem.writeAtomically(table.csv(), to: "\(definition.directory)/summary.csv")
        var markdown = "# Sweep \(definition.name)\n\n" + "Swept: " + definition.axes.map { "`\($0.key)` (\($0.kind.rawValue))" }.joined(separator: ", ")
        markdown += ". Metrics are on held-out rows; `A.*` is the SAE trained and evaluated on A, `A->B.*` trained on A and evaluated on B. "
        markdown += "`pareto_*` marks variants on the L0–FVE frontier.\n\n" + table.markdown()
        let failures = zip(definition.variants, outcomes).filter { $0.1.status == .failed }
        if !failures.isEmpty {
            markdown += "\nFailed variants:\n\n" + failures.map { "- `\($0.0.name)`: \($0.1.error ?? "unknown error")" }.joined(separator: "\n") + "\n"
        }
        try FileSystem.writeAtomically(markdown, to: "\(definition.directory)/summary.md")
        try writeFigures(definition, rows: rows)
        return table
    }

    // MARK: - Figures

    static func writeFigures(_ definition: SweepDefinition, rows: [Row]) throws {
        let complete = rows.filter(\.complete)
        let final = "\(definition.directory)/figures"
        // Drawn beside the old set and swapped in, so the folder never mixes two summaries.
        guard !complete.isEmpty else { return FileSystem.remove(final) }
        try FileSystem.replaceDirectory(at: final) { figures in try drawFigures(definition, complete: complete, into: figures) }
    }

    static func drawFigures(_ definition: SweepDefinition, complete: [Row], into figures: String) throws {
        guard !complete.isEmpty else { return }
        let text = try TextRenderer()
        let (viz, _) = try VizStage.Settings.read(definition.base.value)
        let scale = viz.scale.factor
        let labels = viz.labels
        let keyNames = definition.sweptKeys.map { String($0.split(separator: ".").last ?? "") }
        func save(_ chart: Chart, _ name: String) throws {
            try chart.render(scale: scale, text: text).writePNG(to: "\(figures)/\(name).png")
        }

        for (metric, title) in [("fve", "fraction of variance explained"), ("ce_recovered", "CE loss recovered")] {
            var series: [Series] = []
            var notes: [(x: Double, y: Double, text: String)] = []
            for (sideIndex, side) in Side.allCases.enumerated() {
                let points = complete.compactMap { row -> (x: Double, y: Double, row: Row)? in
                    guard let x = row.metrics["\(side).l0"], let y = row.metrics["\(side).\(metric)"], y.isFinite else { return nil }
                    return (x, y, row)
                }
                guard !points.isEmpty else { continue }
                let color = Color.palette[sideIndex]
                let optimal = paretoOptimal(points.map { ($0.x, $0.y) })
                let frontier = zip(points, optimal).filter(\.1).map { ($0.0.x, $0.0.y) }.sorted { $0.0 < $1.0 }
                series.append(.scatter(name: "", points: points.map { ($0.x, $0.y) }, color: color, radius: 3.5))
                series.append(.errorBars(intervals: points.compactMap { point in
                    guard let x = point.row.intervals["\(side).l0"], let y = point.row.intervals["\(side).\(metric)"] else { return nil }
                    return Series.ErrorBar(x: point.x, y: point.y, x0: x[0], x1: x[1], y0: y[0], y1: y[1])
                }, color: color))
                series.append(.line(name: "SAE \(side) (\(labels[side])), Pareto frontier", points: frontier, color: color))
                series.append(.scatter(name: "", points: frontier, color: color, radius: 6))
                notes += points.map { ($0.x, $0.y, $0.row.texts.joined(separator: ", ")) }
            }
            guard !series.isEmpty else { continue }
            var chart = Chart(title: "L0 vs \(title), ± 95% intervals (labels: \(keyNames.joined(separator: ", ")))",
                              xLabel: "L0 (active features per token, held out)", yLabel: title, series: series)
            chart.annotations = notes
            chart.xScale = logScale(complete.flatMap { row in Side.allCases.compactMap { row.metrics["\($0).l0"] } }) ? .log10 : .linear
            try save(chart, "frontier_l0_\(metric)")
        }

        try LayerSummary.write(definition, complete: complete, figures: figures, labels: labels) { heatmap, name in
            try heatmap.render(scale: scale, text: text).writePNG(to: "\(figures)/\(name).png")
        }

        for (keyIndex, key) in definition.sweptKeys.enumerated() {
            let values = complete.map { $0.values[keyIndex] }
            let numeric = values.allSatisfy { $0.doubleValue != nil }
            let categories = numeric ? [] : uniqued(complete.map { $0.texts[keyIndex] })
            let x = { (row: Row) -> Double in
                numeric ? row.values[keyIndex].doubleValue! : Double(categories.firstIndex(of: row.texts[keyIndex]) ?? 0) + 0.5
            }
            // Lines through variants that differ only in this key, when the rest is a small grid.
            let others = definition.axes.indices.filter { $0 != keyIndex }
            let groupOf = { (row: Row) in others.map { "\(keyNames[$0])=\(row.texts[$0])" }.joined(separator: ", ") }
            let groups = uniqued(complete.map(groupOf))
            let asLines = !definition.axes.contains(where: \.isRandom) && groups.count <= 4
            for (metric, title) in [("fve", "FVE"), ("l0", "L0"), ("ce_recovered", "CE loss recovered")] {
                var series: [Series] = []
                for (sideIndex, side) in Side.allCases.enumerated() {
                    for (groupIndex, group) in (asLines ? groups : [""]).enumerated() {
                        let members = complete.filter { !asLines || groupOf($0) == group }
                        let points = members.compactMap { row -> (Double, Double)? in
                            row.metrics["\(side).\(metric)"].map { (x(row), $0) }
                        }.sorted { $0.0 < $1.0 }
                        series.append(.errorBars(intervals: members.compactMap { row in
                            row.intervals["\(side).\(metric)"].map { Series.ErrorBar(x: x(row), y0: $0[0], y1: $0[1]) }
                        }, color: Color.palette[(groupIndex * 2 + sideIndex) % Color.palette.count]))
                        guard !points.isEmpty else { continue }
                        let color = Color.palette[(groupIndex * 2 + sideIndex) % Color.palette.count]
                        let name = "SAE \(side) (\(labels[side]))" + (group.isEmpty ? "" : ", \(group)")
                        series.append(asLines ? .line(name: name, points: points, color: color) : .scatter(name: name, points: points, color: color, radius: 4))
                        if asLines { series.append(.scatter(name: "", points: points, color: color, radius: 3)) }
                    }
                }
                guard !series.isEmpty else { continue }
                var chart = Chart(title: "\(title) vs \(key)", xLabel: key, yLabel: "\(title) (held out, own dataset)", series: series)
                if series.filter({ !$0.name.isEmpty }).count > 2 {
                    chart.legendOutside = true
                    chart.width = 820
                }
                if numeric {
                    chart.xScale = logScale(values.compactMap(\.doubleValue)) ? .log10 : .linear
                } else {
                    chart.xCategories = categories
                }
                if metric == "l0" { chart.yScale = .log10 }
                try save(chart, "\(metric)_vs_\(key)")
            }
        }
    }

    static func uniqued(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    /// Log axes for positive values spanning close to a decade or more.
    static func logScale(_ values: [Double]) -> Bool {
        guard let low = values.min(), let high = values.max(), low > 0 else { return false }
        return high / low >= 8
    }
}
