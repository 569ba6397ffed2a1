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

    /// The runs no other run in `runs` beats on both L0 (lower) and FVE (higher), by increasing L0.
    public static func paretoFront(_ runs: [Run]) -> [Run] {
        runs.filter { run in !runs.contains { dominates($0, run) } }.sorted { ($0.l0, -$0.fve) < ($1.l0, -$1.fve) }
    }

    /// The FVE of a frontier at `l0`, linear in log L0 between its points; nil outside the L0 range it covers.
    public static func interpolatedFVE(_ front: [Run], at l0: Double) -> Double? {
        guard let first = front.first, let last = front.last, l0 > 0, first.l0 <= l0, l0 <= last.l0 else { return nil }
        for (low, high) in zip(front, front.dropFirst()) where low.l0 <= l0 && l0 <= high.l0 {
            guard high.l0 > low.l0 else { return max(low.fve, high.fve) }
            let t = (log(l0) - log(low.l0)) / (log(high.l0) - log(low.l0))
            return low.fve + t * (high.fve - low.fve)
        }
        return first.fve
    }

    /// At one point of the anchors' best frontier: saepipe's frontier there and the difference.
    public struct Margin: Sendable, Equatable {
        public var anchor: Run
        /// saepipe's frontier FVE at the anchor's L0 (nil when saepipe's runs do not cover that L0).
        public var saepipeFVE: Double?
        public var margin: Double? { saepipeFVE.map { $0 - anchor.fve } }
    }

    /// Every point of the best frontier over all `anchors` runs (whatever tool and learning rate),
    /// against saepipe's best frontier over all of `ours`, interpolated in log L0.
    public static func margins(ours: [Run], anchors: [Run]) -> [Margin] {
        let front = paretoFront(ours)
        return paretoFront(anchors).map { Margin(anchor: $0, saepipeFVE: interpolatedFVE(front, at: $0.l0)) }
    }

    /// The comparison printed after the table: margins at the anchors' frontier, then speed per recipe.
    public static func comparisonText(ours: [Run], anchors: [Run]) -> String {
        var lines = ["saepipe's frontier (all its runs) against the best of the anchors at each of their frontier points,",
                     "saepipe interpolated in log L0:"]
        let header = ["anchor", "level", "lr", "L0", "anchor FVE", "saepipe FVE", "margin"]
        let rows = margins(ours: ours, anchors: anchors).map { m in
            [m.anchor.recipe, m.anchor.levelText, NumberFormat.short(m.anchor.lr), String(format: "%.1f", m.anchor.l0),
             String(format: "%.3f", m.anchor.fve), m.saepipeFVE.map { String(format: "%.3f", $0) } ?? "not covered",
             m.margin.map { String(format: "%+.3f", $0) } ?? ""]
        }
        lines.append(alignedTable(header: header, rows: rows))
        lines.append("")
        lines.append("training speed, best tokens/s of each recipe's runs:")
        let speedRows = (bestSpeeds(ours) + bestSpeeds(anchors)).map { [$0.recipe, String(format: "%.0f", $0.tokensPerSecond)] }
        lines.append(alignedTable(header: ["recipe", "tok/s"], rows: speedRows))
        if let fastestAnchor = bestSpeeds(anchors).max(by: { $0.tokensPerSecond < $1.tokensPerSecond }), fastestAnchor.tokensPerSecond > 0 {
            for run in bestSpeeds(ours) {
                lines.append(String(format: "%@ trains %.2f× as fast as the fastest anchor (%@)", run.recipe,
                                    run.tokensPerSecond / fastestAnchor.tokensPerSecond, fastestAnchor.recipe))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Per recipe, its fastest run, in order of first appearance.
    static func bestSpeeds(_ runs: [Run]) -> [Run] {
        recipeOrder(runs).compactMap { name in runs.filter { $0.recipe == name }.max { $0.tokensPerSecond < $1.tokensPerSecond } }
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
