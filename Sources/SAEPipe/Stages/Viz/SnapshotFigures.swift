import Foundation
import SAEPipeCore
import SAEPipePlot
import SAEPipeSAE

extension VizStage {
    /// With `train.snapshots`: held-out FVE at each snapshot, when features emerged (firing, and
    /// decoder direction settled), how the firing frequencies spread out, and `tables/snapshots`.
    static func drawSnapshots(_ files: [Side: (file: SnapshotsFile, entry: String)], settings: Settings, subtitle: String, text: TextRenderer,
                              tables: String, save: (Canvas, String) throws -> Void) throws {
        let labels = settings.labels, scale = settings.scale.factor
        let sides = Side.allCases.filter { files[$0] != nil }
        guard !sides.isEmpty else { return }

        var fve: [Series] = [], emergence: [Series] = []
        var rows: [[String]] = []
        for side in sides {
            let (file, _) = files[side]!
            let color = Color.palette[side == .A ? 0 : 1]
            let points = file.snapshots.map { (Double($0.trainedTokens), $0.evaluation.fve) }
            fve.append(.line(name: "SAE \(side) (\(labels[side]))", points: points, color: color))
            fve.append(.scatter(name: "", points: points, color: color, radius: 5))
            let share = { (count: Int) in Double(count) / Double(max(file.features, 1)) }
            emergence.append(.line(name: "SAE \(side): has fired on held-out rows by then", points: file.snapshots.map { (Double($0.trainedTokens), share($0.alive)) },
                                   color: color))
            emergence.append(.line(name: "SAE \(side): decoder within cosine \(NumberFormat.short(file.settledCosine)) of its final direction",
                                   points: file.snapshots.map { (Double($0.trainedTokens), share($0.settled)) }, color: color.darker))
            rows += file.snapshots.map { snapshot in
                [side.rawValue, "\(snapshot.milestone)", "\(snapshot.trainedTokens)", NumberFormat.fixed(snapshot.evaluation.fve, digits: 4),
                 NumberFormat.fixed(snapshot.evaluation.l0, digits: 1), String(format: "%.4g", snapshot.evaluation.mse),
                 NumberFormat.fixed(snapshot.evaluation.deadFraction, digits: 4), "\(snapshot.alive)", "\(snapshot.settled)"]
            }
        }
        try Table(header: ["SAE", "milestone", "trained_tokens", "fve", "l0", "mse", "dead_fraction", "alive", "settled"], rows: rows)
            .write(to: tables, name: "snapshots")

        var fveChart = Chart(title: "Held-out FVE at each training snapshot", xLabel: "training tokens", yLabel: "FVE (held-out rows)", series: fve)
        fveChart.subtitle = subtitle
        fveChart.legendAtBottom = true
        try save(fveChart.render(scale: scale, text: text), "snapshot_fve")

        var emergenceChart = Chart(title: "When features emerged: the share that has fired, and the share settled, by each snapshot", xLabel: "training tokens",
                                   yLabel: "share of features", series: emergence)
        emergenceChart.subtitle = subtitle
        emergenceChart.legendAtBottom = true
        if emergence.filter({ !$0.name.isEmpty }).count > 2 {
            emergenceChart.legendOutside = true
            emergenceChart.width = 1500
        }
        try save(emergenceChart.render(scale: scale, text: text), "emergence")

        // Firing-frequency distributions, one line per snapshot, later snapshots darker.
        for side in sides {
            let (file, entry) = files[side]!
            var logs: [(milestone: Int, values: [Double], silent: Int)] = []
            for snapshot in file.snapshots {
                let frequencies = try SAECheckpoint.readSparsity("\(entry)/\(SnapshotsFile.directory)/\(snapshot.milestone)")
                logs.append((snapshot.milestone, frequencies.filter { $0 > 0 }.map { log10($0) }, frequencies.filter { $0 == 0 }.count))
            }
            let all = logs.flatMap(\.values)
            guard let low = all.min(), let high = all.max() else { continue }
            let bins = 30, width = max((high - low) / Double(bins), 1e-6)
            let series = logs.enumerated().map { index, snapshot -> Series in
                var counts = [Double](repeating: 0, count: bins)
                for value in snapshot.values { counts[min(bins - 1, Int((value - low) / width))] += 1 }
                let shade = logs.count > 1 ? Double(index) / Double(logs.count - 1) : 1
                let color = Color.palette[side == .A ? 0 : 1].mixed(with: .black, amount: 0.6 * shade).mixed(with: .white, amount: 0.6 * (1 - shade))
                return .line(name: "\(NumberFormat.count(snapshot.milestone)) tokens (\(snapshot.silent) silent)",
                             points: (0..<bins).map { (low + (Double($0) + 0.5) * width, counts[$0]) }, color: color)
            }
            var chart = Chart(title: "How often SAE \(side)'s features fire on \(labels[side]), at each snapshot",
                              xLabel: "log10 of the share of held-out tokens a feature fires on", yLabel: "features", series: series)
            chart.subtitle = subtitle
            chart.legendOutside = series.count > 4
            try save(chart.render(scale: scale, text: text), "snapshot_frequencies_\(side)")
        }
    }
}
