import CKernels
import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// Whether the decoder and the gradients run dense (GEMMs over every feature) or sparse
/// (only the active features: gathers and scatters), chosen per batch from its density.
public enum ComputeMode: Sendable, Equatable {
    case dense
    case sparse
    /// Sparse when the share of active (row, feature) pairs is below this.
    case automatic(maximumDensity: Double)

    /// Measured with `saepipe bench train` on this machine: sparse wins below ~8% density.
    public static let standard = ComputeMode.automatic(maximumDensity: 0.08)

    /// Whether a batch with this share of active (row, feature) pairs runs sparse.
    func selectsSparse(density: Double) -> Bool {
        switch self {
        case .dense: false
        case .sparse: true
        case .automatic(let maximum): density < maximum
        }
    }
}

/// A batch's active features by row (CSR) and by feature (CSC), rebuilt every forward pass.
final class SparseActivations: @unchecked Sendable {
    var rowStart: [Int64] = []
    var cols: [Int32] = []
    var vals: [Float] = []
    var featureStart: [Int64] = []
    /// For each position in feature order: the entry index k and its row.
    var entries: [Int64] = []
    var entryRows: [Int32] = []
    /// ∂L/∂pre at each entry.
    var dots: [Float] = []
    var count: Int { cols.count }

    /// Whether feature i is active in some row.
    func fired(_ feature: Int) -> Bool { featureStart[feature + 1] > featureStart[feature] }

    /// Collects the nonzeros of f [rows, F].
    func build(_ f: UnsafePointer<Float>, rows: Int, features: Int) {
        rowStart = [Int64](repeating: 0, count: rows + 1)
        rowStart.withUnsafeMutableBufferPointer { start in
            let counts = start.baseAddress! + 1
            Parallel.chunks(rows, minimumChunk: max(1, (1 << 15) / features)) { range in
                saepipe_count_nonzeros(f, features, range.lowerBound, range.upperBound, counts)
            }
        }
        for r in 0..<rows { rowStart[r + 1] += rowStart[r] }
        collectRows(rows: rows, features: features) { start, cols, vals, range in
            saepipe_collect_nonzeros(f, features, range.lowerBound, range.upperBound, start, cols, vals)
        }
    }

    /// Collects the entries of pre [rows, F] above `cutoff`, and the first `ties` entries equal to it
    /// in index order: BatchTopK's codes straight from the pre-activations, without the dense f.
    func build(above cutoff: Float, ties: Int, _ pre: UnsafePointer<Float>, rows: Int, features: Int) {
        var above = [Int64](repeating: 0, count: rows), equal = [Int64](repeating: 0, count: rows)
        above.withUnsafeMutableBufferPointer { above in
            equal.withUnsafeMutableBufferPointer { equal in
                nonisolated(unsafe) let (above, equal) = (above.baseAddress!, equal.baseAddress!)
                Parallel.chunks(rows, minimumChunk: max(1, (1 << 15) / features)) { range in
                    saepipe_count_above(pre, features, range.lowerBound, range.upperBound, cutoff, above, equal)
                }
            }
        }
        // The kept ties end at the ties-th value equal to the cutoff in index order.
        var lastTie = -1, tiesLeft = ties
        rowStart = [Int64](repeating: 0, count: rows + 1)
        for r in 0..<rows {
            var kept = 0
            if tiesLeft > 0, equal[r] > 0 {
                kept = min(tiesLeft, Int(equal[r]))
                tiesLeft -= kept
                if tiesLeft == 0 {
                    var seen = 0
                    for c in 0..<features where pre[r * features + c] == cutoff {
                        seen += 1
                        if seen == kept { lastTie = r * features + c; break }
                    }
                }
            }
            rowStart[r + 1] = rowStart[r] + above[r] + Int64(kept)
        }
        if tiesLeft > 0 { lastTie = rows * features }  // fewer ties than asked for: every one is kept
        collectRows(rows: rows, features: features) { [lastTie] start, cols, vals, range in
            saepipe_collect_above(pre, features, range.lowerBound, range.upperBound, cutoff, lastTie, start, cols, vals)
        }
    }

