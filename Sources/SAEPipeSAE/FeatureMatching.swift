import CKernels
import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// How two SAEs' dictionaries relate: the cosine similarity between every pair of decoder
/// directions, each feature's best match in the other dictionary (the mean of those maxima is
/// the MMCS, as mlsae reports it), and a one-to-one matching that maximises the summed cosine.
public struct FeatureMatching: Sendable {
    /// For each feature of the first SAE, its highest cosine to any feature of the second, and which.
    public var bestForward: [(feature: Int, cosine: Float)]
    /// For each feature of the second SAE, the same towards the first.
    public var bestBackward: [(feature: Int, cosine: Float)]
    /// The one-to-one matching: first-SAE feature, second-SAE feature, cosine. Covers the
    /// smaller dictionary; every feature appears at most once.
    public var pairs: [(first: Int, second: Int, cosine: Float)]

    /// Mean over the first SAE's features of their best cosine to the second's.
    public var mmcsForward: Double { FeatureMatching.mean(bestForward.map(\.cosine)) }
    public var mmcsBackward: Double { FeatureMatching.mean(bestBackward.map(\.cosine)) }

    /// The share of the matching's pairs that join features with the same index. Far above
    /// chance (1 / features) it says the SAEs share an initialisation and still carry it.
    public var sameIndexFraction: Double {
        pairs.isEmpty ? 0 : Double(pairs.filter { $0.first == $0.second }.count) / Double(pairs.count)
    }

    /// The share of the smaller dictionary that the matching pairs at cosine ≥ `threshold`.
    public func sharedFraction(threshold: Double) -> Double {
        pairs.isEmpty ? 0 : Double(pairs.filter { Double($0.cosine) >= threshold }.count) / Double(pairs.count)
    }

    public init(_ first: SAEParameters, _ second: SAEParameters) throws {
        guard first.d == second.d else {
            throw SAEPipeError.input("the SAEs read activations of different widths (\(first.d) and \(second.d)); their features cannot be compared")
        }
        let cosines = FeatureMatching.decoderCosines(first, second)
        let (rows, cols) = (first.features, second.features)
        (bestForward, bestBackward) = FeatureMatching.bestMatches(cosines, rows: rows, cols: cols)
        // The assignment minimises cost; rows must not outnumber columns.
        let transposed = rows > cols
        var cost = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols { cost[transposed ? c * rows + r : r * cols + c] = -cosines[r * cols + c] }
        }
        let (costRows, costCols) = transposed ? (cols, rows) : (rows, cols)
        var columnOfRow = [Int32](repeating: -1, count: costRows)
        guard saepipe_linear_assignment(cost, costRows, costCols, &columnOfRow) == 0 else {
            throw SAEPipeError.runtime("not enough memory to match \(rows) × \(cols) features")
        }
        pairs = columnOfRow.enumerated().map { row, column in
            let (r, c) = transposed ? (Int(column), row) : (row, Int(column))
            return (r, c, cosines[r * cols + c])
        }.sorted { $0.first < $1.first }
    }

    /// The MMCS both ways without the one-to-one matching (cheap enough for every pair of adjacent layers).
    public static func mmcs(_ first: SAEParameters, _ second: SAEParameters) throws -> (forward: Double, backward: Double) {
        guard first.d == second.d else {
            throw SAEPipeError.input("the SAEs read activations of different widths (\(first.d) and \(second.d)); their features cannot be compared")
        }
        let (forward, backward) = bestMatches(decoderCosines(first, second), rows: first.features, cols: second.features)
        return (mean(forward.map(\.cosine)), mean(backward.map(\.cosine)))
    }

    /// Each row's best column and each column's best row of a row-major [rows, cols] cosine matrix.
    static func bestMatches(_ cosines: [Float], rows: Int, cols: Int)
        -> (forward: [(feature: Int, cosine: Float)], backward: [(feature: Int, cosine: Float)]) {
        ((0..<rows).map { r in argmax(cosines, start: r * cols, count: cols, stride: 1) },
         (0..<cols).map { c in argmax(cosines, start: c, count: rows, stride: cols) })
    }

    /// cos(dec_first[i], dec_second[j]) as a row-major [first.features, second.features] matrix;
    /// a zero decoder row has cosine 0 with everything.
    public static func decoderCosines(_ first: SAEParameters, _ second: SAEParameters) -> [Float] {
        let a = unitRows(first.wDec, rows: first.features, d: first.d)
        let b = unitRows(second.wDec, rows: second.features, d: second.d)
        var result = [Float](repeating: 0, count: first.features * second.features)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(.none, .transposed, m: first.features, n: second.features, k: first.d,
                               a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
                }
            }
        }
        return result
    }

    public static func unitRows(_ matrix: [Float], rows: Int, d: Int) -> [Float] {
        var unit = matrix
        for r in 0..<rows {
            var norm = 0.0
            for j in 0..<d { norm += Double(matrix[r * d + j]) * Double(matrix[r * d + j]) }
            let scale = norm > 0 ? Float(1 / norm.squareRoot()) : 0
            for j in 0..<d { unit[r * d + j] *= scale }
        }
        return unit
    }

    static func argmax(_ values: [Float], start: Int, count: Int, stride: Int) -> (feature: Int, cosine: Float) {
        var best = (feature: 0, cosine: -Float.infinity)
        for k in 0..<count where values[start + k * stride] > best.cosine { best = (k, values[start + k * stride]) }
        return best
    }

    static func mean(_ values: [Float]) -> Double {
        values.isEmpty ? 0 : values.reduce(0) { $0 + Double($1) } / Double(values.count)
    }
}
