import Foundation
import SAEPipeCore
@testable import SAEPipeSAE
import XCTest

/// The optional training aids bench quality measures: the decoder bias's start, the decoder
/// gradient's projection and k annealing.
final class TrainingOptionsTests: XCTestCase {
    func syntheticDataset(rows: Int, d: Int, atoms: Int, maxValidationRows: Int) throws -> ActivationDataset {
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: atoms, perRow: 3, seed: 4, to: "\(directory)/acts")
        return try ActivationDataset(directory: "\(directory)/acts", validationFraction: 0.1, maxValidationRows: maxValidationRows, seed: 1)
    }

    func testGeometricMedianOfOneDimensionIsTheMedianAndOfManyMeetsWeiszfeldsCondition() {
        // In one dimension the geometric median is the ordinary median: an independent answer.
        let values: [Float] = [9, -3, 0.5, 100, 2, 7, -40]
        let median = values.withUnsafeBufferPointer { DecoderBiasStart.geometricMedian($0.baseAddress!, count: values.count, d: 1, iterations: 500) }
        XCTAssertEqual(median[0], values.sorted()[values.count / 2], accuracy: 1e-3)

        // In several dimensions the unit vectors from the median to the points sum to (nearly) zero.
        var generator = SplitMix64(seed: 3)
        let (count, d) = (301, 5)
        let rows = (0..<(count * d)).map { index -> Float in
            let heavyTail = index % 7 == 0 ? 20.0 : 1.0  // outliers pull the mean, not the median
            return Float((generator.nextUnit() * 2 - 1) * heavyTail + Double(index % d))
        }
        let m = rows.withUnsafeBufferPointer { DecoderBiasStart.geometricMedian($0.baseAddress!, count: count, d: d, iterations: 1000, tolerance: 1e-12) }
        var pull = [Double](repeating: 0, count: d)
        for r in 0..<count {
            let difference = (0..<d).map { Double(rows[r * d + $0] - m[$0]) }
            let distance = difference.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { pull[j] += difference[j] / distance }
        }
        XCTAssertLessThan(pull.reduce(0) { $0 + $1 * $1 }.squareRoot() / Double(count), 1e-3)
        let mean = rows.withUnsafeBufferPointer { DecoderBiasStart.mean($0.baseAddress!, count: count, d: d) }
        for j in 0..<d {
            let direct = (0..<count).reduce(0.0) { $0 + Double(rows[$1 * d + j]) } / Double(count)
            XCTAssertEqual(Double(mean[j]), direct, accuracy: 1e-5)
        }
    }

    func testDecoderGradientProjectionLeavesOnlyTheComponentOrthogonalToEachRow() {
        var p = SAEParameters.initialized(d: 7, features: 9, seed: 2, decoderNorm: 0.5)
        var generator = SplitMix64(seed: 8)
        var g = p
        g.wDec = p.wDec.map { _ in Float(generator.nextUnit() * 2 - 1) }
        p.wDec[3 * 7] = 2  // a row that is not unit length
        let before = g.wDec
        SAEMath.removeDecoderGradientAlongRows(p, &g)
        for row in 0..<9 {
            let w = Array(p.wDec[(row * 7)..<(row * 7 + 7)]), after = Array(g.wDec[(row * 7)..<(row * 7 + 7)])
            let original = Array(before[(row * 7)..<(row * 7 + 7)])
            let dot = zip(w, after).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(dot, 0, accuracy: 1e-5)
            // What was removed is a multiple of the row itself.
            let removed = zip(original, after).map { $0 - $1 }
            let norm = w.reduce(Float(0)) { $0 + $1 * $1 }
            let factor = zip(original, w).reduce(Float(0)) { $0 + $1.0 * $1.1 } / norm
            for j in 0..<7 { XCTAssertEqual(removed[j], factor * w[j], accuracy: 1e-5) }
        }
    }

    func testKAnnealsLinearlyToTheConfiguredKAndLeavesOtherActivationsAlone() {
        var s = TrainSettings.defaults
        s.activation = .batchTopK(32)
        XCTAssertEqual(s.trainingActivation(step: 0, total: 100, features: 1000), .batchTopK(32))
        s.kAnnealStart = 4
        s.kAnnealFraction = 0.5
        XCTAssertEqual(s.trainingActivation(step: 0, total: 100, features: 1000), .batchTopK(128))
        XCTAssertEqual(s.trainingActivation(step: 25, total: 100, features: 1000), .batchTopK(80))
        XCTAssertEqual(s.trainingActivation(step: 49, total: 100, features: 1000), .batchTopK(34))
        XCTAssertEqual(s.trainingActivation(step: 50, total: 100, features: 1000), .batchTopK(32))
        XCTAssertEqual(s.trainingActivation(step: 99, total: 100, features: 1000), .batchTopK(32))
        // Never more than every feature.
        XCTAssertEqual(s.trainingActivation(step: 0, total: 100, features: 100), .batchTopK(100))
        XCTAssertEqual(s.trainingActivation(step: 25, total: 100, features: 100), .batchTopK(66))
        s.activation = .topK(8)
        XCTAssertEqual(s.trainingActivation(step: 25, total: 100, features: 1000), .topK(20))
        s.activation = .relu
        XCTAssertEqual(s.trainingActivation(step: 0, total: 100, features: 1000), .relu)
    }

    func testTheDecoderBiasStartsWhereTheConfigSays() throws {
        let data = try syntheticDataset(rows: 1024, d: 8, atoms: 16, maxValidationRows: 128)
        var s = TrainSettings.defaults
        s.dSAE = 16
        s.decoderBiasInit = .mean
        let trainer = Trainer(dataset: data, settings: s, checkpointDirectory: nil)
        let state = trainer.freshState()
        // Every training row (1024 < the sample size), scaled as training scales them.
        var rows = [Float](repeating: 0, count: data.training.count * 8)
        rows.withUnsafeMutableBufferPointer { data.gather(data.training[...], scale: state.scale, into: $0.baseAddress!) }
        for j in 0..<8 {
            let mean = (0..<data.training.count).reduce(0.0) { $0 + Double(rows[$1 * 8 + j]) } / Double(data.training.count)
            XCTAssertEqual(Double(state.parameters.bDec[j]), mean, accuracy: 1e-5)
        }
        s.decoderBiasInit = .zeros
        XCTAssertEqual(Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState().parameters.bDec, [Float](repeating: 0, count: 8))
    }

    func testBatchTopKHeldOutPointsWhileKAnnealsEncodeNearTheCurrentK() throws {
        let data = try syntheticDataset(rows: 4096, d: 16, atoms: 48, maxValidationRows: 256)
        var s = TrainSettings.defaults
        s.dSAE = 128
        s.activation = .batchTopK(4)
        s.kAnnealStart = 8
        s.kAnnealFraction = 0.5
        s.batchSize = 64
        s.tokens = 64 * 200
        s.lr = 3e-3
        s.validateEvery = 20
        s.logEvery = 20
        var trainer = Trainer(dataset: data, settings: s, checkpointDirectory: nil)
        trainer.console = Console(verbosity: .quiet)
        let result = try trainer.train()
        let points = result.metrics.rows.compactMap { row -> (step: Int, l0: Double)? in
            guard let step = row[.step], let l0 = row[.heldoutL0] else { return nil }
            return (Int(step), l0)
        }
        XCTAssertEqual(points.count, 10)
        for point in points {
            // Every point encodes with a threshold (a ReLU encoding fires on about half the 128 features);
            // the threshold trails a falling k, so allow twice the k of that step.
            guard case .batchTopK(let k) = s.trainingActivation(step: point.step - 1, total: 200, features: 128) else { return XCTFail() }
            XCTAssertLessThan(point.l0, Double(2 * k), "step \(point.step)")
        }
        // The saved threshold averages the final k only: the SAE encodes near k = 4.
        XCTAssertEqual(result.validation.l0, 4, accuracy: 1.5)
    }
}
