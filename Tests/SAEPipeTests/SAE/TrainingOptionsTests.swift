import Foundation
import SAEPipeCore
@testable import SAEPipeSAE
import XCTest

/// The optional training aids bench quality measures: the decoder bias's and rows' start, the
/// decoder gradient's projection and k annealing.
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

    func testDistinctIndicesAreDistinctInRangeSortedAndReproducible() {
        for (count, population) in [(0, 5), (1, 1), (7, 7), (50, 60), (300, 100_000)] {
            var generator = SplitMix64(seed: 11)
            let drawn = DecoderRowsStart.distinctIndices(count, below: population, generator: &generator)
            XCTAssertEqual(drawn.count, count)
            XCTAssertEqual(Set(drawn).count, count, "distinct")
            XCTAssertEqual(drawn, drawn.sorted())
            XCTAssertTrue(drawn.allSatisfy { (0..<population).contains($0) })
            var again = SplitMix64(seed: 11)
            XCTAssertEqual(DecoderRowsStart.distinctIndices(count, below: population, generator: &again), drawn)
        }
        // Uniform: over many draws of 3 from 10, every index turns up about 30% of the time.
        var generator = SplitMix64(seed: 5)
        var hits = [Int](repeating: 0, count: 10)
        for _ in 0..<20_000 { for index in DecoderRowsStart.distinctIndices(3, below: 10, generator: &generator) { hits[index] += 1 } }
        for count in hits { XCTAssertEqual(Double(count) / 20_000, 0.3, accuracy: 0.02) }
    }

    func testDecoderRowsStartAtDistinctTrainingRowsLessTheBias() throws {
        let data = try syntheticDataset(rows: 1024, d: 8, atoms: 16, maxValidationRows: 128)
        var s = TrainSettings.defaults
        s.dSAE = 40
        s.decoderBiasInit = .mean
        s.decoderWeightInit = .trainingRows
        let state = Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState()
        s.decoderWeightInit = .random
        let random = Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState()
        var rows = [Float](repeating: 0, count: data.training.count * 8)
        rows.withUnsafeMutableBufferPointer { data.gather(data.training[...], scale: state.scale, into: $0.baseAddress!) }
        let p = state.parameters
        var matched = Set<Int>()
        for feature in 0..<40 {
            let w = (0..<8).map { Double(p.wDec[feature * 8 + $0]) }
            let e = (0..<8).map { Double(p.wEnc[$0 * 40 + feature]) }
            let norm = { (v: [Double]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            // Each keeps the norm the random start gave it: unit decoder rows, the encoder at decoder_init_norm.
            XCTAssertEqual(norm(w), 1, accuracy: 1e-5)
            XCTAssertEqual(norm(e), Double(s.decoderInitNorm), accuracy: 1e-6)
            // The decoder row and encoder column point the same way, along one training row less b_dec.
            let best = (0..<data.training.count).max { a, b in
                let cosine = { (r: Int) -> Double in
                    let v = (0..<8).map { Double(rows[r * 8 + $0] - p.bDec[$0]) }
                    return zip(v, w).reduce(0) { $0 + $1.0 * $1.1 } / max(norm(v), 1e-30)
                }
                return cosine(a) < cosine(b)
            }!
            let v = (0..<8).map { Double(rows[best * 8 + $0] - p.bDec[$0]) }
            XCTAssertEqual(zip(v, w).reduce(0) { $0 + $1.0 * $1.1 } / norm(v), 1, accuracy: 1e-5)
            XCTAssertEqual(zip(e, w).reduce(0) { $0 + $1.0 * $1.1 } / norm(e), 1, accuracy: 1e-5)
            matched.insert(best)
        }
        XCTAssertEqual(matched.count, 40, "each feature starts at a different row")
        XCTAssertNotEqual(p.wDec, random.parameters.wDec)
        XCTAssertEqual(p.bDec, random.parameters.bDec)
        // Reproducible from the seed.
        s.decoderWeightInit = .trainingRows
        XCTAssertEqual(Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState().parameters, p)
    }

    func testWithFewerTrainingRowsThanFeaturesTheRestKeepTheirRandomDirections() throws {
        let data = try syntheticDataset(rows: 40, d: 8, atoms: 16, maxValidationRows: 4)
        var s = TrainSettings.defaults
        s.dSAE = 64
        s.decoderWeightInit = .trainingRows
        let fromRows = Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState().parameters
        s.decoderWeightInit = .random
        let random = Trainer(dataset: data, settings: s, checkpointDirectory: nil).freshState().parameters
        let rowsUsed = data.training.count
        XCTAssertLessThan(rowsUsed, 64)
        for feature in 0..<64 {
            let same = fromRows.wDec[(feature * 8)..<(feature * 8 + 8)] == random.wDec[(feature * 8)..<(feature * 8 + 8)]
            XCTAssertEqual(same, feature >= rowsUsed, "feature \(feature)")
        }
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
