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
        let losses = try SplicedLoss.measure(
            model: model, tokens: tokens, hook: hook, saes: [.A: (identitySAE(d: 64), .relu), .B: (zero, .relu)], batchSize: 4)
        // Independent: the full model's token NLL, and the same with mlp_out zeroed.
        let clean = try model.forward(tokens, ForwardRequest(outputs: [.tokenNLL])).tokenNLL!
        let zeroed = try model.forward(tokens, ForwardRequest(intervene: [hook], intervention: { _, _, b in b.update(repeating: 0) },
                                                              outputs: [.tokenNLL])).tokenNLL!
        let mean = { (values: [Float]) in values.reduce(0.0) { $0 + Double($1) } / Double(values.count) }
        XCTAssertEqual(losses.clean, mean(clean), accuracy: 1e-5)
        XCTAssertEqual(losses.zero, mean(zeroed), accuracy: 1e-5)
        XCTAssertNotEqual(losses.clean, losses.zero)
        XCTAssertEqual(losses.sae[.A]!, losses.clean, "the identity SAE changes nothing")
        XCTAssertEqual(losses.sae[.B]!, losses.zero, "an SAE that reconstructs zeros is the zero ablation")
        let metrics = EvalResults.PairMetrics(reconstruction: SAEEvaluation(mse: 0, fve: 1, l0: 0, l1: 0, deadFraction: 0, rows: 1),
                                            denseFraction: 0, ceClean: losses.clean, ceSAE: losses.sae[.A]!, ceZero: losses.zero)
        XCTAssertEqual(metrics.ceRecovered, 1)
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

    func testTablesQuoteCSVAndEscapeMarkdown() {
        let table = Table(header: ["name", "note"], rows: [["a,b", "say \"hi\""], ["x|y", "two\nlines"]])
        XCTAssertEqual(table.csv(), "name,note\r\n\"a,b\",\"say \"\"hi\"\"\"\r\nx|y,\"two\nlines\"\r\n")
        XCTAssertEqual(table.markdown(), "| name | note |\n|---|---|\n| a,b | say \"hi\" |\n| x\\|y | two<br>lines |\n")
    }
}
