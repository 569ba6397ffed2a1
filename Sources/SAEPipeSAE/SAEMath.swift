import CKernels
import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// Buffers for one batch size, reused across steps (raw pointers: the hot loops index
/// them millions of times per step, with no exclusivity checks or copies).
public final class SAEWorkspace: @unchecked Sendable {
    public let batch: Int
    public let d: Int
    public let features: Int
    let centered: UnsafeMutablePointer<Float>
    let pre: UnsafeMutablePointer<Float>
    /// The codes, dense; not written by a forward pass that selected BatchTopK sparse (see `forward`).
    let f: UnsafeMutablePointer<Float>
    let reconstruction: UnsafeMutablePointer<Float>
    let error: UnsafeMutablePointer<Float>
    let featureGradient: UnsafeMutablePointer<Float>
    /// ∂L/∂W_enc as [F, d] on the sparse path.
    let transposedGradient: UnsafeMutablePointer<Float>
    /// After a backward pass asked to leave ∂L/∂W_enc transposed: true when it did (the sparse
    /// path), so the gradient is in `transposedGradient` and the gradients' `wEnc` was not written.
    public internal(set) var encoderGradientTransposed = false
    /// Scratch for top-k selection, one row per core.
    var row: [Float]
    /// The active features of the last forward pass, when it ran sparse.
    let sparse = SparseActivations()
    public internal(set) var usedSparse = false

    public init(batch: Int, d: Int, features: Int) {
        self.batch = batch
        self.d = d
        self.features = features
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        centered = buffer(batch * d)
        pre = buffer(batch * features)
        f = buffer(batch * features)
        reconstruction = buffer(batch * d)
        error = buffer(batch * d)
        featureGradient = buffer(batch * features)
        transposedGradient = buffer(features * d)
        row = [Float](repeating: 0, count: features)
    }

    deinit {
        for pointer in [centered, pre, f, reconstruction, error, featureGradient, transposedGradient] { pointer.deallocate() }
    }

    /// Feature activations of the last forward pass, [rows, F].
    public var activations: [Float] { Array(UnsafeBufferPointer(start: f, count: batch * features)) }
    /// x̂ − x of the last forward pass (before backward scales it), [rows, d].
    public func errors(rows: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: error, count: rows * d) }
}

