import Foundation
@testable import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// The feature store's file format, and its per-token activations, histograms and neighbours
/// against direct loops.
final class FeatureStoreTests: XCTestCase {
    func testIndexedRecordsRoundTripAndLoadOneAtATime() throws {
        let path = try temporaryDirectory(self) + "/records.bin"
        let records = (0..<50).map { i in Data(String(repeating: "record \(i) ", count: i * 7).utf8) }
        try IndexedRecordFile.write(header: Data("{\"h\":1}".utf8), records: records, to: path)
        let reader = try IndexedRecordFile.Reader(path: path)
        XCTAssertEqual(reader.count, 50)
        XCTAssertEqual(String(decoding: reader.header, as: UTF8.self), "{\"h\":1}")
        for i in [0, 1, 17, 49] { XCTAssertEqual(try reader.record(i), records[i]) }
        XCTAssertThrowsError(try reader.record(50))
        XCTAssertThrowsError(try reader.record(-1))
        XCTAssertLessThan(FileSystem.fileSize(path)!, UInt64(records.reduce(0) { $0 + $1.count } / 4), "records are compressed")
    }

    /// The fuzz seed, written by Python with the zstd command-line tool: another writer of the format.
    func testStoreWrittenByAnotherToolReads() throws {
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Fuzz/seeds/featurestore/two-features.features").standardized.path
        let store = try FeatureStore.Reader(path: seed)
        XCTAssertEqual(store.header.sae, .A)
        XCTAssertEqual(store.features, 2)
        let record = try store.record(1)
        XCTAssertEqual(record.feature, 1)
        XCTAssertEqual(record.view(on: .A)?.top.first?.values, [0, 0.5, 1.5, 0])
        XCTAssertEqual(record.view(on: .A)?.bands.first?.share, 0.5)
    }

