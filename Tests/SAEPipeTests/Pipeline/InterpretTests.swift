import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeSAE
import XCTest

/// Feature statistics and logit attribution against independent computations.
final class InterpretTests: XCTestCase {
    func testFeatureStatisticsMatchDirectLoops() throws {
        let directory = try temporaryDirectory(self)
        let (rows, d, F) = (500, 8, 24)
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: 10, perRow: 2, seed: 8, to: directory)
        let dataset = try ActivationDataset(directory: directory, validationFraction: 0, maxValidationRows: 1, seed: 0)
        var p = SAEParameters.initialized(d: d, features: F, seed: 3, decoderNorm: 1)
        p.bEnc = (0..<F).map { -Float($0 % 4) * 0.4 }
        let stats = FeatureStatistics.compute(p, activation: .relu, dataset: dataset, topK: 3, reservoirSize: 16, seed: 1, batchSize: 64)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/acts.mmap")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var activations = [[Double]](repeating: [], count: F)
        for r in 0..<rows {
            for i in 0..<F {
                var pre = Double(p.bEnc[i])
                for j in 0..<d { pre += Double(data[r * d + j] - p.bDec[j]) * Double(p.wEnc[j * F + i]) }
                activations[i].append(max(pre, 0))
            }
        }
        for i in 0..<F {
            let values = activations[i]
            XCTAssertEqual(stats.counts[i], values.filter { $0 > 0 }.count, "feature \(i)")
            XCTAssertEqual(stats.means[i], values.reduce(0, +) / Double(rows), accuracy: 1e-5)
            XCTAssertEqual(Double(stats.maxima[i]), values.max()!, accuracy: 1e-4)
            let expectedTop = values.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(3).map(\.offset)
            XCTAssertEqual(stats.top[i].map(\.row), expectedTop, "feature \(i)")
            XCTAssertEqual(stats.reservoir[i].count, min(16, stats.counts[i]))
            for example in stats.reservoir[i] { XCTAssertGreaterThan(values[example.row], 0) }
        }
        XCTAssertTrue(stats.counts.contains { $0 > 16 }, "some reservoirs overflow and are sampled")
    }

    func testLogitExtremes() {
        let row: [Float] = [0.5, -2, 3, 3.5, -7, 0, 1, -2.5]
        row.withUnsafeBufferPointer { buffer in
            XCTAssertEqual(LogitAttribution.extremes(buffer, count: 3, largest: true).map(\.token), [3, 2, 6])
            XCTAssertEqual(LogitAttribution.extremes(buffer, count: 2, largest: false).map(\.token), [4, 7])
        }
    }
}
