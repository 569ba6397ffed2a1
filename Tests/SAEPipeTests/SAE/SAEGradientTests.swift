import Foundation
import SAEPipeCore
@testable import SAEPipeSAE
import XCTest

/// Analytic SAE gradients against central finite differences (double-checked loss), for
/// each activation and sparsity form.
final class SAEGradientTests: XCTestCase {
    let (d, features, rows) = (6, 10, 5)

    func batch(seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }
    }

    func parameters(seed: UInt64, threshold: Float? = nil) -> SAEParameters {
        var p = SAEParameters.initialized(d: d, features: features, seed: seed, decoderNorm: 0.7, threshold: threshold)
        var generator = SplitMix64(seed: seed + 1)
        p.bEnc = (0..<features).map { _ in Float(generator.nextUnit() * 0.2 - 0.05) }
        p.bDec = (0..<d).map { _ in Float(generator.nextUnit() * 0.2 - 0.1) }
        for i in p.wDec.indices { p.wDec[i] *= Float(0.5 + generator.nextUnit()) }  // rows of different norms
        return p
    }

    func loss(_ p: SAEParameters, _ x: [Float], _ activation: SAEActivation, _ form: SparsityForm, _ lambda: Float) -> Double {
        let w = SAEWorkspace(batch: rows, d: d, features: features)
        let stats = x.withUnsafeBufferPointer {
            SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: activation, form: form, workspace: w)
        }
        return stats.reconstruction + Double(lambda) * stats.sparsity
    }

    func check(_ activation: SAEActivation, _ form: SparsityForm, names: [String], threshold: Float? = nil,
               file: StaticString = #filePath, line: UInt = #line) {
        let lambda: Float = 0.3
        let p = parameters(seed: 11, threshold: threshold)
        let x = batch(seed: 5)
        let w = SAEWorkspace(batch: rows, d: d, features: features)
        var g = p
        x.withUnsafeBufferPointer { buffer in
            _ = SAEMath.forward(p, buffer.baseAddress!, rows: rows, activation: activation, form: form, workspace: w)
            SAEMath.backward(p, buffer.baseAddress!, rows: rows, activation: activation, form: form, lambda: lambda,
                             workspace: w, into: &g)
        }
        let h: Float = 1e-3
        var checked = 0
        for name in names {
            let values = p[name]
            for index in values.indices {
                var plus = p, minus = p
                var up = values, down = values
                up[index] += h
                down[index] -= h
                plus[name] = up
                minus[name] = down
                let numeric = (loss(plus, x, activation, form, lambda) - loss(minus, x, activation, form, lambda)) / Double(2 * h)
                let analytic = Double(g[name][index])
                // Skip coordinates whose nudge crosses a kink (a feature turning on or off).
                if abs(numeric - analytic) > 2e-2 * max(1, abs(numeric)) {
                    let kink = (loss(plus, x, activation, form, lambda) + loss(minus, x, activation, form, lambda)
                        - 2 * loss(p, x, activation, form, lambda)) / Double(h * h)
                    if abs(kink) > 1 { continue }
                }
                XCTAssertEqual(analytic, numeric, accuracy: 2e-2 * max(1, abs(numeric)), "\(activation.name) \(form) \(name)[\(index)]",
                               file: file, line: line)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, names.map { p[$0].count }.reduce(0, +) * 3 / 4, "most coordinates are smooth", file: file, line: line)
    }

    func testReLUUnitNormDecoder() {
        check(.relu, .unitNormDecoder, names: ["W_enc", "b_enc", "W_dec", "b_dec"])
    }

    func testReLUDecoderNormWeighted() {
        check(.relu, .decoderNormWeighted, names: ["W_enc", "b_enc", "W_dec", "b_dec"])
    }

    func testTopK() {
        check(.topK(3), .unitNormDecoder, names: ["W_enc", "b_enc", "W_dec", "b_dec"])
    }

    func testBatchTopK() {
        check(.batchTopK(3), .unitNormDecoder, names: ["W_enc", "b_enc", "W_dec", "b_dec"])
    }

    /// The histogram selection against a sort: the `keep` largest positive values, ties at the cutoff in
    /// index order, on a batch large enough to run in chunks, with repeated values, negatives and zeros.
    func testBatchTopKSelectionMatchesASortIncludingTiesAndNonPositiveValues() {
        var generator = SplitMix64(seed: 21)
        let count = 300_000
        // Values on a coarse grid so that many are equal, a third of them ≤ 0.
        let pre = (0..<count).map { _ in Float(Int(generator.nextUnit() * 600) - 200) / 8 }
        for keep in [0, 1, 37, 5000, 150_000, 199_000, 250_000] {
            var f = [Float](repeating: -1, count: count), scratch = [Float](repeating: 0, count: count)
            pre.withUnsafeBufferPointer { pre in
                SAEMath.batchTopK(pre: pre.baseAddress!, into: &f, count: count, keep: keep, scratch: &scratch)
            }
            // Reference: stable order by value descending, first `keep` positive ones.
            let order = pre.indices.sorted { (pre[$0], -$0) > (pre[$1], -$1) }
            var expected = [Float](repeating: 0, count: count)
            for index in order.prefix(keep) where pre[index] > 0 { expected[index] = pre[index] }
            XCTAssertEqual(f, expected, "keep \(keep)")
        }
    }

    /// The sparse selection (straight from pre to entries) keeps exactly the dense selection's nonzeros,
    /// by way of the sampled candidates or, when they do not hold, the cutoff and a pass over pre: on a
    /// coarse grid with many ties at the cutoff and a third of the values ≤ 0, and on a batch whose large
    /// values sit where the strided sample looks.
    func testBatchTopKSparseSelectionKeepsTheDenseSelectionsNonzeros() {
        var generator = SplitMix64(seed: 23)
        let (rows, features) = (300, 1000)
        let count = rows * features
        let grid = (0..<count).map { _ in Float(Int(generator.nextUnit() * 600) - 200) / 8 }
        let smooth = (0..<count).map { _ in Float(generator.nextUnit() * 4 - 1) }
        let skewed: [Float] = (0..<count).map { (index: Int) -> Float in
            index % 61 == 0 ? Float(10 + index % 7) : Float(index % 5) / 10
        }
        for (name, pre) in [("grid", grid), ("smooth", smooth), ("skewed", skewed)] {
            for keep in [0, 1, 37, 5000, 20_000, 150_000, 199_000, 250_000] {
                var f = [Float](repeating: -1, count: count), scratch = [Float](repeating: 0, count: count)
                let sparse = SparseActivations()
                pre.withUnsafeBufferPointer { pre in
                    SAEMath.batchTopK(pre: pre.baseAddress!, into: &f, count: count, keep: keep, scratch: &scratch)
                    SAEMath.batchTopK(pre: pre.baseAddress!, rows: rows, features: features, keep: keep, scratch: &scratch, into: sparse)
                }
                var rowStart: [Int64] = [0], cols: [Int32] = [], vals: [Float] = []
                for r in 0..<rows {
                    for c in 0..<features where f[r * features + c] != 0 {
                        cols.append(Int32(c))
                        vals.append(f[r * features + c])
                    }
                    rowStart.append(Int64(cols.count))
                }
                XCTAssertEqual(sparse.rowStart, rowStart, "\(name), keep \(keep)")
                XCTAssertEqual(sparse.cols, cols, "\(name), keep \(keep)")
                XCTAssertEqual(sparse.vals, vals, "\(name), keep \(keep)")
                XCTAssertEqual(sparse.featureStart.last, Int64(cols.count))
            }
        }
    }

    /// The by-feature decode and row dots against plain loops over the entries by row, on a batch large
    /// enough for the rows to be split over the cores, with empty rows and features that never fire.
    func testSparseDecodeAndRowDotsWalkingByFeatureMatchPlainLoops() {
        var generator = SplitMix64(seed: 31)
        let (rows, features, d) = (300, 90, 37)
        var f = [Float](repeating: 0, count: rows * features)
        for r in 0..<rows where r % 7 != 0 {
            for i in 0..<features where i % 9 != 0 && generator.nextUnit() < 0.1 { f[r * features + i] = Float(generator.nextUnit() + 0.1) }
        }
        let w = (0..<(features * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }
        let a = (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }
        let sparse = SparseActivations()
        f.withUnsafeBufferPointer { sparse.build($0.baseAddress!, rows: rows, features: features) }
        var out = [Float](repeating: 0.5, count: rows * d)
        w.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { sparse.decode(w.baseAddress!, rows: rows, d: d, into: $0.baseAddress!) }
            a.withUnsafeBufferPointer { sparse.rowDots($0.baseAddress!, w.baseAddress!, rows: rows, d: d) }
        }
        for r in 0..<rows {
            for j in 0..<d {
                var expected: Float = 0.5
                for i in 0..<features { expected += f[r * features + i] * w[i * d + j] }
                XCTAssertEqual(out[r * d + j], expected, accuracy: 1e-5, "row \(r), column \(j)")
            }
            for k in Int(sparse.rowStart[r])..<Int(sparse.rowStart[r + 1]) {
                let i = Int(sparse.cols[k])
                let expected = (0..<d).reduce(Float(0)) { $0 + a[r * d + $1] * w[i * d + $1] }
                XCTAssertEqual(sparse.dots[k], expected, accuracy: 1e-5, "row \(r), feature \(i)")
            }
        }
        XCTAssertGreaterThan(sparse.count, 1000)
    }

    /// The sampled cutoff search agrees with the histogram one; when the strided sample is unrepresentative
    /// (the large values sit exactly on the sampled positions) it gives up rather than answer wrongly.
    func testBatchTopKSampledCutoffAgreesWithTheHistogramOrGivesUp() {
        var generator = SplitMix64(seed: 5)
        let count = 400_000
        let smooth = (0..<count).map { _ in Float(generator.nextUnit() * 4 - 1) }
        // Large values only where the stride-61 sample looks: the sample overestimates the cutoff.
        let skewed: [Float] = (0..<count).map { (index: Int) -> Float in
            index % 61 == 0 ? Float(10 + index % 7) : Float(index % 5) / 10
        }
        var scratch = [Float](repeating: 0, count: count)
        for keep in [1, 100, 4096, 32_768, 200_000] {
            let sampled = smooth.withUnsafeBufferPointer { SAEMath.sampledCutoff($0.baseAddress!, count: count, keep: keep, scratch: &scratch) }
            let histogram = smooth.withUnsafeBufferPointer { SAEMath.histogramCutoff($0.baseAddress!, count: count, keep: keep, scratch: &scratch) }
            XCTAssertNotNil(histogram)
            if keep >= 4096 { XCTAssertNotNil(sampled, "keep \(keep): a smooth batch should not need the fallback") }
            if let sampled, let histogram {
                XCTAssertEqual(sampled.cutoff, histogram.cutoff, "keep \(keep)")
                XCTAssertEqual(sampled.strictlyAbove, histogram.strictlyAbove, "keep \(keep)")
            }
        }
        let keep = 20_000
        XCTAssertNil(skewed.withUnsafeBufferPointer { SAEMath.sampledCutoff($0.baseAddress!, count: count, keep: keep, scratch: &scratch) })
        var f = [Float](repeating: -1, count: count)
        skewed.withUnsafeBufferPointer { SAEMath.batchTopK(pre: $0.baseAddress!, into: &f, count: count, keep: keep, scratch: &scratch) }
        let order = skewed.indices.sorted { (skewed[$0], -$0) > (skewed[$1], -$1) }
        var expected = [Float](repeating: 0, count: count)
        for index in order.prefix(keep) where skewed[index] > 0 { expected[index] = skewed[index] }
        XCTAssertEqual(f, expected)
    }

    /// BatchTopK keeps the k·rows largest ReLU activations of the whole batch, whatever row they are in.
    func testBatchTopKKeepsTheLargestOfTheWholeBatch() {
        var generator = SplitMix64(seed: 9)
        let p = parameters(seed: 3)
        let x = (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 4 - 2) }
        let batch = SAEWorkspace(batch: rows, d: d, features: features)
        _ = x.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: .batchTopK(2), form: .unitNormDecoder, workspace: batch) }
        let relu = SAEWorkspace(batch: rows, d: d, features: features)
        _ = x.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: .relu, form: .unitNormDecoder, workspace: relu) }
        let all = relu.activations.prefix(rows * features)
        let wanted = Set(all.enumerated().sorted { $0.element > $1.element }.prefix(2 * rows).filter { $0.element > 0 }.map(\.offset))
        let kept = Set(batch.activations.prefix(rows * features).enumerated().filter { $0.element != 0 }.map(\.offset))
        XCTAssertEqual(kept, wanted)
        let perRow = (0..<rows).map { r in kept.filter { $0 / features == r }.count }
        XCTAssertNotEqual(Set(perRow), [2], "rows keep different numbers of features: \(perRow)")
        for index in kept { XCTAssertEqual(batch.activations[index], relu.activations[index]) }
    }

    /// AuxK's gradient (residual held constant, as in SAELens) against central differences of
    /// its loss; with fewer dead features than k_aux (scaled down) and with more.
    func testAuxiliaryLossGradient() {
        let x = batch(seed: 5)
        for (dead, label) in [([0, 7], "2 dead: k_aux 2, the loss scaled by 2/3"), ([1, 3, 4, 6, 8, 9], "6 dead: k_aux = d / 2 = 3")] {
            let mask = (0..<features).map { dead.contains($0) }
            let p = parameters(seed: 13)
            let w = SAEWorkspace(batch: rows, d: d, features: features)
            _ = x.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: .topK(2), form: .unitNormDecoder, workspace: w) }
            let residual = (0..<(rows * d)).map { -w.errors(rows: rows)[$0] }
            func auxiliary(_ q: SAEParameters) -> Double {
                let v = SAEWorkspace(batch: rows, d: d, features: features)
                _ = x.withUnsafeBufferPointer { SAEMath.forward(q, $0.baseAddress!, rows: rows, activation: .topK(2), form: .unitNormDecoder, workspace: v) }
                return residual.withUnsafeBufferPointer {
                    AuxiliaryLoss.add(q, rows: rows, residual: $0.baseAddress!, dead: mask, coefficient: 0.8, workspace: v, into: nil)
                }
            }
            var g = p.zeros()
            let value = residual.withUnsafeBufferPointer { residual in
                withUnsafeMutablePointer(to: &g) {
                    AuxiliaryLoss.add(p, rows: rows, residual: residual.baseAddress!, dead: mask, coefficient: 0.8, workspace: w, into: $0)
                }
            }
            XCTAssertGreaterThan(value, 0, label)
            XCTAssertEqual(value, auxiliary(p), accuracy: 1e-12, label)
            let h: Float = 1e-3
            var checked = 0, nonzero = 0
            var errorSquares = 0.0, numericSquares = 0.0
            for name in ["W_enc", "b_enc", "W_dec", "b_dec"] {
                for index in p[name].indices {
                    var plus = p, minus = p
                    plus[name][index] += h
                    minus[name][index] -= h
                    let (up, down) = (auxiliary(plus), auxiliary(minus))
                    let numeric = (up - down) / Double(2 * h)
                    let analytic = Double(g[name][index])
                    if abs(numeric - analytic) > 2e-2 * max(1, abs(numeric)), abs((up + down - 2 * value) / Double(h * h)) > 1 { continue }
                    XCTAssertEqual(analytic, numeric, accuracy: 2e-2 * max(1, abs(numeric)), "\(label) \(name)[\(index)]")
                    checked += 1
                    if analytic != 0 { nonzero += 1 }
                    errorSquares += (analytic - numeric) * (analytic - numeric)
                    numericSquares += numeric * numeric
                }
            }
            // Per entry the tolerance is loose (float32 differences); over all entries a scale error of 1% shows.
            XCTAssertLessThan((errorSquares / numericSquares).squareRoot(), 5e-3, label)
            XCTAssertGreaterThan(checked, (2 * d * features + features + d) * 3 / 4, label)
            XCTAssertGreaterThan(nonzero, dead.count * d, "\(label): the dead features' weights get gradient")
            // Live features' decoder rows get none.
            for i in 0..<features where !mask[i] { for j in 0..<d { XCTAssertEqual(g.wDec[i * d + j], 0, label) } }
        }
    }

    /// The trainer's sparse step leaves ∂L/∂W_enc transposed in the workspace and AuxK adds to it
    /// there: the same numbers as the gradients' W_enc of the ordinary backward pass.
    func testEncoderGradientLeftTransposedMatchesTheOrdinaryOne() {
        let x = batch(seed: 5)
        let p = parameters(seed: 13)
        for dead in [[0, 7], [1, 3, 4, 6, 8, 9]] {
            let mask = (0..<features).map { dead.contains($0) }
            var results: [[Float]] = []
            for leaveTransposed in [false, true] {
                let w = SAEWorkspace(batch: rows, d: d, features: features)
                var g = p.zeros()
                x.withUnsafeBufferPointer { x in
                    _ = SAEMath.forward(p, x.baseAddress!, rows: rows, activation: .topK(2), form: .unitNormDecoder, workspace: w, mode: .sparse)
                    let residual = (0..<(rows * d)).map { -w.errors(rows: rows)[$0] }
                    SAEMath.backward(p, x.baseAddress!, rows: rows, activation: .topK(2), form: .unitNormDecoder, lambda: 0, workspace: w,
                                     into: &g, mayLeaveEncoderGradientTransposed: leaveTransposed)
                    residual.withUnsafeBufferPointer { residual in
                        withUnsafeMutablePointer(to: &g) {
                            _ = AuxiliaryLoss.add(p, rows: rows, residual: residual.baseAddress!, dead: mask, coefficient: 0.8, workspace: w, into: $0)
                        }
                    }
                }
                XCTAssertEqual(w.encoderGradientTransposed, leaveTransposed)
                if leaveTransposed {
                    XCTAssertEqual(g.wEnc, [Float](repeating: 0, count: d * features), "left unwritten")
                    results.append((0..<(d * features)).map { index in w.transposedGradient[(index % features) * d + index / features] })
                } else {
                    results.append(g.wEnc)
                }
            }
            XCTAssertTrue(results[0].contains { $0 != 0 })
            XCTAssertEqual(results[1], results[0], "\(dead.count) dead")
        }
    }

    func testJumpReLUWeightsAndThresholdEstimator() {
        check(.jumpReLU(bandwidth: 0.05), .unitNormDecoder, names: ["W_enc", "b_enc", "W_dec", "b_dec"], threshold: 0.05)
        // The threshold's gradient is a straight-through estimate: check it against its definition.
        let (lambda, bandwidth): (Float, Float) = (0.3, 0.5)
        var p = parameters(seed: 11, threshold: 0.05)
        p.threshold = (0..<features).map { Float(0.02 + 0.01 * Double($0)) }
        let x = batch(seed: 5)
        let w = SAEWorkspace(batch: rows, d: d, features: features)
        var g = p
        x.withUnsafeBufferPointer { buffer in
            _ = SAEMath.forward(p, buffer.baseAddress!, rows: rows, activation: .jumpReLU(bandwidth: bandwidth), form: .unitNormDecoder, workspace: w)
            SAEMath.backward(p, buffer.baseAddress!, rows: rows, activation: .jumpReLU(bandwidth: bandwidth), form: .unitNormDecoder,
                             lambda: lambda, workspace: w, into: &g)
        }
        // Independent scalar recomputation in double.
        var expected = [Double](repeating: 0, count: features)
        for r in 0..<rows {
            var pre = [Double](repeating: 0, count: features)
            for i in 0..<features {
                pre[i] = Double(p.bEnc[i])
                for j in 0..<d { pre[i] += Double(x[r * d + j] - p.bDec[j]) * Double(p.wEnc[j * features + i]) }
            }
            let theta = p.threshold.map { Double($0) }
            var xhat = p.bDec.map(Double.init)
            for i in 0..<features where pre[i] > theta[i] { for j in 0..<d { xhat[j] += pre[i] * Double(p.wDec[i * d + j]) } }
            for i in 0..<features where abs(pre[i] - theta[i]) < Double(bandwidth) / 2 {
                var dfi = 0.0
                for j in 0..<d { dfi += 2 / Double(rows) * (xhat[j] - Double(x[r * d + j])) * Double(p.wDec[i * d + j]) }
                expected[i] += -(dfi * theta[i] + Double(lambda) / Double(rows)) / Double(bandwidth)
            }
        }
        XCTAssertTrue(expected.contains { $0 != 0 }, "some pre-activations fall inside the kernel")
        for i in 0..<features { XCTAssertEqual(Double(g.threshold[i]), expected[i], accuracy: 1e-4) }
    }

    func testTopKKeepsExactlyKLargest() {
        var generator = SplitMix64(seed: 9)
        let p = parameters(seed: 3)
        let x = (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 4 - 2) }
        let w = SAEWorkspace(batch: rows, d: d, features: features)
        _ = x.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: .topK(4), form: .unitNormDecoder, workspace: w) }
        let f = w.activations
        let relu = SAEWorkspace(batch: rows, d: d, features: features)
        _ = x.withUnsafeBufferPointer { SAEMath.forward(p, $0.baseAddress!, rows: rows, activation: .relu, form: .unitNormDecoder, workspace: relu) }
        for r in 0..<rows {
            let pre = Array(relu.activations[(r * features)..<((r + 1) * features)])
            let wanted = Set(pre.enumerated().sorted { $0.element > $1.element }.prefix(4).filter { $0.element > 0 }.map(\.offset))
            let kept = Set((0..<features).filter { f[r * features + $0] != 0 })
            XCTAssertEqual(kept, wanted)
        }
    }

    /// The sparse path (active features only) gives the dense path's loss and gradients.
    func testSparsePathMatchesDense() {
        let (d, features, rows) = (24, 96, 40)
        var generator = SplitMix64(seed: 21)
        let x = (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }
        var p = SAEParameters.initialized(d: d, features: features, seed: 2, decoderNorm: 0.9)
        p.bEnc = (0..<features).map { _ in Float(generator.nextUnit() * 0.3 - 0.25) }
        p.bDec = (0..<d).map { _ in Float(generator.nextUnit() * 0.2 - 0.1) }
        for i in p.wDec.indices { p.wDec[i] *= Float(0.5 + generator.nextUnit()) }
        for (activation, form) in [(SAEActivation.relu, SparsityForm.unitNormDecoder), (.relu, .decoderNormWeighted), (.topK(5), .unitNormDecoder), (.batchTopK(5), .unitNormDecoder)] {
            var results: [(SAEBatchStats, SAEGradients)] = []
            for mode in [ComputeMode.dense, .sparse] {
                let w = SAEWorkspace(batch: rows, d: d, features: features)
                var g = p
                let stats = x.withUnsafeBufferPointer { buffer -> SAEBatchStats in
                    let stats = SAEMath.forward(p, buffer.baseAddress!, rows: rows, activation: activation, form: form, workspace: w, mode: mode)
                    SAEMath.backward(p, buffer.baseAddress!, rows: rows, activation: activation, form: form, lambda: 0.7, workspace: w, into: &g)
                    return stats
                }
                XCTAssertEqual(w.usedSparse, mode == .sparse)
                results.append((stats, g))
            }
            let (dense, sparse) = (results[0], results[1])
            XCTAssertGreaterThan(dense.0.l0, 0)
            XCTAssertLessThan(dense.0.l0, Double(features) / 2, "the batch is sparse enough to matter")
            XCTAssertEqual(sparse.0.l0, dense.0.l0)
            XCTAssertEqual(sparse.0.loss(lambda: 0.7), dense.0.loss(lambda: 0.7), accuracy: 1e-5 * dense.0.loss(lambda: 0.7))
            for name in p.tensorNames {
                let scale = max(1e-6, dense.1[name].map { abs($0) }.max()!)
                let difference = zip(sparse.1[name], dense.1[name]).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(difference, 1e-5 * scale, "\(activation.name) \(form) \(name)")
            }
        }
    }
}

extension SAEBatchStats {
    func loss(lambda: Double) -> Double { reconstruction + lambda * sparsity }
}