    func testMalformedIndexedRecordFilesAreRefusedWithReasons() throws {
        let directory = try temporaryDirectory(self)
        let path = directory + "/records.bin"
        try IndexedRecordFile.write(header: Data("{}".utf8), records: [Data("alpha".utf8), Data("beta".utf8)], to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func check(_ bytes: Data, _ expected: String, record: Int? = nil, line: UInt = #line) {
            let bad = directory + "/bad.bin"
            try! bytes.write(to: URL(fileURLWithPath: bad))
            XCTAssertThrowsError(try { let r = try IndexedRecordFile.Reader(path: bad); if let record { _ = try r.record(record) } }(), line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
            }
        }
        check(Data("not a store".utf8), "SAEPREC1")
        check(good.prefix(20), "ends early")
        var huge = good
        huge.replaceSubrange(8..<16, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
        check(huge, "header of")
        var manyRecords = good
        manyRecords.replaceSubrange(18..<26, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])
        check(manyRecords, "records")
        check(good.dropLast(), "index ends")
        // The first record's end offset pointing past the second's: offsets out of order.
        var swapped = good
        let offsets = 8 + 8 + 2 + 8
        swapped.replaceSubrange((offsets + 8)..<(offsets + 16), with: withUnsafeBytes(of: UInt64(1000).littleEndian) { Array($0) })
        check(swapped, "outside", record: 1)
        var garbled = good
        garbled[garbled.count - 3] ^= 0xff
        check(garbled, "unreadable", record: 1)
    }

    func testFeaturePagesMatchDirectComputation() throws {
        let directory = try temporaryDirectory(self)
        let (rows, d, F) = (600, 8, 24)
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: 10, perRow: 2, seed: 8, to: directory)
        let dataset = try ActivationDataset(directory: directory, validationFraction: 0, maxValidationRows: 1, seed: 0)
        var p = SAEParameters.initialized(d: d, features: F, seed: 3, decoderNorm: 1)
        p.bEnc = (0..<F).map { -Float($0 % 4) * 0.4 }
        // Tokens with one position lacking a row (an excluded special token) every 50, in windows of 100.
        var positions: [Int32] = [], tokenCount = 0
        while positions.count < rows {
            if tokenCount % 50 != 7 { positions.append(Int32(tokenCount)) }
            tokenCount += 1
        }
        let tokens = (0..<tokenCount).map { Int32($0 % 37) }
        let offsets = Array(stride(from: 0, to: tokenCount, by: 100)) + [tokenCount]
        let tokenizer = try Tokenizer.load(tokenizerJSON: fixturePath("tiny-tokenizer/tokenizer.json"))
        let source = ContextSource(tokens: tokens, positions: positions, offsets: offsets, tokenizer: tokenizer)
        let stats = FeatureStatistics.compute(p, activation: .relu, dataset: dataset, topK: 3, reservoirSize: 16, seed: 1, batchSize: 64)
        let (views, sampled) = FeatureDetails.views(p, activation: .relu, dataset: dataset, source: source, stats: stats, data: .A,
                                                    before: 4, after: 2, batchSize: 64)
        XCTAssertEqual(sampled, rows, "fewer rows than the sample size: every row counts")
        let acts = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/acts.mmap")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        func direct(_ row: Int, _ i: Int) -> Float {
            var pre = Double(p.bEnc[i])
            for j in 0..<d { pre += Double(acts[row * d + j] - p.bDec[j]) * Double(p.wEnc[j * F + i]) }
            return Float(max(pre, 0))
        }
        var rowOfPosition: [Int: Int] = [:]
        for (row, position) in positions.enumerated() { rowOfPosition[Int(position)] = row }
        var checkedZeros = 0
        for i in 0..<F {
            let view = views[i]
            XCTAssertEqual(view.top.count, stats.top[i].count)
            for (example, top) in zip(view.top, stats.top[i]) {
                let center = Int(positions[top.row])
                let windowStart = center / 100 * 100
                let start = max(windowStart, center - 4), end = min(windowStart + 100, tokenCount, center + 3)
                XCTAssertEqual(example.tokens, Array(tokens[start..<end]))
                XCTAssertEqual(example.center, center - start)
                for (k, position) in (start..<end).enumerated() {
                    let expected = rowOfPosition[position].map { direct($0, i) } ?? 0
                    if rowOfPosition[position] == nil { checkedZeros += 1 }
                    XCTAssertEqual(example.values[k], expected, accuracy: 2e-3, "feature \(i) position \(position)")
                }
            }
            let firing = (0..<rows).map { direct($0, i) }.filter { $0 > 0 }
            XCTAssertEqual(view.histogram.counts.reduce(0, +), firing.count, "feature \(i)")
            if let top = firing.max(), firing.count > 3 {
                let lastBin = firing.filter { $0 > top * 31 / 32 + 1e-4 }.count
                XCTAssertEqual(view.histogram.counts[31], lastBin, accuracy: 1, "feature \(i)")
                XCTAssertEqual(view.bands.map(\.share).reduce(0, +), 1, accuracy: 1e-9)
                for band in view.bands { for example in band.examples {
                    XCTAssertGreaterThan(example.activation, band.low - 1e-3); XCTAssertLessThanOrEqual(example.activation, band.high + 1e-3)
                } }
            }
            // Co-firing: Jaccard over every row, as counted directly.
            for neighbour in view.coFiring {
                let j = neighbour.feature
                let both = (0..<rows).filter { direct($0, i) > 0 && direct($0, j) > 0 }.count
                let either = (0..<rows).filter { direct($0, i) > 0 || direct($0, j) > 0 }.count
                XCTAssertEqual(neighbour.score, Double(both) / Double(either), accuracy: 1e-3, "features \(i), \(j)")
            }
        }
        XCTAssertGreaterThan(checkedZeros, 0, "contexts cross positions without a row")
        XCTAssertTrue(views.contains { !$0.coFiring.isEmpty })
        // Nearest by decoder cosine, against the full cosine matrix.
        let nearest = FeatureDetails.nearest(p, count: 3)
        let cosines = FeatureMatching.decoderCosines(p, p)
        for i in 0..<F {
            let expected = (0..<F).filter { $0 != i }.sorted { cosines[i * F + $0] > cosines[i * F + $1] }.prefix(3)
            XCTAssertEqual(nearest[i].map(\.feature), Array(expected), "feature \(i)")
        }
    }
}
