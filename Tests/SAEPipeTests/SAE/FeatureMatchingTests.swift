import Foundation
import SAEPipeCore
import SAEPipeSAE
import XCTest

/// Decoder cosines against a double loop, the one-to-one matching against every permutation.
final class FeatureMatchingTests: XCTestCase {
    func sae(features: Int, d: Int, seed: UInt64) -> SAEParameters {
        var generator = SplitMix64(seed: seed)
        let wDec = (0..<features * d).map { _ in Float(generator.nextUnit() * 2 - 1) }
        return SAEParameters(d: d, features: features, wEnc: [Float](repeating: 0, count: d * features), bEnc: [Float](repeating: 0, count: features),
                             wDec: wDec, bDec: [Float](repeating: 0, count: d))
    }

    func testCosinesAndBestMatchesAgainstADoubleLoop() throws {
        let (a, b) = (sae(features: 7, d: 5, seed: 1), sae(features: 9, d: 5, seed: 2))
        let cosines = FeatureMatching.decoderCosines(a, b)
        for i in 0..<7 {
            for j in 0..<9 {
                var (dot, na, nb) = (0.0, 0.0, 0.0)
                for k in 0..<5 {
                    let (x, y) = (Double(a.wDec[i * 5 + k]), Double(b.wDec[j * 5 + k]))
                    dot += x * y; na += x * x; nb += y * y
                }
                XCTAssertEqual(Double(cosines[i * 9 + j]), dot / (na * nb).squareRoot(), accuracy: 1e-5)
            }
        }
        let matching = try FeatureMatching(a, b)
        for i in 0..<7 {
            let row = (0..<9).map { cosines[i * 9 + $0] }
            XCTAssertEqual(matching.bestForward[i].cosine, row.max()!)
            XCTAssertEqual(row[matching.bestForward[i].feature], row.max()!)
        }
        for j in 0..<9 { XCTAssertEqual(matching.bestBackward[j].cosine, (0..<7).map { cosines[$0 * 9 + j] }.max()!) }
        XCTAssertEqual(matching.mmcsForward, matching.bestForward.map { Double($0.cosine) }.reduce(0, +) / 7, accuracy: 1e-9)
    }

    /// The best total cosine over every one-to-one map of the smaller side into the larger.
    func bruteForce(_ cosines: [Float], rows: Int, cols: Int) -> Double {
        let (small, large) = (min(rows, cols), max(rows, cols))
        func value(_ s: Int, _ l: Int) -> Double { Double(rows <= cols ? cosines[s * cols + l] : cosines[l * cols + s]) }
        var best = -Double.infinity
        var used = [Bool](repeating: false, count: large)
        func search(_ s: Int, _ total: Double) {
            if s == small { best = max(best, total); return }
            for l in 0..<large where !used[l] {
                used[l] = true
                search(s + 1, total + value(s, l))
                used[l] = false
            }
        }
        search(0, 0)
        return best
    }

    func testTheMatchingIsOneToOneAndOptimal() throws {
        for (seed, shape) in [(1, (5, 5)), (2, (4, 6)), (3, (6, 4)), (4, (6, 6)), (5, (3, 7)), (6, (7, 7))].map({ ($0.0, $0.1) }) {
            let (a, b) = (sae(features: shape.0, d: 4, seed: UInt64(seed)), sae(features: shape.1, d: 4, seed: UInt64(seed) + 100))
            let matching = try FeatureMatching(a, b)
            XCTAssertEqual(matching.pairs.count, min(shape.0, shape.1))
            XCTAssertEqual(Set(matching.pairs.map(\.first)).count, matching.pairs.count)
            XCTAssertEqual(Set(matching.pairs.map(\.second)).count, matching.pairs.count)
            let cosines = FeatureMatching.decoderCosines(a, b)
            for pair in matching.pairs { XCTAssertEqual(pair.cosine, cosines[pair.first * shape.1 + pair.second]) }
            let total = matching.pairs.map { Double($0.cosine) }.reduce(0, +)
            XCTAssertEqual(total, bruteForce(cosines, rows: shape.0, cols: shape.1), accuracy: 1e-5, "seed \(seed) \(shape)")
        }
    }

    func testAPermutedCopyIsRecoveredAndFullyShared() throws {
        let a = sae(features: 40, d: 16, seed: 9)
        let permutation = (0..<40).map { ($0 * 7 + 3) % 40 }
        var b = a
        for (i, source) in permutation.enumerated() {
            for k in 0..<16 { b.wDec[i * 16 + k] = a.wDec[source * 16 + k] * 2.5 }  // the norm does not matter
        }
        let matching = try FeatureMatching(a, b)
        for pair in matching.pairs { XCTAssertEqual(permutation[pair.second], pair.first) }
        XCTAssertEqual(matching.mmcsForward, 1, accuracy: 1e-5)
        XCTAssertEqual(matching.mmcsBackward, 1, accuracy: 1e-5)
        XCTAssertEqual(matching.sharedFraction(threshold: 0.7), 1)
        XCTAssertLessThan(try FeatureMatching(a, sae(features: 40, d: 16, seed: 10)).sharedFraction(threshold: 0.7), 0.2,
                          "random directions in 16 dimensions rarely align")
        XCTAssertThrowsError(try FeatureMatching(a, sae(features: 4, d: 8, seed: 1)))
    }
}
