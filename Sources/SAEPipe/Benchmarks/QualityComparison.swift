import Foundation
import SAEPipeCore
import SAEPipeSAE

extension QualityBenchmark {
    /// The rows a benchmark holds out (`bench quality --split-out`), so that another tool
    /// (`scripts/bench-anchors.py`) trains on exactly saepipe's training rows and is scored on the same held-out rows.
    public struct Split: Codable, Sendable, Equatable {
        public static let format = "saepipe-split/1"
        public var format: String
        /// The activation set's directory and its shape.
        public var activations: String
        public var rows: Int
        public var width: Int
        public var seed: UInt64
        /// Held-out rows as sorted, disjoint half-open ranges [start, end); every other row is a training row.
        public var heldOutRanges: [[Int]]

        enum CodingKeys: String, CodingKey {
            case format, activations, rows, width, seed, heldOutRanges = "held_out_ranges"
        }

        public init(dataset: ActivationDataset, seed: UInt64) {
            (format, activations, rows, width, self.seed) = (Self.format, dataset.directory, dataset.rows, dataset.d, seed)
            heldOutRanges = Self.ranges(of: dataset.validation)
        }

        /// Sorted row indices as runs of consecutive rows.
        public static func ranges(of sortedRows: [Int]) -> [[Int]] {
            var ranges: [[Int]] = []
            for row in sortedRows {
                if let last = ranges.last, last[1] == row { ranges[ranges.count - 1][1] = row + 1 } else { ranges.append([row, row + 1]) }
            }
            return ranges
        }

        /// The held-out rows the ranges stand for.
        public var heldOutRows: [Int] { heldOutRanges.flatMap { $0[0]..<$0[1] } }
    }

    /// One configuration (recipe or tool, level, learning rate, budget, features) over its training seeds.
    public struct Repeated: Sendable, Equatable {
        /// Every figure averaged over the seeds (`seed` nil when there are several).
        public var mean: Run
        public var seeds: Int
        /// Sample standard deviation of the held-out FVE over seeds (nil with one seed).
        public var fveDeviation: Double?
        /// Standard error of `mean.fve` (nil with one seed).
        public var fveStandardError: Double? { fveDeviation.map { $0 / Double(seeds).squareRoot() } }
    }

    /// `runs` grouped by configuration in order of first appearance; a seed seen twice for one
    /// configuration counts once (the first), so a file compared twice does not shrink the spread.
    public static func repeated(_ runs: [Run]) -> [Repeated] {
        var order: [String] = [], groups: [String: [Run]] = [:]
        for run in runs {
            let key = configurationKey(run)
            if groups[key] == nil { order.append(key) }
            if !(groups[key] ?? []).contains(where: { ($0.seed ?? 0) == (run.seed ?? 0) }) { groups[key, default: []].append(run) }
        }
        return order.map { key in
            let members = groups[key]!
            let n = Double(members.count)
            let average = { (value: (Run) -> Double) in members.reduce(0) { $0 + value($1) } / n }
            var mean = members[0]
            mean.l0 = average(\.l0)
            mean.fve = average(\.fve)
            mean.mse = average(\.mse)
            mean.deadFraction = average(\.deadFraction)
            mean.seconds = average(\.seconds)
            mean.tokensPerSecond = average(\.tokensPerSecond)
            if members.count > 1 { mean.seed = nil }
            let deviation = members.count > 1
                ? (members.reduce(0) { $0 + ($1.fve - mean.fve) * ($1.fve - mean.fve) } / (n - 1)).squareRoot() : nil
            return Repeated(mean: mean, seeds: members.count, fveDeviation: deviation)
        }
    }

    static func configurationKey(_ run: Run) -> String {
        "\(run.recipe)|\(run.level)|\(run.lr)|\(run.trainingTokens)|\(run.features)"
    }

    /// The runs no other run in `runs` beats on both L0 (lower) and FVE (higher), by increasing L0.
    public static func paretoFront(_ runs: [Run]) -> [Run] {
        paretoFront(runs.map { Repeated(mean: $0, seeds: 1, fveDeviation: nil) }).map(\.mean)
    }