/// The SAE's forward and backward passes as plain functions on buffers (dense path; the
/// sparse path is in SparsePath.swift).
public enum SAEMath {
    /// Forward pass of `rows` rows of `x` (≤ workspace.batch); fills pre, f, x̂ and the error; f is
    /// left unwritten when a BatchTopK pass goes sparse (`usedSparse`: the codes are in `sparse`).
    public static func forward(
        _ p: SAEParameters, _ x: UnsafePointer<Float>, rows: Int, activation: SAEActivation, form: SparsityForm,
        workspace w: SAEWorkspace, mode: ComputeMode = .dense
    ) -> SAEBatchStats {
        let (d, F) = (p.d, p.features)
        let (xc, pre, f, xh, e) = (w.centered, w.pre, w.f, w.reconstruction, w.error)
        p.bDec.withUnsafeBufferPointer { bDec in
            nonisolated(unsafe) let (bDec, x) = (bDec.baseAddress!, x)
            Parallel.chunks(rows, minimumChunk: 64) { range in
                for r in range {
                    for j in 0..<d { xc[r * d + j] = x[r * d + j] - bDec[j] }
                    (xh + r * d).update(from: bDec, count: d)
                }
            }
        }
        p.bEnc.withUnsafeBufferPointer { bEnc in
            // rows × F floats (19 MB at the quickstart's shape): split over the cores.
            nonisolated(unsafe) let bEnc = bEnc.baseAddress!
            Parallel.chunks(rows, minimumChunk: 64) { range in
                for r in range { (pre + r * F).update(from: bEnc, count: F) }
            }
        }
        p.wEnc.withUnsafeBufferPointer { we in
            BLAS.sgemmSplittingRows(m: rows, n: F, k: d, a: xc, b: we.baseAddress!, beta: 1, c: pre)
        }
        w.usedSparse = false
        if case .batchTopK(let k) = activation, mode.selectsSparse(density: Double(k) / Double(max(F, 1))) {
            // Straight from pre to the sparse codes: the dense f is not written (three passes over it saved).
            batchTopK(pre: pre, rows: rows, features: F, keep: k * rows, scratch: w.featureGradient, into: w.sparse)
            w.usedSparse = true
        } else {
        activate(p, rows: rows, activation: activation, workspace: w)
        }
        if mode != .dense, !w.usedSparse {
            w.sparse.build(f, rows: rows, features: F)
            let density = Double(w.sparse.count) / Double(max(rows * F, 1))
            w.usedSparse = mode.selectsSparse(density: density)
        }
        if w.usedSparse {
            p.wDec.withUnsafeBufferPointer { w.sparse.decode($0.baseAddress!, rows: rows, d: d, into: xh) }
        } else {
            p.wDec.withUnsafeBufferPointer { wd in
                BLAS.sgemmSplittingRows(m: rows, n: d, k: F, a: f, b: wd.baseAddress!, beta: 1, c: xh)
            }
        }
        var stats = SAEBatchStats()
        (stats.squaredError, stats.totalVariance) = errorAndVariance(x, xh, rows: rows, d: d, error: e)
        let norms = form == .decoderNormWeighted ? p.decoderNorms() : [Float](repeating: 1, count: F)
        let weighted: Bool = { if case .relu = activation { return form == .decoderNormWeighted } else { return false } }()
        let totals = RowTotals()
        if w.usedSparse {
            var sum: Double = 0, weightedSum: Double = 0
            for k in 0..<w.sparse.count {
                sum += Double(abs(w.sparse.vals[k]))
                weightedSum += Double(w.sparse.vals[k] * norms[Int(w.sparse.cols[k])])
            }
            totals.add(w.sparse.count, sum, weightedSum)
        } else {
        norms.withUnsafeBufferPointer { norms in
            Parallel.chunks(rows, minimumChunk: max(1, (1 << 15) / F)) { range in
                var count = 0, sum: Double = 0, penalty: Double = 0
                for r in range {
                    var rowSum: Float = 0, rowPenalty: Float = 0
                    for i in 0..<F {
                        let value = f[r * F + i]
                        count += value != 0 ? 1 : 0
                        rowSum += abs(value)
                        rowPenalty += value * norms[i]
                    }
                    sum += Double(rowSum)
                    penalty += Double(rowPenalty)
                }
                totals.add(count, sum, penalty)
            }
        }
        }
        let (l0, l1, penalty) = (totals.count, totals.sum, weighted ? totals.penalty : 0)
        stats.l0 = Double(l0) / Double(rows)
        stats.l1 = l1 / Double(rows)
        stats.reconstruction = stats.squaredError / Double(rows)
        stats.mse = stats.squaredError / Double(rows * d)
        switch activation {
        case .relu: stats.sparsity = form == .decoderNormWeighted ? penalty / Double(rows) : stats.l1
        case .topK, .batchTopK: stats.sparsity = 0
        case .jumpReLU: stats.sparsity = stats.l0
        }
        return stats
    }

    private static func activate(_ p: SAEParameters, rows: Int, activation: SAEActivation, workspace w: SAEWorkspace) {
        let F = p.features
        let (pre, f) = (w.pre, w.f)
        switch activation {
        case .relu:
            Parallel.chunks(rows * F, minimumChunk: 1 << 15) { range in for index in range { f[index] = max(pre[index], 0) } }
        case .jumpReLU:
            p.threshold.withUnsafeBufferPointer { thresholds in
                Parallel.chunks(rows, minimumChunk: max(1, (1 << 15) / F)) { range in
                    for r in range {
                        for i in 0..<F {
                            let value = pre[r * F + i]
                            f[r * F + i] = value > thresholds[i] ? value : 0
                        }
                    }
                }
            }
        case .topK(let k):
            // Rows are independent: one quickselect per row, the rows split over the cores.
            Parallel.chunks(rows, minimumChunk: 16) { range in
                var scratch = [Float](repeating: 0, count: F)
                for r in range {
                    let base = r * F
                    for i in 0..<F { scratch[i] = pre[base + i] }
                    let cutoff = kthLargest(&scratch, k)
                    // Values above the cutoff, then ties at it in index order, up to k.
                    var above = 0
                    for i in 0..<F where pre[base + i] > cutoff { above += 1 }
                    var ties = k - above
                    for i in 0..<F {
                        let value = pre[base + i]
                        var keep = value > cutoff
                        if !keep, value == cutoff, ties > 0 { keep = true; ties -= 1 }
                        f[base + i] = keep ? max(value, 0) : 0
                    }
                }
            }
        case .batchTopK(let k):
            batchTopK(pre: pre, into: f, count: rows * F, keep: k * rows, scratch: w.featureGradient)
        }
    }