    /// With `rowStart` counted: sizes the entries, lets `collect` fill each core's rows, and indexes them by feature.
    private func collectRows(
        rows: Int, features: Int,
        _ collect: (UnsafePointer<Int64>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Float>, Range<Int>) -> Void
    ) {
        let nnz = Int(rowStart[rows])
        cols = [Int32](repeating: 0, count: nnz)
        vals = [Float](repeating: 0, count: nnz)
        rowStart.withUnsafeBufferPointer { start in
            cols.withUnsafeMutableBufferPointer { cols in
                vals.withUnsafeMutableBufferPointer { vals in
                    let (start, cols, vals) = (start.baseAddress!, cols.baseAddress!, vals.baseAddress!)
                    Parallel.chunks(rows, minimumChunk: max(1, (1 << 15) / features)) { range in collect(start, cols, vals, range) }
                }
            }
        }
        indexByFeature(rows: rows, features: features)
    }

    /// Takes given entries by row (`rowStart`, `cols`, `vals`, as `build` collects them) instead
    /// of collecting them from a dense matrix.
    func set(rowStart: [Int64], cols: [Int32], vals: [Float], features: Int) {
        (self.rowStart, self.cols, self.vals) = (rowStart, cols, vals)
        indexByFeature(rows: rowStart.count - 1, features: features)
    }