    /// The configurations whose mean no other one's beats on both L0 and FVE, by increasing L0.
    public static func paretoFront(_ items: [Repeated]) -> [Repeated] {
        items.filter { item in !items.contains { dominates($0.mean, item.mean) } }
            .sorted { ($0.mean.l0, -$0.mean.fve) < ($1.mean.l0, -$1.mean.fve) }
    }

    /// The FVE of a frontier at `l0`, linear in log L0 between its points; nil outside the L0 range it covers.
    public static func interpolatedFVE(_ front: [Run], at l0: Double) -> Double? {
        interpolated(front.map { Repeated(mean: $0, seeds: 1, fveDeviation: nil) }, at: l0)?.fve
    }

    /// The same over means, with the standard error of the interpolated value (the two points are
    /// independent runs; nil when a point it leans on has one seed).
    static func interpolated(_ front: [Repeated], at l0: Double) -> (fve: Double, standardError: Double?)? {
        guard let first = front.first, let last = front.last, l0 > 0, first.mean.l0 <= l0, l0 <= last.mean.l0 else { return nil }
        for (low, high) in zip(front, front.dropFirst()) where low.mean.l0 <= l0 && l0 <= high.mean.l0 {
            guard high.mean.l0 > low.mean.l0 else {
                let better = low.mean.fve >= high.mean.fve ? low : high
                return (better.mean.fve, better.fveStandardError)
            }
            let t = (log(l0) - log(low.mean.l0)) / (log(high.mean.l0) - log(low.mean.l0))
            let fve = low.mean.fve + t * (high.mean.fve - low.mean.fve)
            var variance: Double? = 0
            for (weight, point) in [(1 - t, low), (t, high)] where weight > 0 {
                variance = point.fveStandardError.flatMap { se in variance.map { $0 + weight * weight * se * se } }
            }
            return (fve, variance.map { $0.squareRoot() })
        }
        return (first.mean.fve, first.fveStandardError)
    }

    /// At one point of the anchors' best frontier: saepipe's frontier there and the difference.
    public struct Margin: Sendable, Equatable {
        /// The anchor configuration's mean over its seeds.
        public var anchor: Run
        public var anchorSeeds: Int = 1
        public var anchorStandardError: Double?
        /// saepipe's frontier FVE at the anchor's L0 (nil when saepipe's runs do not cover that L0).
        public var saepipeFVE: Double?
        public var saepipeStandardError: Double?
        /// When the anchor's L0 lies outside saepipe's frontier: saepipe's frontier point nearest in L0, to read directly.
        public var nearest: Run?
        public var margin: Double? { saepipeFVE.map { $0 - anchor.fve } }
        /// Standard error of the margin over training seeds; nil unless both sides ran several seeds.
        public var marginStandardError: Double? {
            guard let a = anchorStandardError, let b = saepipeStandardError else { return nil }
            return (a * a + b * b).squareRoot()
        }
    }

    /// Every point of the best frontier over all `anchors` configurations (whatever tool and learning
    /// rate, each the mean over its seeds), against saepipe's best frontier of means, interpolated in log L0.
    public static func margins(ours: [Run], anchors: [Run]) -> [Margin] {
        let front = paretoFront(repeated(ours))
        return paretoFront(repeated(anchors)).map { anchor in
            let here = interpolated(front, at: anchor.mean.l0)
            let nearest = here != nil ? nil : front.min { abs(log($0.mean.l0 / anchor.mean.l0)) < abs(log($1.mean.l0 / anchor.mean.l0)) }
            return Margin(anchor: anchor.mean, anchorSeeds: anchor.seeds, anchorStandardError: anchor.fveStandardError,
                          saepipeFVE: here?.fve, saepipeStandardError: here?.standardError, nearest: nearest?.mean)
        }
    }