    /// f = the `keep` largest of ReLU(pre) over the whole batch (ties at the cutoff in index
    /// order), zero elsewhere. `scratch` (count floats) is overwritten.
    public static func batchTopK(pre: UnsafePointer<Float>, into f: UnsafeMutablePointer<Float>, count: Int, keep: Int,
                          scratch: UnsafeMutablePointer<Float>) {
        let (cutoff, tiesKept) = batchTopKCutoff(pre: pre, count: count, keep: keep, scratch: scratch)
        Parallel.chunks(count, minimumChunk: 65536) { range in
            for index in range {
                let value = pre[index]
                f[index] = value > cutoff ? value : 0
            }
        }
        var ties = tiesKept
        var index = 0
        while ties > 0, index < count {
            if pre[index] == cutoff { f[index] = cutoff; ties -= 1 }
            index += 1
        }
    }

    /// BatchTopK's selection as a rule: keep the values above `cutoff` and the first `ties` values
    /// equal to it in index order. With at most `keep` positive values: cutoff 0, no ties (every positive one).
    static func batchTopKCutoff(pre: UnsafePointer<Float>, count: Int, keep: Int, scratch: UnsafeMutablePointer<Float>)
        -> (cutoff: Float, ties: Int)
    {
        let keep = min(keep, count)
        guard keep > 0 else { return (.infinity, 0) }
        return batchTopKCutoff(pre: pre, count: count, keep: keep, scratch: scratch, guess: sampledGuess(pre, count: count, keep: keep))
    }

    /// The same from a sampled guess already taken (nil: straight to the histogram search); keep ≥ 1.
    static func batchTopKCutoff(pre: UnsafePointer<Float>, count: Int, keep: Int, scratch: UnsafeMutablePointer<Float>, guess: Float?)
        -> (cutoff: Float, ties: Int)
    {
        guard let (cutoff, strictlyAbove) = guess.flatMap({ cutoff(pre, count: count, keep: keep, atLeast: $0, scratch: scratch) })
            ?? histogramCutoff(pre, count: count, keep: keep, scratch: scratch)
        else { return (0, 0) }
        return (cutoff, keep - strictlyAbove)
    }

    /// The keep-th largest positive value and how many values lie strictly above it, found from
    /// a strided sample: the sample's quantile a little below the cutoff picks ~1.25 × keep
    /// candidates in one streaming pass, and quickselect runs on those alone. Nil when the sample
    /// guesses too high (the histogram search then runs); the answer never depends on the guess.
    public static func sampledCutoff(_ pre: UnsafePointer<Float>, count: Int, keep: Int, scratch: UnsafeMutablePointer<Float>)
        -> (cutoff: Float, strictlyAbove: Int)?
    {
        guard let guess = sampledGuess(pre, count: count, keep: keep) else { return nil }
        return cutoff(pre, count: count, keep: keep, atLeast: guess, scratch: scratch)
    }

