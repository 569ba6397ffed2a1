import Foundation
import SAEPipeCore
import SAEPipeSAE

/// How each latent of a multi-layer SAE spreads over the layers it reads (Lawson et al. 2024):
/// with a_ℓ the latent's summed activation over layer ℓ's held-out rows, p(ℓ) = a_ℓ / Σ a, its
/// mean layer is Σ ℓ p(ℓ) and its layer standard deviation √(Σ ℓ² p(ℓ) − mean²).
public struct LayerDistribution: Sendable, Equatable {
    /// The layer numbers, one per part of the dataset.
    public var layers: [Int]
    /// Summed activation per layer and latent: totals[layer index][latent].
    public var totals: [[Double]]
    /// Rows on which each latent fired, per layer and latent.
    public var counts: [[Int]]

    public init(layers: [Int], totals: [[Double]], counts: [[Int]]) {
        (self.layers, self.totals, self.counts) = (layers, totals, counts)
    }

    public var latents: Int { totals.first?.count ?? 0 }

    /// Sums the SAE's activations over each part's held-out rows (the dataset's parts are `layers`, in order).
    public static func measure(_ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, layers: [Int],
                               batchSize: Int = 1024) -> LayerDistribution {
        var totals = [[Double]](repeating: [Double](repeating: 0, count: p.features), count: layers.count)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: p.features), count: layers.count)
        let workspace = SAEWorkspace(batch: batchSize, d: dataset.d, features: p.features)
        var x = [Float](repeating: 0, count: batchSize * dataset.d)
        for part in layers.indices {
            let rows = dataset.validationUnits(part: part).flatMap { $0 }
            for start in stride(from: 0, to: rows.count, by: batchSize) {
                let batch = rows[start..<min(start + batchSize, rows.count)]
                x.withUnsafeMutableBufferPointer { dataset.gather(batch, scale: 1, into: $0.baseAddress!) }
                _ = x.withUnsafeBufferPointer {
                    SAEMath.forward(p, $0.baseAddress!, rows: batch.count, activation: activation, form: .unitNormDecoder,
                                    workspace: workspace, mode: .sparse)
                }
                let sparse = workspace.sparseEntries
                for row in 0..<batch.count {
                    for entry in sparse.rowRange(row) where sparse.value(entry) > 0 {
                        totals[part][sparse.feature(entry)] += Double(sparse.value(entry))
                        counts[part][sparse.feature(entry)] += 1
                    }
                }
            }
        }
        return LayerDistribution(layers: layers, totals: totals, counts: counts)
    }

    /// p(ℓ) for one latent, or nil when it never fired.
    public func shares(_ latent: Int) -> [Double]? {
        let total = totals.reduce(0) { $0 + $1[latent] }
        guard total > 0 else { return nil }
        return totals.map { $0[latent] / total }
    }

    /// The latent's mean layer and layer standard deviation, or nil when it never fired.
    public func moments(_ latent: Int) -> (mean: Double, std: Double)? {
        guard let shares = shares(latent) else { return nil }
        let mean = zip(layers, shares).reduce(0) { $0 + Double($1.0) * $1.1 }
        let square = zip(layers, shares).reduce(0) { $0 + Double($1.0 * $1.0) * $1.1 }
        return (mean, max(0, square - mean * mean).squareRoot())
    }

    /// Live latents ordered by mean layer (ties by index): the rows of the latents × layers heatmap.
    public func orderByMeanLayer() -> [Int] {
        let live = (0..<latents).compactMap { latent in moments(latent).map { (latent, $0.mean) } }
        return live.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }
}
