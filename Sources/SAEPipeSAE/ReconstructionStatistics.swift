import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// Sums over one bootstrap unit (a held-out window) from which every reconstruction metric is
/// computed, so a resample of units gives the metrics again without another encoder pass.
public struct ReconstructionSums: Sendable, Equatable {
    public var rows = 0
    /// Σ‖x − x̂‖²
    public var squaredError: Double = 0
    /// Σ‖x‖²
    public var squares: Double = 0
    /// Σx per dimension (for the variance about the mean of whatever rows are combined).
    public var sum: [Double]
    /// Σ cos(x, x̂)
    public var cosine: Double = 0
    /// Σ ‖x̂‖ / ‖x‖
    public var l2Ratio: Double = 0
    /// Σ‖x̂‖²
    public var reconstructionSquares: Double = 0
    /// Σ x·x̂
    public var dot: Double = 0
    public var l0: Double = 0
    public var l1: Double = 0
    /// Rows on which each feature fired.
    public var fired: [Int32]

    public init(d: Int, features: Int) {
        sum = [Double](repeating: 0, count: d)
        fired = [Int32](repeating: 0, count: features)
    }
}

/// The reconstruction and sparsity metrics of docs/formats.md, as SAEBench's core evaluation
/// defines them, over a weighted combination of units (weights are bootstrap multiplicities).
public struct ReconstructionMetrics: Sendable, Equatable {
    public var rows: Int
    public var mse: Double
    public var fve: Double
    public var l0: Double
    public var l1: Double
    public var cosineSimilarity: Double
    public var l2Ratio: Double
    public var relativeReconstructionBias: Double
    public var deadFraction: Double
    public var denseFraction: Double
    public var fracFiringAbove1Percent: Double
    public var fracFiringAbove10Percent: Double

    /// Metrics on each of many resamples: the per-feature firing totals of all resamples come
    /// from one matrix product (resamples × units by units × features).
    public static func resampled(_ units: [ReconstructionSums], weights: [[Int]], denseThreshold: Double) -> [ReconstructionMetrics] {
        guard let first = units.first, !weights.isEmpty else { return [] }
        let (count, features) = (units.count, first.fired.count)
        var w = [Float](repeating: 0, count: weights.count * count)
        for (r, row) in weights.enumerated() { for (u, value) in row.enumerated() { w[r * count + u] = Float(value) } }
        var fired = [Float](repeating: 0, count: count * features)
        for (u, unit) in units.enumerated() { for i in 0..<features { fired[u * features + i] = Float(unit.fired[i]) } }
        var totals = [Float](repeating: 0, count: weights.count * features)
        w.withUnsafeBufferPointer { a in
            fired.withUnsafeBufferPointer { b in
                totals.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(m: weights.count, n: features, k: count, a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
                }
            }
        }
        return weights.enumerated().map { r, row in
            ReconstructionMetrics(units, weights: row, denseThreshold: denseThreshold,
                                  firedTotals: Array(totals[(r * features)..<((r + 1) * features)]))
        }
    }

    /// Metrics of `units` each counted `weights[i]` times (nil: once each).
    public init(_ units: [ReconstructionSums], weights: [Int]? = nil, denseThreshold: Double) {
        self.init(units, weights: weights, denseThreshold: denseThreshold, firedTotals: nil)
    }

    init(_ units: [ReconstructionSums], weights: [Int]?, denseThreshold: Double, firedTotals: [Float]?) {
        precondition(!units.isEmpty, "no held-out units")
        let (d, features) = (units[0].sum.count, units[0].fired.count)
        var rows = 0.0, squaredError = 0.0, squares = 0.0, cosine = 0.0, l2Ratio = 0.0, xHat2 = 0.0, dot = 0.0, l0 = 0.0, l1 = 0.0
        var sum = [Double](repeating: 0, count: d)
        var fired = [Double](repeating: 0, count: features)
        for (index, unit) in units.enumerated() {
            let w = Double(weights?[index] ?? 1)
            if w == 0 { continue }
            rows += w * Double(unit.rows)
            squaredError += w * unit.squaredError
            squares += w * unit.squares
            cosine += w * unit.cosine
            l2Ratio += w * unit.l2Ratio
            xHat2 += w * unit.reconstructionSquares
            dot += w * unit.dot
            l0 += w * unit.l0
            l1 += w * unit.l1
            for j in 0..<d { sum[j] += w * unit.sum[j] }
            if firedTotals == nil { for i in 0..<features where unit.fired[i] != 0 { fired[i] += w * Double(unit.fired[i]) } }
        }
        if let firedTotals { fired = firedTotals.map(Double.init) }
        let n = max(rows, 1)
        // Σ‖x − x̄‖² = Σ‖x‖² − n‖x̄‖².
        let variance = squares - sum.reduce(0) { $0 + $1 * $1 } / n
        let frequencies = fired.map { $0 / n }
        let share = { (test: (Double) -> Bool) in Double(frequencies.filter(test).count) / Double(max(features, 1)) }
        self.rows = Int(rows)
        mse = squaredError / (n * Double(d))
        fve = variance > 0 ? 1 - squaredError / variance : 0
        self.l0 = l0 / n
        self.l1 = l1 / n
        cosineSimilarity = cosine / n
        self.l2Ratio = l2Ratio / n
        relativeReconstructionBias = dot != 0 ? xHat2 / dot : .nan
        deadFraction = share { $0 == 0 }
        denseFraction = share { $0 > denseThreshold }
        fracFiringAbove1Percent = share { $0 > 0.01 }
        fracFiringAbove10Percent = share { $0 > 0.1 }
    }
}