    /// The keep-th largest value among those at or above `guess`, and how many lie strictly above
    /// it; nil when fewer than `keep` values reach the guess.
    static func cutoff(_ pre: UnsafePointer<Float>, count: Int, keep: Int, atLeast guess: Float, scratch: UnsafeMutablePointer<Float>)
        -> (cutoff: Float, strictlyAbove: Int)?
    {
        // Each chunk writes its candidates at its own offset in scratch; then they are packed together.
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / 65536))
        var found = [Int](repeating: 0, count: chunkCount)
        found.withUnsafeMutableBufferPointer { found in
            nonisolated(unsafe) let (found, pre, scratch) = (found.baseAddress!, pre, scratch)
            DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                let (first, last) = (count * chunk / chunkCount, count * (chunk + 1) / chunkCount)
                found[chunk] = saepipe_collect_at_least(pre, first, last, guess, scratch + first)
            }
        }
        var candidates = 0
        for chunk in 0..<chunkCount {
            let first = count * chunk / chunkCount
            if first != candidates { (scratch + candidates).update(from: scratch + first, count: found[chunk]) }
            candidates += found[chunk]
        }
        guard candidates >= keep else { return nil }
        let cutoff = kthLargest(UnsafeMutableBufferPointer(start: scratch, count: candidates), keep)
        var strictlyAbove = 0
        for slot in 0..<candidates where scratch[slot] > cutoff { strictlyAbove += 1 }
        return (cutoff, strictlyAbove)
    }

    /// error = x̂ − x; the sums of its squares and of x's squared deviations from the batch mean,
    /// added up by blocks of 32 rows in a fixed order (the same bits on any number of cores).
    static func errorAndVariance(_ x: UnsafePointer<Float>, _ xh: UnsafePointer<Float>, rows: Int, d: Int,
                                 error e: UnsafeMutablePointer<Float>) -> (squaredError: Double, totalVariance: Double) {
        var means = [Double](repeating: 0, count: d)
        means.withUnsafeMutableBufferPointer { means in
            nonisolated(unsafe) let (means, x) = (means.baseAddress!, x)
            Parallel.chunks(d, minimumChunk: 64) { columns in
                for r in 0..<rows { for j in columns { means[j] += Double(x[r * d + j]) } }
                for j in columns { means[j] /= Double(rows) }
            }
        }
        let blockRows = 32
        let blocks = (rows + blockRows - 1) / blockRows
        var partial = [(Double, Double)](repeating: (0, 0), count: blocks)
        means.withUnsafeBufferPointer { means in
            partial.withUnsafeMutableBufferPointer { partial in
                nonisolated(unsafe) let (means, partial, x, xh) = (means.baseAddress!, partial.baseAddress!, x, xh)
                Parallel.chunks(blocks, minimumChunk: 2) { range in
                    for block in range {
                        var squaredError: Double = 0, variance: Double = 0
                        for r in (block * blockRows)..<min(rows, (block + 1) * blockRows) {
                            for j in 0..<d {
                                let difference = xh[r * d + j] - x[r * d + j]
                                e[r * d + j] = difference
                                squaredError += Double(difference * difference)
                                let centered = Double(x[r * d + j]) - means[j]
                                variance += centered * centered
                            }
                        }
                        partial[block] = (squaredError, variance)
                    }
                }
            }
        }
        return partial.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    }

    /// A value a little below the keep-th largest, from a strided sample (nil when there is too little
    /// to sample or the guess is not positive).
    static func sampledGuess(_ pre: UnsafePointer<Float>, count: Int, keep: Int) -> Float? {
        // A prime stride: through a [rows, F] batch the sample visits every feature's column.
        let stride = 61
        let sampleCount = count / stride
        let rank = (keep * 5 / 4 + stride - 1) / stride + 8
        guard sampleCount >= 1024, rank < sampleCount else { return nil }
        var sample = [Float](unsafeUninitializedCapacity: sampleCount) { buffer, initialized in
            for index in 0..<sampleCount { buffer[index] = pre[index * stride] }
            initialized = sampleCount
        }
        let guess = kthLargest(&sample, rank)
        return guess > 0 ? guess : nil
    }

    /// BatchTopK's codes over a [rows, features] batch as sparse entries, the same ones `batchTopK`
    /// leaves nonzero: from the sampled guess's candidates (with their indices) when it holds,
    /// else by the cutoff and a pass over `pre`.
    static func batchTopK(pre: UnsafePointer<Float>, rows: Int, features: Int, keep: Int, scratch: UnsafeMutablePointer<Float>,
                          into sparse: SparseActivations) {
        let count = rows * features
        let keep = min(keep, count)
        guard keep > 0 else {
            sparse.build(above: .infinity, ties: 0, pre, rows: rows, features: features)
            return
        }
        let guess = sampledGuess(pre, count: count, keep: keep)
        let found = guess.flatMap { candidates(pre, count: count, atLeast: $0, capacity: 2 * keep + 4096) }
        if let (values, indices) = found, values.count >= keep {
            values.withUnsafeBufferPointer { (scratch).update(from: $0.baseAddress!, count: values.count) }
            let cutoff = kthLargest(UnsafeMutableBufferPointer(start: scratch, count: values.count), keep)
            var ties = keep - values.reduce(0) { $0 + ($1 > cutoff ? 1 : 0) }
            var rowStart = [Int64](repeating: 0, count: rows + 1)
            var cols: [Int32] = [], vals: [Float] = []
            cols.reserveCapacity(keep)
            vals.reserveCapacity(keep)
            for (value, index) in zip(values, indices) {
                guard value > cutoff || (value == cutoff && ties > 0) else { continue }
                if value == cutoff { ties -= 1 }
                rowStart[Int(index) / features + 1] += 1
                cols.append(Int32(Int(index) % features))
                vals.append(value)
            }
            for r in 0..<rows { rowStart[r + 1] += rowStart[r] }
            sparse.set(rowStart: rowStart, cols: cols, vals: vals, features: features)
            return
        }
        // More candidates than the buffer holds: the guess still bounds an unindexed pass. Fewer than
        // keep: another pass at the same guess would find no more, so straight to the histogram search.
        let (cutoff, ties) = batchTopKCutoff(pre: pre, count: count, keep: keep, scratch: scratch, guess: found == nil ? guess : nil)
        sparse.build(above: cutoff, ties: ties, pre, rows: rows, features: features)
    }

    /// The positive values of pre[0 ..< count] at or above `atLeast` and their indices, in index
    /// order; nil when more than `capacity` qualify.
    static func candidates(_ pre: UnsafePointer<Float>, count: Int, atLeast threshold: Float, capacity: Int)
        -> (values: [Float], indices: [Int64])?
    {
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / 65536))
        let perChunk = capacity / chunkCount + 1
        var values = [Float](repeating: 0, count: perChunk * chunkCount)
        var indices = [Int64](repeating: 0, count: perChunk * chunkCount)
        var found = [Int](repeating: 0, count: chunkCount)
        values.withUnsafeMutableBufferPointer { values in
            indices.withUnsafeMutableBufferPointer { indices in
                found.withUnsafeMutableBufferPointer { found in
                    nonisolated(unsafe) let (values, indices, found, pre) = (values.baseAddress!, indices.baseAddress!, found.baseAddress!, pre)
                    DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                        let (first, last) = (count * chunk / chunkCount, count * (chunk + 1) / chunkCount)
                        found[chunk] = saepipe_collect_at_least_indexed(
                            pre, first, last, threshold, perChunk, values + chunk * perChunk, indices + chunk * perChunk)
                    }
                }
            }
        }
        guard found.allSatisfy({ $0 >= 0 }) else { return nil }
        var packed = 0
        for chunk in 0..<chunkCount {
            for slot in 0..<found[chunk] {
                values[packed] = values[chunk * perChunk + slot]
                indices[packed] = indices[chunk * perChunk + slot]
                packed += 1
            }
        }
        values.removeLast(values.count - packed)
        indices.removeLast(indices.count - packed)
        return (values, indices)
    }

    /// The same answer by a histogram of the top 11 bits of the positive values (exponent and 3
    /// mantissa bits; positive floats order as their bit patterns): the bucket holding the
    /// keep-th largest goes through quickselect. Nil when at most `keep` values are positive.
    public static func histogramCutoff(_ pre: UnsafePointer<Float>, count: Int, keep: Int, scratch: UnsafeMutablePointer<Float>)
        -> (cutoff: Float, strictlyAbove: Int)?
    {
        let bits = UnsafeRawPointer(pre).assumingMemoryBound(to: Int32.self)
        let buckets = 2048
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / 65536))
        var histograms = [Int](repeating: 0, count: buckets * chunkCount)
        histograms.withUnsafeMutableBufferPointer { histograms in
            // Each chunk counts into its own histogram.
            nonisolated(unsafe) let (histograms, bits) = (histograms.baseAddress!, bits)
            DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                let histogram = histograms + chunk * buckets
                for index in (count * chunk / chunkCount)..<(count * (chunk + 1) / chunkCount) where bits[index] > 0 {
                    histogram[Int(bits[index] >> 20)] += 1
                }
            }
        }
        var above = 0, bucket = buckets - 1
        while bucket >= 0 {
            let inBucket = (0..<chunkCount).reduce(0) { $0 + histograms[$1 * buckets + bucket] }
            if above + inBucket >= keep { break }
            above += inBucket
            bucket -= 1
        }
        guard bucket >= 0 else { return nil }
        var inBucket = 0
        for index in 0..<count where bits[index] > 0 && Int(bits[index] >> 20) == bucket {
            scratch[inBucket] = pre[index]
            inBucket += 1
        }
        let cutoff = kthLargest(UnsafeMutableBufferPointer(start: scratch, count: inBucket), keep - above)
        var strictlyAbove = above
        for slot in 0..<inBucket where scratch[slot] > cutoff { strictlyAbove += 1 }
        return (cutoff, strictlyAbove)
    }

    /// The k-th largest value (quickselect on a scratch copy).
    static func kthLargest(_ values: inout [Float], _ k: Int) -> Float {
        values.withUnsafeMutableBufferPointer { kthLargest($0, k) }
    }

    /// The k-th largest value of a buffer, reordering it in place (Hoare quickselect).
    static func kthLargest(_ values: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
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
    /// `mayLeaveEncoderGradientTransposed` lets the sparse path skip flipping ∂L/∂W_enc into
    /// `g.wEnc` (see `SAEWorkspace.encoderGradientTransposed`); the trainer's Adam reads it there.
    public static func backward(
        _ p: SAEParameters, _ x: UnsafePointer<Float>, rows: Int, activation: SAEActivation, form: SparsityForm,
        lambda: Float, workspace w: SAEWorkspace, into g: inout SAEGradients, mayLeaveEncoderGradientTransposed: Bool = false
    ) {
        w.encoderGradientTransposed = false
        // JumpReLU's threshold estimator needs ∂L/∂f near the threshold, off the active set: dense.
        let jump: Bool = { if case .jumpReLU = activation { return true } else { return false } }()
        if w.usedSparse, !jump {
            backwardSparse(p, rows: rows, activation: activation, form: form, lambda: lambda, workspace: w, into: &g,
                           leaveEncoderGradientTransposed: mayLeaveEncoderGradientTransposed)
            return
        }
        let (d, F) = (p.d, p.features)
        let (pre, f, e, df, xc) = (w.pre, w.f, w.error, w.featureGradient, w.centered)
        BLAS.sscal(count: rows * d, alpha: 2 / Float(rows), x: e)  // e now holds ∂L/∂x̂
        // ∂L/∂W_dec = fᵀ · ∂L/∂x̂ ; ∂L/∂f = ∂L/∂x̂ · W_decᵀ
        g.wDec.withUnsafeMutableBufferPointer { gd in
            BLAS.sgemmSplittingRows(.transposed, .none, m: F, n: d, k: rows, a: f, lda: F, b: e, c: gd.baseAddress!)
        }
        p.wDec.withUnsafeBufferPointer { wd in
            BLAS.sgemmSplittingRows(.none, .transposed, m: rows, n: F, k: d, a: e, b: wd.baseAddress!, c: df)
        }
        let penalty = lambda / Float(rows)
        let chunkRows = max(1, (1 << 15) / F)
        switch activation {
        case .relu:
            let weights = form == .decoderNormWeighted ? p.decoderNorms() : [Float](repeating: 1, count: F)
            weights.withUnsafeBufferPointer { weights in
                Parallel.chunks(rows, minimumChunk: chunkRows) { range in
                    for r in range {
                        for i in 0..<F {
                            let index = r * F + i
                            df[index] = pre[index] > 0 ? df[index] + penalty * weights[i] : 0
                        }
                    }
                }
            }
            if form == .decoderNormWeighted {
                // ∂(λ/B Σ f_i ‖W_dec,i‖)/∂W_dec,i = λ/B (Σ_rows f_i) W_dec,i / ‖W_dec,i‖
                var featureSums = [Float](repeating: 0, count: F)
                for r in 0..<rows { for i in 0..<F { featureSums[i] += f[r * F + i] } }
                for i in 0..<F where weights[i] > 0 && featureSums[i] != 0 {
                    let factor = penalty * featureSums[i] / weights[i]
                    for j in 0..<d { g.wDec[i * d + j] += factor * p.wDec[i * d + j] }
                }
            }
        case .topK, .batchTopK:
            Parallel.chunks(rows * F, minimumChunk: 1 << 15) { range in for index in range where f[index] == 0 { df[index] = 0 } }
        case .jumpReLU(let bandwidth):
            let thresholds = p.threshold
            var thresholdGradient = [Float](repeating: 0, count: F)
            for r in 0..<rows {
                for i in 0..<F {
                    let index = r * F + i
                    let value = pre[index], theta = thresholds[i]
                    // Rectangle kernel: the pseudo-derivative of H(z − θ) with respect to θ.
                    if abs(value - theta) < bandwidth / 2 {
                        thresholdGradient[i] += (df[index] * theta + penalty) * (-1 / bandwidth)
                    }
                    if value <= theta { df[index] = 0 }
                }
            }
            g.threshold = thresholdGradient
        }
        // df is now ∂L/∂pre.
        g.bEnc.withUnsafeMutableBufferPointer { gb in
            columnSums(df, rows: rows, columns: F, into: gb.baseAddress!)
        }
        g.wEnc.withUnsafeMutableBufferPointer { ge in
            BLAS.sgemmSplittingRows(.transposed, .none, m: d, n: F, k: rows, a: xc, lda: d, b: df, c: ge.baseAddress!)
        }
        // b_dec: + Σ ∂L/∂x̂ from the output, − W_enc · Σ ∂L/∂pre through the centred input.
        g.bDec.withUnsafeMutableBufferPointer { gb in
            columnSums(e, rows: rows, columns: d, into: gb.baseAddress!)
            g.bEnc.withUnsafeBufferPointer { sums in
                p.wEnc.withUnsafeBufferPointer { we in
                    BLAS.sgemv(rows: d, cols: F, alpha: -1, a: we.baseAddress!, x: sums.baseAddress!, beta: 1, y: gb.baseAddress!)
                }
            }
        }
    }

    /// out[j] = Σ_r m[r, j] (a GEMV with a ones vector).
    static func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        let ones = [Float](repeating: 1, count: rows)
        ones.withUnsafeBufferPointer { ones in
            BLAS.sgemv(.transposed, rows: rows, cols: columns, a: m, x: ones.baseAddress!, y: out)
        }
    }
}