    /// The comparison printed after the table: margins at the anchors' frontier, then speed per recipe.
    public static func comparisonText(ours: [Run], anchors: [Run]) -> String {
        var lines = ["saepipe's frontier (all its runs) against the best of the anchors at each of their frontier points,",
                     "saepipe interpolated in log L0:"]
        let header = ["anchor", "level", "lr", "seeds", "L0", "anchor FVE", "saepipe FVE", "margin", "± s.e."]
        let all = margins(ours: ours, anchors: anchors)
        let rows = all.map { m in
            [m.anchor.recipe, m.anchor.levelText, NumberFormat.short(m.anchor.lr), "\(m.anchorSeeds)", String(format: "%.1f", m.anchor.l0),
             String(format: "%.3f", m.anchor.fve),
             m.saepipeFVE.map { String(format: "%.3f", $0) }
                ?? "not covered" + (m.nearest.map { String(format: " (nearest: L0 %.1f, %.3f)", $0.l0, $0.fve) } ?? ""),
             m.margin.map { String(format: "%+.3f", $0) } ?? "", m.marginStandardError.map(spreadText) ?? "—"]
        }
        lines.append(alignedTable(header: header, rows: rows))
        lines.append(all.contains { $0.marginStandardError != nil }
            ? "FVEs are means over training seeds on one split; ± is the margin's standard error over those seeds (— where a side ran one seed)."
            : "No margin has a standard error: each leans on a configuration trained with one seed (saepipe --seeds, bench-anchors.py --seed add seeds).")
        lines.append("")
        // Speed only at a level both sides ran: a k-16 run beside an anchor at k 128 says nothing about either trainer.
        lines.append("training speed at each level both sides ran (the best tokens/s there; runs timed at different moments")
        lines.append("on a shared machine compare only roughly: alternate the two for a figure to quote):")
        let matched = speedsAtMatchedLevels(ours: ours, anchors: anchors)
        if matched.isEmpty {
            lines.append("no level in common: run the anchors at one of saepipe's k (bench-anchors.py --k)")
        } else {
            let speedRows = matched.map { pair in
                [pair.ours.levelText, pair.ours.recipe, String(format: "%.0f", pair.ours.tokensPerSecond), pair.anchor.recipe,
                 String(format: "%.0f", pair.anchor.tokensPerSecond), String(format: "%.2f×", pair.ours.tokensPerSecond / pair.anchor.tokensPerSecond)]
            }
            lines.append(alignedTable(header: ["level", "saepipe", "tok/s", "fastest anchor", "tok/s", "saepipe is"], rows: speedRows))
        }
        return lines.joined(separator: "\n")
    }

    /// At each level (k or λ) that saepipe's runs and the anchors' share, in saepipe's order: the
    /// fastest run of each side there.
    static func speedsAtMatchedLevels(ours: [Run], anchors: [Run]) -> [(ours: Run, anchor: Run)] {
        // The fastest run per level (the first of equals); a level's order is its first appearance among ours.
        func fastest(_ runs: [Run]) -> [String: Run] {
            Dictionary(runs.map { ($0.levelText, $0) }, uniquingKeysWith: { $0.tokensPerSecond >= $1.tokensPerSecond ? $0 : $1 })
        }
        let (mine, theirs) = (fastest(ours), fastest(anchors))
        var levels: [String] = []
        for run in ours where !levels.contains(run.levelText) { levels.append(run.levelText) }
        return levels.compactMap { level in
            guard let anchor = theirs[level], anchor.tokensPerSecond > 0 else { return nil }
            return (mine[level]!, anchor)
        }
    }

    /// saepipe's recipes in their declared order, then any other recipe names in order of first appearance.
    static func recipeOrder(_ runs: [Run]) -> [String] {
        var names = Recipe.allCases.map(\.rawValue).filter { name in runs.contains { $0.recipe == name } }
        for run in runs where !names.contains(run.recipe) { names.append(run.recipe) }
        return names
    }

    /// Left-aligned columns separated by two spaces.
    static func alignedTable(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        return ([header] + rows).map { cells in
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
