import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// AuxK (Gao et al. 2024, appendix B.1), in SAELens' form: the dead features' k_aux largest
/// pre-activations per token reconstruct the live features' residual, so dead features get a
/// gradient toward what the SAE still misses.
///
///     L_aux = c · min(dead / k_aux, 1) · mean_rows ‖Σ_{i ∈ top k_aux dead} pre_i W_dec,i − (x − x̂)‖²
///
/// with k_aux = min(d / 2, dead), the residual treated as a constant and no decoder bias.
public enum AuxiliaryLoss {
    /// Gao et al.'s k_aux: half the input dimension.
    public static func kAux(d: Int) -> Int { max(1, d / 2) }

    /// Adds c·∂L_aux/∂θ to `g` (when `g` is given) and returns L_aux, using the pre-activations
    /// and centred inputs of the last `forward` pass of `p` over `rows` rows in `w`.
    /// `residual` is x − x̂ for those rows, [rows, d].
    @discardableResult
    public static func add(
        _ p: SAEParameters, rows: Int, residual: UnsafePointer<Float>, dead: [Bool], coefficient: Float,
        workspace w: SAEWorkspace, into g: UnsafeMutablePointer<SAEGradients>?
    ) -> Double {
        let (d, F) = (p.d, p.features)
        let deadFeatures = (0..<F).filter { dead[$0] }
        guard coefficient > 0, !deadFeatures.isEmpty, rows > 0 else { return 0 }
        let half = kAux(d: d)
        let scale = min(Float(deadFeatures.count) / Float(half), 1)
        let k = min(half, deadFeatures.count)
        if k == deadFeatures.count {
            return addEveryDead(p, rows: rows, residual: residual, deadFeatures: deadFeatures,
                                coefficient: coefficient * scale, workspace: w, into: g)
        }

        // The selected (row, dead feature) pairs, k per row in increasing feature order, as columns
        // of the dead features alone (column c is feature deadFeatures[c]).
        let n = deadFeatures.count
        var selected = [Int32](repeating: 0, count: rows * k)
        var values = [Float](repeating: 0, count: rows * k)
        let pre = UnsafePointer(w.pre)
        selected.withUnsafeMutableBufferPointer { selected in
            values.withUnsafeMutableBufferPointer { values in
                let (selected, values) = (selected.baseAddress!, values.baseAddress!)
                Parallel.chunks(rows, minimumChunk: 16) { range in
                    var scratch = [Float](repeating: 0, count: n)
                    for r in range {
                        for (column, i) in deadFeatures.enumerated() { scratch[column] = pre[r * F + i] }
                        let cutoff = SAEMath.kthLargest(&scratch, k)
                        var above = 0
                        for i in deadFeatures where pre[r * F + i] > cutoff { above += 1 }
                        var ties = k - above, next = r * k
                        for (column, i) in deadFeatures.enumerated() {
                            let value = pre[r * F + i]
                            var keep = value > cutoff
                            if !keep, value == cutoff, ties > 0 { keep = true; ties -= 1 }
                            if keep { selected[next] = Int32(column); values[next] = value; next += 1 }
                        }
                    }
                }
            }
        }
        // The selection is a sparse code over the dead features' decoder rows D [n, d]: the main
        // sparse path's gathers and scatters give ê, ∂pre and both weight gradients.
        let entries = SparseActivations()
        entries.set(rowStart: (0...rows).map { Int64($0 * k) }, cols: selected, vals: values, features: n)
        let decoder = decoderRows(p, of: deadFeatures)

        // ê_r − residual_r, then the loss and its gradient with respect to ê_r.
        var difference = (0..<(rows * d)).map { -residual[$0] }
        decoder.withUnsafeBufferPointer { entries.decode($0.baseAddress!, rows: rows, d: d, into: &difference) }
        var total: Double = 0
        for value in difference { total += Double(value * value) }
        let loss = Double(coefficient * scale) * total / Double(rows)
        guard let g else { return loss }

        // ∂D_c = Σ_r pre_rc ∂ê_r; ∂pre_rc = ∂ê_r · D_c, then through the encoder: Σ_r ∂pre_rc x_c,r.
        let outputScale = coefficient * scale * 2 / Float(rows)
        for index in difference.indices { difference[index] *= outputScale }
        decoder.withUnsafeBufferPointer { entries.rowDots(difference, $0.baseAddress!, rows: rows, d: d) }
        var decoderGradient = [Float](repeating: 0, count: n * d), encoderGradient = [Float](repeating: 0, count: n * d)
        var valueSums = [Float](repeating: 0, count: n), preGradientSums = [Float](repeating: 0, count: n)
        entries.accumulateByFeature(values, difference, features: n, d: d, into: &decoderGradient, sums: &valueSums)
        entries.accumulateByFeature(entries.dots, w.centered, features: n, d: d, into: &encoderGradient, sums: &preGradientSums)
        withEncoderGradient(g, workspace: w) { gEnc, featureStride, dimensionStride in
            for (column, i) in deadFeatures.enumerated() where entries.fired(column) {
                for j in 0..<d {
                    g.pointee.wDec[i * d + j] += decoderGradient[column * d + j]
                    gEnc[i * featureStride + j * dimensionStride] += encoderGradient[column * d + j]
                }
            }
        }
        // b_enc gets Σ ∂pre; b_dec gets −W_enc · Σ ∂pre through the centred input.
        for (column, i) in deadFeatures.enumerated() where preGradientSums[column] != 0 {
            g.pointee.bEnc[i] += preGradientSums[column]
            for j in 0..<d { g.pointee.bDec[j] -= p.wEnc[j * F + i] * preGradientSums[column] }
        }
        return loss
    }

