import Foundation
import SAEPipeLinalg

/// Buffers for one batch size, reused across steps.
public final class SAEWorkspace {
    public let batch: Int
    public let d: Int
    public let features: Int
    var centered: [Float]
    var pre: [Float]
    var f: [Float]
    var reconstruction: [Float]
    var error: [Float]
    var featureGradient: [Float]
    /// Scratch for top-k selection.
    var row: [Float]

    public init(batch: Int, d: Int, features: Int) {
        self.batch = batch
        self.d = d
        self.features = features
        centered = [Float](repeating: 0, count: batch * d)
        pre = [Float](repeating: 0, count: batch * features)
        f = pre
        reconstruction = centered
        error = centered
        featureGradient = pre
        row = [Float](repeating: 0, count: features)
    }

    /// Feature activations of the last forward pass, [batch, F].
    public var activations: [Float] { f }
}

/// The SAE's forward and backward passes as plain functions on buffers (dense path).
public enum SAEMath {
    /// Forward pass of `rows` rows of `x` (≤ workspace.batch); fills pre, f, x̂ and the error.
    public static func forward(
        _ p: SAEParameters, _ x: UnsafePointer<Float>, rows: Int, activation: SAEActivation, form: SparsityForm,
        workspace w: SAEWorkspace
    ) -> SAEBatchStats {
        let (d, F) = (p.d, p.features)
        w.centered.withUnsafeMutableBufferPointer { xc in
            for r in 0..<rows { for j in 0..<d { xc[r * d + j] = x[r * d + j] - p.bDec[j] } }
        }
        w.pre.withUnsafeMutableBufferPointer { pre in
            for r in 0..<rows { (pre.baseAddress! + r * F).update(from: p.bEnc, count: F) }
            w.centered.withUnsafeBufferPointer { xc in
                p.wEnc.withUnsafeBufferPointer { we in
                    BLAS.sgemm(m: rows, n: F, k: d, a: xc.baseAddress!, b: we.baseAddress!, beta: 1, c: pre.baseAddress!)
                }
            }
        }
        activate(p, rows: rows, activation: activation, workspace: w)
        w.reconstruction.withUnsafeMutableBufferPointer { xh in
            for r in 0..<rows { (xh.baseAddress! + r * d).update(from: p.bDec, count: d) }
            w.f.withUnsafeBufferPointer { f in
                p.wDec.withUnsafeBufferPointer { wd in
                    BLAS.sgemm(m: rows, n: d, k: F, a: f.baseAddress!, b: wd.baseAddress!, beta: 1, c: xh.baseAddress!)
                }
            }
        }
        var stats = SAEBatchStats()
        var means = [Double](repeating: 0, count: d)
        for r in 0..<rows { for j in 0..<d { means[j] += Double(x[r * d + j]) } }
        for j in 0..<d { means[j] /= Double(rows) }
        for r in 0..<rows {
            for j in 0..<d {
                let e = w.reconstruction[r * d + j] - x[r * d + j]
                w.error[r * d + j] = e
                stats.squaredError += Double(e * e)
                let centered = Double(x[r * d + j]) - means[j]
                stats.totalVariance += centered * centered
            }
        }
        let norms = form == .decoderNormWeighted ? p.decoderNorms() : []
        var l0 = 0, l1: Double = 0, penalty: Double = 0
        for r in 0..<rows {
            for i in 0..<F {
                let value = w.f[r * F + i]
                if value != 0 { l0 += 1 }
                l1 += Double(abs(value))
            }
            if case .relu = activation, form == .decoderNormWeighted {
                for i in 0..<F { penalty += Double(w.f[r * F + i] * norms[i]) }
            }
        }
        stats.l0 = Double(l0) / Double(rows)
        stats.l1 = l1 / Double(rows)
        stats.reconstruction = stats.squaredError / Double(rows)
        stats.mse = stats.squaredError / Double(rows * d)
        switch activation {
        case .relu: stats.sparsity = form == .decoderNormWeighted ? penalty / Double(rows) : stats.l1
        case .topK: stats.sparsity = 0
        case .jumpReLU: stats.sparsity = stats.l0
        }
        return stats
    }

    private static func activate(_ p: SAEParameters, rows: Int, activation: SAEActivation, workspace w: SAEWorkspace) {
        let F = p.features
        switch activation {
        case .relu:
            for index in 0..<(rows * F) { w.f[index] = max(w.pre[index], 0) }
        case .jumpReLU:
            let thresholds = p.logThreshold.map { Foundation.exp($0) }
            for r in 0..<rows {
                for i in 0..<F {
                    let value = w.pre[r * F + i]
                    w.f[r * F + i] = value > thresholds[i] ? value : 0
                }
            }
        case .topK(let k):
            for r in 0..<rows {
                let base = r * F
                for i in 0..<F { w.row[i] = w.pre[base + i] }
                let cutoff = kthLargest(&w.row, k)
                // Values above the cutoff, then ties at it in index order, up to k.
                var above = 0
                for i in 0..<F where w.pre[base + i] > cutoff { above += 1 }
                var ties = k - above
                for i in 0..<F {
                    let value = w.pre[base + i]
                    var keep = value > cutoff
                    if !keep, value == cutoff, ties > 0 { keep = true; ties -= 1 }
                    w.f[base + i] = keep ? max(value, 0) : 0
                }
            }
        }
    }