/// Sums from parallel chunks of rows.
final class RowTotals: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var count = 0
    private(set) var sum: Double = 0
    private(set) var penalty: Double = 0

    func add(_ count: Int, _ sum: Double, _ penalty: Double) {
        lock.lock()
        self.count += count
        self.sum += sum
        self.penalty += penalty
        lock.unlock()
    }
}

extension SAEMath {
    /// Replaces each of `rows` raw rows of `x` by its reconstruction x̂ (splicing an SAE into a
    /// model), through the SAE's input normalization and back; returns the batch statistics
    /// (in the normalized space). With `removing`, that feature's contribution f_i · W_dec[i] is
    /// left out (the feature ablated in the spliced reconstruction). Safe from several threads at once.
    public static func reconstructInPlace(
        _ p: SAEParameters, activation: SAEActivation, _ x: UnsafeMutablePointer<Float>, rows: Int, removing feature: Int? = nil
    ) -> SAEBatchStats {
        let workspace = SAEWorkspace(batch: rows, d: p.d, features: p.features)
        let statistics = p.inputNormalization == .layerNorm ? InputNormalization.standardize(x, rows: rows, d: p.d) : nil
        let stats = forward(p, UnsafePointer(x), rows: rows, activation: activation, form: .unitNormDecoder, workspace: workspace)
        x.update(from: workspace.reconstruction, count: rows * p.d)
        defer { if let statistics { InputNormalization.restore(x, rows: rows, d: p.d, statistics: statistics) } }
        if let feature {
            p.wDec.withUnsafeBufferPointer { wd in
                for r in 0..<rows {
                    let value = workspace.f[r * p.features + feature]
                    guard value != 0 else { continue }
                    for j in 0..<p.d { x[r * p.d + j] -= value * wd[feature * p.d + j] }
                }
            }
        }
        return stats
    }
}

extension SAEMath {
    /// g_i ← g_i − (g_i · w_i / ‖w_i‖²) w_i for every decoder row w_i: with rows renormalized after
    /// each step, the component along a row only changes its norm, and left in, it feeds Adam's moments.
    public static func removeDecoderGradientAlongRows(_ p: SAEParameters, _ g: inout SAEGradients) {
        let d = p.d
        p.wDec.withUnsafeBufferPointer { weights in
            g.wDec.withUnsafeMutableBufferPointer { gradient in
                nonisolated(unsafe) let w = weights.baseAddress!, grad = gradient.baseAddress!
                Parallel.chunks(p.features, minimumChunk: 256) { rows in
                    for row in rows {
                        var along: Float = 0, norm: Float = 0
                        for j in 0..<d {
                            along += grad[row * d + j] * w[row * d + j]
                            norm += w[row * d + j] * w[row * d + j]
                        }
                        guard norm > 0 else { continue }
                        let factor = along / norm
                        for j in 0..<d { grad[row * d + j] -= factor * w[row * d + j] }
                    }
                }
            }
        }
    }
}
