import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// eval's metrics against values computed independently here, on the tiny GPT-NeoX model
/// and hand-made SAEs whose answers are known.
final class EvalTests: XCTestCase {
    /// f = [ReLU(x), ReLU(−x)], x̂ = ReLU(x) − ReLU(−x) = x exactly.
    func identitySAE(d: Int) -> SAEParameters {
        var wEnc = [Float](repeating: 0, count: d * 2 * d)
        var wDec = [Float](repeating: 0, count: 2 * d * d)
        for j in 0..<d {
            wEnc[j * 2 * d + j] = 1
            wEnc[j * 2 * d + d + j] = -1
            wDec[j * d + j] = 1
            wDec[(d + j) * d + j] = -1
        }
        return SAEParameters(d: d, features: 2 * d, wEnc: wEnc, bEnc: [Float](repeating: 0, count: 2 * d), wDec: wDec,
                             bDec: [Float](repeating: 0, count: d))
    }

    func testSplicedLossIsExactForIdentityAndZeroSAEs() throws {
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        var generator = SplitMix64(seed: 2)
        let tokens = TokenBatch(ids: (0..<(6 * 16)).map { _ in Int32(generator.next() % 512) }, batch: 6, seqLen: 16)
        let hook = HookPoint(layer: 1, site: .mlpOut)
        var zero = identitySAE(d: 64)
        zero.wDec = [Float](repeating: 0, count: zero.wDec.count)
        let windows = try SplicedLoss.measure(
            model: model, tokens: tokens, hook: hook, saes: [.A: (identitySAE(d: 64), .relu), .B: (zero, .relu)], batchSize: 4)
        XCTAssertEqual(windows.count, 6, "one entry per window")
        // Independent: the full model's token NLL, and the same with mlp_out zeroed.
        let clean = try model.forward(tokens, ForwardRequest(outputs: [.tokenNLL])).tokenNLL!
        let zeroed = try model.forward(tokens, ForwardRequest(intervene: [hook], intervention: { _, _, b in b.update(repeating: 0) },
                                                              outputs: [.tokenNLL])).tokenNLL!
        for (w, window) in windows.enumerated() {
            let slice = { (values: [Float]) in values[(w * 15)..<((w + 1) * 15)].reduce(0.0) { $0 + Double($1) } }
            XCTAssertEqual(window.clean, slice(clean), accuracy: 1e-4)
            XCTAssertEqual(window.zero, slice(zeroed), accuracy: 1e-4)
            XCTAssertEqual(window.sae[.A]!, window.clean, accuracy: 1e-9, "the identity SAE changes nothing")
            XCTAssertEqual(window.sae[.B]!, window.zero, accuracy: 1e-9, "an SAE that reconstructs zeros is the zero ablation")
            XCTAssertEqual(window.klSAE[.A]!, 0, accuracy: 1e-6)
            XCTAssertEqual(window.klSAE[.B]!, window.klZero, accuracy: 1e-9)
        }
        // KL of the zero ablation against a direct double-precision loop over both softmaxes.
        let cleanLogits = try model.forward(tokens, ForwardRequest(outputs: [.allLogits])).allLogits!
        let zeroLogits = try model.forward(tokens, ForwardRequest(intervene: [hook], intervention: { _, _, b in b.update(repeating: 0) },
                                                                  outputs: [.allLogits])).allLogits!
        func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
            let top = Double(row.max()!)
            let total = row.reduce(0.0) { $0 + exp(Double($1) - top) }
            return row.map { Double($0) - top - log(total) }
        }
        var expected = 0.0
        for token in 0..<16 {  // window 0's positions
            let p = logSoftmax(cleanLogits[(token * 512)..<((token + 1) * 512)])
            let q = logSoftmax(zeroLogits[(token * 512)..<((token + 1) * 512)])
            expected += zip(p, q).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        }
        XCTAssertEqual(windows[0].klZero, expected, accuracy: 1e-4 * max(1, expected))
        XCTAssertGreaterThan(expected, 0)
        let identity = LossMetrics(windows, side: .A), zeroSAE = LossMetrics(windows, side: .B)
        XCTAssertEqual(identity.ceRecovered, 1, accuracy: 1e-12)
        XCTAssertEqual(identity.klScore, 1, accuracy: 1e-6)
        XCTAssertEqual(zeroSAE.ceRecovered, 0, accuracy: 1e-12)
        XCTAssertEqual(zeroSAE.klScore, 0, accuracy: 1e-9)
    }
    func testReconstructionMetricsMatchAnIndependentComputation() throws {
        let directory = try temporaryDirectory(self)
        let (rows, d) = (300, 8)
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: 12, perRow: 2, seed: 3, to: directory)
        let dataset = try ActivationDataset(directory: directory, validationFraction: 0.5, maxValidationRows: 1000, seed: 0)
        XCTAssertEqual(SAEEvaluator.evaluate(identitySAE(d: d), activation: .relu, dataset: dataset, rows: dataset.validation, batchSize: 64).fve, 1)
        var p = SAEParameters.initialized(d: d, features: 20, seed: 5, decoderNorm: 1)
        p.bEnc = (0..<20).map { Float($0 % 3) * -0.3 }
        p.bDec = (0..<d).map { Float($0) * 0.01 }
        let got = SAEEvaluator.evaluate(p, activation: .relu, dataset: dataset, rows: dataset.validation, batchSize: 37)
        // Independent double-precision loops over the same rows.
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/acts.mmap")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var squared = 0.0, l0 = 0.0, l1 = 0.0
        var fired = Set<Int>()
        var means = [Double](repeating: 0, count: d)
        for r in dataset.validation { for j in 0..<d { means[j] += Double(data[r * d + j]) / Double(dataset.validation.count) } }
        var variance = 0.0
        for r in dataset.validation {
            var f = [Double](repeating: 0, count: 20)
            for i in 0..<20 {
                var pre = Double(p.bEnc[i])
                for j in 0..<d { pre += (Double(data[r * d + j]) - Double(p.bDec[j])) * Double(p.wEnc[j * 20 + i]) }
                f[i] = max(pre, 0)
                if f[i] > 0 { l0 += 1; l1 += f[i]; fired.insert(i) }
            }
            for j in 0..<d {
                var xhat = Double(p.bDec[j])
                for i in 0..<20 { xhat += f[i] * Double(p.wDec[i * d + j]) }
                squared += (xhat - Double(data[r * d + j])) * (xhat - Double(data[r * d + j]))
                variance += (Double(data[r * d + j]) - means[j]) * (Double(data[r * d + j]) - means[j])
            }
        }
        let n = Double(dataset.validation.count)
        XCTAssertEqual(got.mse, squared / (n * Double(d)), accuracy: 1e-5 * squared / (n * Double(d)))
        XCTAssertEqual(got.fve, 1 - squared / variance, accuracy: 1e-5)
        XCTAssertEqual(got.l0, l0 / n, accuracy: 1e-9)
        XCTAssertEqual(got.l1, l1 / n, accuracy: 1e-4 * l1 / n)
        XCTAssertEqual(got.deadFraction, Double(20 - fired.count) / 20, accuracy: 1e-12)
        let frequencies = SAEEvaluator.firingFrequencies(p, activation: .relu, dataset: dataset, rows: dataset.validation, batchSize: 37)
        XCTAssertEqual(frequencies.reduce(0, +) * n, l0, accuracy: 1e-6)
    }

    /// SAEBench's core metrics from per-window sums, against direct loops over the same rows.
    func testCoreMetricSuiteMatchesDirectLoops() throws {
        let directory = try temporaryDirectory(self)
        let (rows, d, F) = (320, 8, 20)
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: 12, perRow: 2, seed: 7, to: directory)
        let dataset = try ActivationDataset(directory: directory, validationFraction: 0.5, maxValidationRows: 1000, seed: 1)
        var p = SAEParameters.initialized(d: d, features: F, seed: 9, decoderNorm: 1)
        p.bEnc = (0..<F).map { Float($0 % 4) * -0.2 }
        let units = dataset.validationUnits
        XCTAssertEqual(units.flatMap { $0 }.sorted(), dataset.validation, "units partition the held-out rows")
        let sums = SAEEvaluator.unitSums(p, activation: .relu, dataset: dataset, units: units, batchSize: 29)
        let got = ReconstructionMetrics(sums.units, denseThreshold: 0.3)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/acts.mmap")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var cosine = 0.0, ratio = 0.0, hatSquares = 0.0, dot = 0.0
        var counts = [Int](repeating: 0, count: F)
        for r in dataset.validation {
            let x = (0..<d).map { Double(data[r * d + $0]) }
            var f = [Double](repeating: 0, count: F)
            for i in 0..<F {
                var pre = Double(p.bEnc[i])
                for j in 0..<d { pre += (x[j] - Double(p.bDec[j])) * Double(p.wEnc[j * F + i]) }
                f[i] = max(pre, 0)
                if f[i] > 0 { counts[i] += 1 }
            }
            let xhat = (0..<d).map { j in (0..<F).reduce(Double(p.bDec[j])) { $0 + f[$1] * Double(p.wDec[$1 * d + j]) } }
            let (nx, nh) = (sqrt(x.reduce(0) { $0 + $1 * $1 }), sqrt(xhat.reduce(0) { $0 + $1 * $1 }))
            let xh = zip(x, xhat).reduce(0) { $0 + $1.0 * $1.1 }
            cosine += xh / (nx * nh)
            ratio += nh / nx
            hatSquares += nh * nh
            dot += xh
        }
        let n = Double(dataset.validation.count)
        let frequencies = counts.map { Double($0) / n }
        XCTAssertEqual(got.cosineSimilarity, cosine / n, accuracy: 1e-6)
        XCTAssertEqual(got.l2Ratio, ratio / n, accuracy: 1e-6)
        XCTAssertEqual(got.relativeReconstructionBias, hatSquares / dot, accuracy: 1e-6)
        XCTAssertEqual(got.fracFiringAbove1Percent, Double(frequencies.filter { $0 > 0.01 }.count) / Double(F), accuracy: 1e-12)
        XCTAssertEqual(got.fracFiringAbove10Percent, Double(frequencies.filter { $0 > 0.1 }.count) / Double(F), accuracy: 1e-12)
        XCTAssertEqual(got.denseFraction, Double(frequencies.filter { $0 > 0.3 }.count) / Double(F), accuracy: 1e-12)
        XCTAssertEqual(got.fve, SAEEvaluator.evaluate(p, activation: .relu, dataset: dataset, rows: dataset.validation, batchSize: 64).fve,
                       accuracy: 1e-6)
        XCTAssertEqual(sums.l0Histogram.reduce(0, +), dataset.validation.count)

        // Bootstrap: each resample draws as many units as there are, seeded; intervals hold the estimate.
        let weights = Bootstrap.weights(units: units.count, count: 200, seed: 3)
        XCTAssertTrue(weights.allSatisfy { $0.reduce(0, +) == units.count })
        XCTAssertEqual(weights, Bootstrap.weights(units: units.count, count: 200, seed: 3))
        XCTAssertNotEqual(weights, Bootstrap.weights(units: units.count, count: 200, seed: 4))
        XCTAssertEqual(ReconstructionMetrics(sums.units, weights: [Int](repeating: 1, count: units.count), denseThreshold: 0.3), got)
        let oneByOne = weights.map { ReconstructionMetrics(sums.units, weights: $0, denseThreshold: 0.3) }
        XCTAssertEqual(ReconstructionMetrics.resampled(sums.units, weights: weights, denseThreshold: 0.3), oneByOne,
                       "the matrix product gives the same firing totals as the loop")
        let interval = Bootstrap.interval(oneByOne.map(\.fve))!
        XCTAssertLessThan(interval[0], got.fve)
        XCTAssertGreaterThan(interval[1], got.fve)
        XCTAssertEqual(Bootstrap.interval((0...100).map(Double.init)), [2.5, 97.5].map { $0.rounded() })
    }

    /// A feature's ablation effect against the same change made by hand: with the identity SAE,
    /// removing feature j zeroes the positive part of dimension j of mlp_out.
    func testFeatureAblationMatchesADirectIntervention() throws {
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let hook = HookPoint(layer: 0, site: .mlpOut)
        var generator = SplitMix64(seed: 5)
        let windows = (0..<3).map { _ in (0..<16).map { _ in Int32(generator.next() % 512) } }
        let contexts = windows.enumerated().map { FeatureAblation.Context(tokens: $1, position: 3 + 4 * $0) }
        let (j, shortWindow) = (5, FeatureAblation.Context(tokens: Array(windows[0].prefix(10)), position: 2))
        let effects = try FeatureAblation.measure(
            model: model, hook: hook, sae: identitySAE(d: 64), activation: .relu, contexts: [j: contexts + [shortWindow]])
        var expected: [Double] = []
        for context in contexts + [shortWindow] {
            let batch = TokenBatch(ids: context.tokens, batch: 1, seqLen: context.tokens.count)
            let clean = try model.forward(batch, ForwardRequest(outputs: [.tokenNLL])).tokenNLL!
            let ablated = try model.forward(batch, ForwardRequest(intervene: [hook], intervention: { _, _, buffer in
                for row in 0..<(buffer.count / 64) where buffer[row * 64 + j] > 0 { buffer[row * 64 + j] = 0 }
            }, outputs: [.tokenNLL])).tokenNLL!
            expected.append(Double(ablated[context.position]) - Double(clean[context.position]))
        }
        let effect = try XCTUnwrap(effects[j])
        XCTAssertEqual(effect.contexts, 4, "windows of two lengths, all measured")
        XCTAssertEqual(effect.meanLossChange, expected.reduce(0, +) / 4, accuracy: 1e-5)
        XCTAssertNotEqual(effect.meanLossChange, 0)
    }

    /// A ratio over a zero-ablation effect is reported only when that effect is clearly measured.
    func testRatiosNeedAMeasurableDenominator() {
        XCTAssertNil(Measurability.problem(effect: 0.2, interval: [0.17, 0.23], what: "effect"))
        XCTAssertNotNil(Measurability.problem(effect: 0.07, interval: [-0.01, 0.15], what: "effect"), "interval includes 0")
        XCTAssertNotNil(Measurability.problem(effect: 0.07, interval: [0.01, 0.13], what: "effect"), "half-width 0.06 > 0.07/3")
        XCTAssertNotNil(Measurability.problem(effect: -0.01, interval: [-0.02, 0.0], what: "effect"))
        XCTAssertNotNil(Measurability.problem(effect: 0.2, interval: nil, what: "effect"))
    }

    func testTablesQuoteCSVAndEscapeMarkdown() {
        let table = Table(header: ["name", "note"], rows: [["a,b", "say \"hi\""], ["x|y", "two\nlines"]])
        XCTAssertEqual(table.csv(), "name,note\r\n\"a,b\",\"say \"\"hi\"\"\"\r\nx|y,\"two\nlines\"\r\n")
        XCTAssertEqual(table.markdown(), "| name | note |\n|---|---|\n| a,b | say \"hi\" |\n| x\\|y | two<br>lines |\n")
    }
}