    /// The same loss when every dead feature is selected for every row (no more dead features than
    /// k_aux, the usual case once training has settled): dense products over the dead features' columns.
    static func addEveryDead(
        _ p: SAEParameters, rows: Int, residual: UnsafePointer<Float>, deadFeatures: [Int], coefficient: Float,
        workspace w: SAEWorkspace, into g: UnsafeMutablePointer<SAEGradients>?
    ) -> Double {
        let (d, F, n) = (p.d, p.features, deadFeatures.count)
        // A = pre[:, dead] [rows, n]; D = W_dec[dead] [n, d].
        var a = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows { for (column, i) in deadFeatures.enumerated() { a[r * n + column] = w.pre[r * F + i] } }
        let decoder = decoderRows(p, of: deadFeatures)
        // difference = A·D − residual.
        var difference = Array(UnsafeBufferPointer(start: residual, count: rows * d))
        BLAS.sgemm(m: rows, n: d, k: n, a: a, b: decoder, beta: -1, c: &difference)
        var total: Double = 0
        for value in difference { total += Double(value * value) }
        let loss = Double(coefficient) * total / Double(rows)
        guard let g else { return loss }

        // ∂ê = (2c/rows)·difference; ∂D = Aᵀ·∂ê; ∂A = ∂ê·Dᵀ; ∂W_enc[:, dead] = x_cᵀ·∂A.
        let outputScale = coefficient * 2 / Float(rows)
        var decoderGradient = [Float](repeating: 0, count: n * d)
        BLAS.sgemm(.transposed, .none, m: n, n: d, k: rows, alpha: outputScale, a: a, lda: n, b: difference, c: &decoderGradient)
        var preGradient = [Float](repeating: 0, count: rows * n)
        BLAS.sgemm(.none, .transposed, m: rows, n: n, k: d, alpha: outputScale, a: difference, b: decoder, ldb: d, c: &preGradient)
        var encoderGradient = [Float](repeating: 0, count: d * n)
        BLAS.sgemm(.transposed, .none, m: d, n: n, k: rows, a: UnsafePointer(w.centered), lda: d, b: preGradient, c: &encoderGradient)
        var sums = [Float](repeating: 0, count: n)
        for r in 0..<rows { for column in 0..<n { sums[column] += preGradient[r * n + column] } }
        withEncoderGradient(g, workspace: w) { gEnc, featureStride, dimensionStride in
            for (column, i) in deadFeatures.enumerated() {
                for j in 0..<d { gEnc[i * featureStride + j * dimensionStride] += encoderGradient[j * n + column] }
            }
        }
        for (column, i) in deadFeatures.enumerated() {
            for j in 0..<d {
                g.pointee.wDec[i * d + j] += decoderGradient[column * d + j]
                g.pointee.bDec[j] -= p.wEnc[j * F + i] * sums[column]
            }
            g.pointee.bEnc[i] += sums[column]
        }
        return loss
    }

    /// The decoder rows of `features`, in that order, [features.count, d].
    static func decoderRows(_ p: SAEParameters, of features: [Int]) -> [Float] {
        var rows = [Float](repeating: 0, count: features.count * p.d)
        for (row, i) in features.enumerated() { for j in 0..<p.d { rows[row * p.d + j] = p.wDec[i * p.d + j] } }
        return rows
    }

    /// Where the backward pass left ∂L/∂W_enc (`SAEWorkspace.encoderGradientTransposed`): element
    /// (j, i) is at i·featureStride + j·dimensionStride.
    static func withEncoderGradient<R>(
        _ g: UnsafeMutablePointer<SAEGradients>, workspace w: SAEWorkspace,
        _ body: (_ gradient: UnsafeMutablePointer<Float>, _ featureStride: Int, _ dimensionStride: Int) -> R
    ) -> R {
        if w.encoderGradientTransposed { return body(w.transposedGradient, w.d, 1) }
        return g.pointee.wEnc.withUnsafeMutableBufferPointer { body($0.baseAddress!, 1, w.features) }
    }
}