    /// The k-th largest value (quickselect on a scratch copy).
    static func kthLargest(_ values: inout [Float], _ k: Int) -> Float {
        var low = 0, high = values.count - 1
        let target = max(0, min(values.count - 1, k - 1))
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { high = j } else if target >= i { low = i } else { break }
        }
        return values[target]
    }

    /// Loss gradient after `forward` on the same rows: (2/rows)·(x̂ − x) through the decoder,
    /// the activation, and the encoder, plus λ times the sparsity penalty's gradient.
    public static func backward(
        _ p: SAEParameters, _ x: UnsafePointer<Float>, rows: Int, activation: SAEActivation, form: SparsityForm,
        lambda: Float, workspace w: SAEWorkspace, into g: inout SAEGradients
    ) {
        let (d, F) = (p.d, p.features)
        let scale = 2 / Float(rows)
        for index in 0..<(rows * d) { w.error[index] *= scale }  // error now holds ∂L/∂x̂
        // ∂L/∂W_dec = fᵀ · ∂L/∂x̂
        g.wDec.withUnsafeMutableBufferPointer { gd in
            w.f.withUnsafeBufferPointer { f in
                w.error.withUnsafeBufferPointer { e in
                    BLAS.sgemm(.transposed, .none, m: F, n: d, k: rows, a: f.baseAddress!, lda: F, b: e.baseAddress!,
                               c: gd.baseAddress!)
                }
            }
        }
        // ∂L/∂f = ∂L/∂x̂ · W_decᵀ
        w.featureGradient.withUnsafeMutableBufferPointer { df in
            w.error.withUnsafeBufferPointer { e in
                p.wDec.withUnsafeBufferPointer { wd in
                    BLAS.sgemm(.none, .transposed, m: rows, n: F, k: d, a: e.baseAddress!, b: wd.baseAddress!, c: df.baseAddress!)
                }
            }
        }
        let penalty = lambda / Float(rows)
        var featureSums = [Float](repeating: 0, count: F)  // Σ_rows f, for the weighted form's decoder term
        switch activation {
        case .relu:
            let weights = form == .decoderNormWeighted ? p.decoderNorms() : [Float](repeating: 1, count: F)
            for r in 0..<rows {
                for i in 0..<F {
                    let index = r * F + i
                    if w.pre[index] > 0 {
                        w.featureGradient[index] += penalty * weights[i]
                        featureSums[i] += w.f[index]
                    } else {
                        w.featureGradient[index] = 0
                    }
                }
            }
            if form == .decoderNormWeighted {
                for i in 0..<F where weights[i] > 0 && featureSums[i] != 0 {
                    let factor = penalty * featureSums[i] / weights[i]
                    for j in 0..<d { g.wDec[i * d + j] += factor * p.wDec[i * d + j] }
                }
            }
        case .topK:
            for index in 0..<(rows * F) where w.f[index] == 0 { w.featureGradient[index] = 0 }
        case .jumpReLU(let bandwidth):
            let thresholds = p.logThreshold.map { Foundation.exp($0) }
            var thresholdGradient = [Float](repeating: 0, count: F)
            for r in 0..<rows {
                for i in 0..<F {
                    let index = r * F + i
                    let value = w.pre[index], theta = thresholds[i]
                    // Rectangle kernel: the pseudo-derivative of H(z − θ) with respect to θ.
                    if abs(value - theta) < bandwidth / 2 {
                        thresholdGradient[i] += (w.featureGradient[index] * theta + penalty) * (-1 / bandwidth)
                    }
                    if value <= theta { w.featureGradient[index] = 0 }
                }
            }
            for i in 0..<F { g.logThreshold[i] = thresholdGradient[i] * thresholds[i] }
        }
        // featureGradient is now ∂L/∂pre.
        for i in 0..<F { g.bEnc[i] = 0 }
        for r in 0..<rows { for i in 0..<F { g.bEnc[i] += w.featureGradient[r * F + i] } }
        g.wEnc.withUnsafeMutableBufferPointer { ge in
            w.centered.withUnsafeBufferPointer { xc in
                w.featureGradient.withUnsafeBufferPointer { dp in
                    BLAS.sgemm(.transposed, .none, m: d, n: F, k: rows, a: xc.baseAddress!, lda: d, b: dp.baseAddress!,
                               c: ge.baseAddress!)
                }
            }
        }
        // b_dec: + Σ ∂L/∂x̂ from the output, − W_enc · Σ ∂L/∂pre through the centred input.
        for j in 0..<d { g.bDec[j] = 0 }
        for r in 0..<rows { for j in 0..<d { g.bDec[j] += w.error[r * d + j] } }
        g.bEnc.withUnsafeBufferPointer { sums in
            p.wEnc.withUnsafeBufferPointer { we in
                g.bDec.withUnsafeMutableBufferPointer { gb in
                    BLAS.sgemv(rows: d, cols: F, alpha: -1, a: we.baseAddress!, x: sums.baseAddress!, beta: 1, y: gb.baseAddress!)
                }
            }
        }
    }
}