extension SAEEvaluator {
    /// Per-unit sums of one SAE over held-out units (each a list of rows), and the L0 histogram.
    public static func unitSums(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, units: [[Int]], batchSize: Int = 1024
    ) -> (units: [ReconstructionSums], l0Histogram: [Int]) {
        let (d, features) = (dataset.d, p.features)
        let workspace = SAEWorkspace(batch: batchSize, d: d, features: features)
        var x = [Float](repeating: 0, count: batchSize * d)
        var histogram: [Int] = []
        var result: [ReconstructionSums] = []
        for rows in units {
            var unit = ReconstructionSums(d: d, features: features)
            for start in stride(from: 0, to: rows.count, by: batchSize) {
                let slice = rows[start..<min(start + batchSize, rows.count)]
                x.withUnsafeMutableBufferPointer { dataset.gather(slice, scale: 1, into: $0.baseAddress!) }
                _ = x.withUnsafeBufferPointer {
                    SAEMath.forward(p, $0.baseAddress!, rows: slice.count, activation: activation, form: .unitNormDecoder, workspace: workspace)
                }
                let (f, xHat) = (workspace.f, workspace.reconstruction)
                for r in 0..<slice.count {
                    var xx = 0.0, hh = 0.0, xh = 0.0, error = 0.0
                    for j in 0..<d {
                        let (a, b) = (Double(x[r * d + j]), Double(xHat[r * d + j]))
                        unit.sum[j] += a
                        xx += a * a
                        hh += b * b
                        xh += a * b
                        error += (a - b) * (a - b)
                    }
                    let (normX, normHat) = (xx.squareRoot(), hh.squareRoot())
                    unit.squares += xx
                    unit.reconstructionSquares += hh
                    unit.dot += xh
                    unit.squaredError += error
                    unit.cosine += normX > 0 && normHat > 0 ? xh / (normX * normHat) : 0
                    // SAEBench divides by 1 where ‖x‖ is (nearly) zero.
                    unit.l2Ratio += normHat / (normX < 1e-4 ? 1 : normX)
                    var active = 0
                    for i in 0..<features where f[r * features + i] != 0 {
                        unit.fired[i] += 1
                        unit.l1 += Double(abs(f[r * features + i]))
                        active += 1
                    }
                    unit.l0 += Double(active)
                    if active >= histogram.count { histogram += [Int](repeating: 0, count: active - histogram.count + 1) }
                    histogram[active] += 1
                }
                unit.rows += slice.count
            }
            result.append(unit)
        }
        return (result, histogram)
    }
}

/// Percentile bootstrap over units: seeded resamples with replacement, 95% intervals.
public enum Bootstrap {
    public static let resamples = 1000

    /// Multiplicities of `units` units in each of `count` resamples.
    public static func weights(units: Int, count: Int = resamples, seed: UInt64) -> [[Int]] {
        var generator = SplitMix64(seed: seed ^ 0xB0075)
        return (0..<count).map { _ in
            var weights = [Int](repeating: 0, count: units)
            for _ in 0..<units { weights[Int(generator.next() % UInt64(max(units, 1)))] += 1 }
            return weights
        }
    }

    /// The 2.5th and 97.5th percentiles of the finite values (nil when fewer than half are finite).
    public static func interval(_ values: [Double]) -> [Double]? {
        let finite = values.filter(\.isFinite).sorted()
        guard finite.count * 2 >= values.count, !finite.isEmpty else { return nil }
        let at = { (q: Double) in finite[min(finite.count - 1, max(0, Int((q * Double(finite.count - 1)).rounded())))] }
        return [at(0.025), at(0.975)]
    }
}
