import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeSAE

/// Per-feature statistics of one SAE over one activation set, from a single batched
/// encoder pass: frequency, mean and max, the top activating rows, and a seeded reservoir
/// sample of firing rows (for lower-quantile examples and the tokens a feature fires on).
public struct FeatureStatistics: Sendable {
    public struct Example: Sendable, Equatable {
        public var activation: Float
        /// The activation row (index into acts.mmap / positions.mmap).
        public var row: Int
    }

    public let features: Int
    public let rows: Int
    public var counts: [Int]
    public var sums: [Double]
    public var maxima: [Float]
    /// Highest activations first.
    public var top: [[Example]]
    /// Up to `reservoirSize` firing rows per feature, uniformly sampled.
    public var reservoir: [[Example]]

    /// Share of tokens on which each feature fires (filled in at the end of `compute`).
    public var frequencies: [Double] = []
    /// Mean over every token (zeros included).
    public var means: [Double] = []

    public static func compute(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, topK: Int, reservoirSize: Int, seed: UInt64,
        batchSize: Int = 4096, progress: SAEPipeCore.Progress? = nil
    ) -> FeatureStatistics {
        let F = p.features, n = dataset.rows
        var stats = FeatureStatistics(
            features: F, rows: n, counts: [Int](repeating: 0, count: F), sums: [Double](repeating: 0, count: F),
            maxima: [Float](repeating: 0, count: F), top: [[Example]](repeating: [], count: F),
            reservoir: [[Example]](repeating: [], count: F))
        var generator = SplitMix64(seed: seed ^ 0x1A7E)
        var floors = [Float](repeating: 0, count: F)  // smallest value in a full top list
        encodeInBatches(p, activation: activation, dataset: dataset, batchSize: batchSize, progress: progress) { start, count, sparse in
            for r in 0..<count {
                let row = start + r
                for k in sparse.rowRange(r) {
                    let i = sparse.feature(k), value = sparse.value(k)
                    stats.counts[i] += 1
                    stats.sums[i] += Double(value)
                    if value > stats.maxima[i] { stats.maxima[i] = value }
                    if stats.top[i].count < topK || value > floors[i] {
                        stats.top[i].append(Example(activation: value, row: row))
                        if stats.top[i].count > topK {
                            stats.top[i].sort { ($0.activation, $1.row) > ($1.activation, $0.row) }
                            stats.top[i].removeLast(stats.top[i].count - topK)
                        }
                        if stats.top[i].count == topK { floors[i] = stats.top[i].map(\.activation).min()! }
                    }
                    // Reservoir sampling (Algorithm R) over this feature's firing rows.
                    if stats.reservoir[i].count < reservoirSize {
                        stats.reservoir[i].append(Example(activation: value, row: row))
                    } else {
                        let slot = Int(generator.next() % UInt64(stats.counts[i]))
                        if slot < reservoirSize { stats.reservoir[i][slot] = Example(activation: value, row: row) }
                    }
                }
            }
        }
        for i in 0..<F { stats.top[i].sort { ($0.activation, $1.row) > ($1.activation, $0.row) } }
        stats.frequencies = stats.counts.map { Double($0) / Double(max(n, 1)) }
        stats.means = stats.sums.map { $0 / Double(max(n, 1)) }
        return stats
    }

    /// The SAE's sparse codes for every row of the dataset, a batch at a time: `body(start, count, codes)`.
    static func encodeInBatches(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, batchSize: Int, progress: SAEPipeCore.Progress?,
        _ body: (_ start: Int, _ count: Int, _ sparse: SparseRowsView) -> Void
    ) {
        let (n, d) = (dataset.rows, dataset.d)
        let workspace = SAEWorkspace(batch: batchSize, d: d, features: p.features)
        var x = [Float](repeating: 0, count: batchSize * d)
        for start in stride(from: 0, to: n, by: batchSize) {
            let count = min(batchSize, n - start)
            defer { progress?.advance(by: count) }
            x.withUnsafeMutableBufferPointer { dataset.gather((start..<(start + count)).map { $0 }[...], scale: 1, into: $0.baseAddress!) }
            _ = x.withUnsafeBufferPointer {
                SAEMath.forward(p, $0.baseAddress!, rows: count, activation: activation, form: .unitNormDecoder, workspace: workspace, mode: .sparse)
            }
            body(start, count, workspace.sparseEntries)
        }
    }
}