    /// By feature: a counting sort of the entries (rows stay in increasing order); clears `dots`.
    private func indexByFeature(rows: Int, features: Int) {
        let nnz = cols.count
        featureStart = [Int64](repeating: 0, count: features + 1)
        var next = [Int64](repeating: 0, count: features)
        entries = [Int64](repeating: 0, count: nnz)
        entryRows = [Int32](repeating: 0, count: nnz)
        cols.withUnsafeBufferPointer { cols in
            rowStart.withUnsafeBufferPointer { rowStart in
                featureStart.withUnsafeMutableBufferPointer { featureStart in
                    next.withUnsafeMutableBufferPointer { next in
                        entries.withUnsafeMutableBufferPointer { entries in
                            entryRows.withUnsafeMutableBufferPointer { entryRows in
                                for column in cols { featureStart[Int(column) + 1] += 1 }
                                for i in 0..<features { featureStart[i + 1] += featureStart[i] }
                                for i in 0..<features { next[i] = featureStart[i] }
                                for r in 0..<rows {
                                    for k in Int(rowStart[r])..<Int(rowStart[r + 1]) {
                                        let column = Int(cols[k])
                                        let position = Int(next[column])
                                        entries[position] = Int64(k)
                                        entryRows[position] = Int32(r)
                                        next[column] += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        dots = [Float](repeating: 0, count: nnz)
    }

    /// out[r, :] += Σ_k vals[k] · w[cols[k], :] (the decoder on active features only).
    func decode(_ w: UnsafePointer<Float>, rows: Int, d: Int, into out: UnsafeMutablePointer<Float>) {
        // By feature, the cores splitting the rows: each row of w is read once per core instead of
        // once per entry (w is 10 MB at the quickstart's shape; a core's rows of out stay in cache).
        byFeature(rows: rows) { start, entries, entryRows, features, range in
            vals.withUnsafeBufferPointer { vals in
                saepipe_sparse_features_decode(start, entries, entryRows, vals.baseAddress!, features, range.lowerBound,
                                               range.upperBound, w, d, out)
            }
        }
    }

    /// dots[k] = a[row(k), :] · w[cols[k], :]
    func rowDots(_ a: UnsafePointer<Float>, _ w: UnsafePointer<Float>, rows: Int, d: Int) {
        dots.withUnsafeMutableBufferPointer { dots in
            nonisolated(unsafe) let dots = dots.baseAddress!
            byFeature(rows: rows) { start, entries, entryRows, features, range in
                saepipe_sparse_features_row_dots(start, entries, entryRows, features, range.lowerBound, range.upperBound,
                                                 a, w, d, dots)
            }
        }
    }

    /// Runs `body` on the by-feature index with the rows split over the cores.
    private func byFeature(
        rows: Int,
        _ body: (UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int32>, Int, Range<Int>) -> Void
    ) {
        featureStart.withUnsafeBufferPointer { start in
            entries.withUnsafeBufferPointer { entries in
                entryRows.withUnsafeBufferPointer { entryRows in
                    let (start, entries, entryRows) = (start.baseAddress!, entries.baseAddress!, entryRows.baseAddress!)
                    let features = max(0, featureStart.count - 1)
                    Parallel.chunks(rows, minimumChunk: 64) { range in body(start, entries, entryRows, features, range) }
                }
            }
        }
    }

    /// out[i, :] = Σ_{k in feature i} weights[k] · m[row(k), :] for every feature; sums[i] = Σ weights[k].
    func accumulateByFeature(
        _ weights: UnsafePointer<Float>, _ m: UnsafePointer<Float>, features: Int, d: Int, into out: UnsafeMutablePointer<Float>,
        sums: UnsafeMutablePointer<Float>
    ) {
        featureStart.withUnsafeBufferPointer { start in
            entries.withUnsafeBufferPointer { entries in
                entryRows.withUnsafeBufferPointer { rows in
                    let (start, entries, rows) = (start.baseAddress!, entries.baseAddress!, rows.baseAddress!)
                    Parallel.chunks(features, minimumChunk: 64) { range in
                        saepipe_sparse_features_accumulate(start, entries, rows, weights, range.lowerBound, range.upperBound,
                                                           m, d, out, sums)
                    }
                }
            }
        }
    }
}

/// The active features of a forward pass, by row (read-only).
public struct SparseRowsView: Sendable {
    let rowStart: [Int64]
    let cols: [Int32]
    let vals: [Float]

    public func rowRange(_ row: Int) -> Range<Int> { Int(rowStart[row])..<Int(rowStart[row + 1]) }
    public func feature(_ entry: Int) -> Int { Int(cols[entry]) }
    public func value(_ entry: Int) -> Float { vals[entry] }
}

extension SAEWorkspace {
    /// The last forward pass's active features (built when it ran with a sparse-capable mode).
    public var sparseEntries: SparseRowsView { SparseRowsView(rowStart: sparse.rowStart, cols: sparse.cols, vals: sparse.vals) }
}

extension SAEMath {
    /// The backward pass on the active features only (ReLU and TopK): the same gradients as
    /// `backward`, with the decoder and weight gradients as gathers and scatters.
    static func backwardSparse(
        _ p: SAEParameters, rows: Int, activation: SAEActivation, form: SparsityForm, lambda: Float,
        workspace w: SAEWorkspace, into g: inout SAEGradients, leaveEncoderGradientTransposed: Bool
    ) {
        let (d, F) = (p.d, p.features)
        let sparse = w.sparse
        let (e, xc) = (w.error, w.centered)
        BLAS.sscal(count: rows * d, alpha: 2 / Float(rows), x: e)  // e now holds ∂L/∂x̂
        p.wDec.withUnsafeBufferPointer { sparse.rowDots(e, $0.baseAddress!, rows: rows, d: d) }  // ∂L/∂f at active entries
        let penalty = lambda / Float(rows)
        let weights = form == .decoderNormWeighted ? p.decoderNorms() : [Float](repeating: 1, count: F)
        if case .relu = activation {
            for k in 0..<sparse.count { sparse.dots[k] += penalty * weights[Int(sparse.cols[k])] }
        }
        var featureSums = [Float](repeating: 0, count: F)
        sparse.vals.withUnsafeBufferPointer { vals in
            g.wDec.withUnsafeMutableBufferPointer { gd in
                featureSums.withUnsafeMutableBufferPointer { sums in
                    sparse.accumulateByFeature(vals.baseAddress!, e, features: F, d: d, into: gd.baseAddress!, sums: sums.baseAddress!)
                }
            }
        }
        if case .relu = activation, form == .decoderNormWeighted {
            for i in 0..<F where weights[i] > 0 && featureSums[i] != 0 {
                let factor = penalty * featureSums[i] / weights[i]
                for j in 0..<d { g.wDec[i * d + j] += factor * p.wDec[i * d + j] }
            }
        }
        // ∂L/∂W_enc, built transposed ([F, d], one contiguous row per feature) and flipped into [d, F].
        sparse.dots.withUnsafeBufferPointer { dots in
            g.bEnc.withUnsafeMutableBufferPointer { gb in
                sparse.accumulateByFeature(dots.baseAddress!, xc, features: F, d: d, into: w.transposedGradient, sums: gb.baseAddress!)
            }
        }
        if leaveEncoderGradientTransposed {
            w.encoderGradientTransposed = true
        } else {
            let transposed = UnsafePointer(w.transposedGradient)
            g.wEnc.withUnsafeMutableBufferPointer { ge in
                let out = ge.baseAddress!
                Parallel.chunks(F, minimumChunk: 64) { range in
                    saepipe_transpose(transposed, F, d, range.lowerBound, range.upperBound, out)
                }
            }
        }
        g.bDec.withUnsafeMutableBufferPointer { gb in
            columnSums(e, rows: rows, columns: d, into: gb.baseAddress!)
            g.bEnc.withUnsafeBufferPointer { sums in
                p.wEnc.withUnsafeBufferPointer { we in
                    BLAS.sgemv(rows: d, cols: F, alpha: -1, a: we.baseAddress!, x: sums.baseAddress!, beta: 1, y: gb.baseAddress!)
                }
            }
        }
    }
}
