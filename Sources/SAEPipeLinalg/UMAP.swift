import Foundation
import SAEPipeCore

/// A 2-D embedding of unit vectors that keeps their nearest neighbours together, after UMAP
/// (McInnes, Healy & Melville 2018) as umap-learn computes it: a fuzzy k-nearest-neighbour
/// graph by cosine distance, then stochastic gradient descent on the cross-entropy between
/// that graph and one in the plane, with negative sampling. Seeded and single-threaded, so the
/// same vectors and seed give the same coordinates.
public enum UMAP {
    public struct Settings: Sendable {
        public var neighbours = 15
        public var epochs = 300
        public var negativeSamples = 5
        /// The low-dimensional similarity 1 / (1 + a·d^(2b)), fitted by umap-learn for min_dist 0.1, spread 1.
        public var a: Double = 1.577
        public var b: Double = 0.8951
        public var seed: UInt64 = 0
        public init() {}
    }

    /// Each row's `k` nearest other rows by cosine similarity (rows are unit vectors), most similar first.
    public static func nearestNeighbours(_ x: [Float], rows: Int, d: Int, k: Int) -> (indices: [Int32], similarities: [Float]) {
        let k = min(k, rows - 1)
        var indices = [Int32](repeating: 0, count: rows * k), similarities = [Float](repeating: 0, count: rows * k)
        let block = max(1, min(rows, (32 << 20) / max(1, rows)))
        var scores = [Float](repeating: 0, count: block * rows)
        for first in stride(from: 0, to: rows, by: block) {
            let count = min(block, rows - first)
            x.withUnsafeBufferPointer { x in
                scores.withUnsafeMutableBufferPointer { out in
                    BLAS.sgemm(.none, .transposed, m: count, n: rows, k: d, a: x.baseAddress! + first * d, b: x.baseAddress!, c: out.baseAddress!)
                }
            }
            for r in 0..<count {
                var best: [(Int, Float)] = []
                best.reserveCapacity(k + 1)
                for j in 0..<rows where j != first + r {
                    let s = scores[r * rows + j]
                    if best.count < k || s > best[best.count - 1].1 {
                        var position = best.count
                        while position > 0 && (best[position - 1].1 < s || (best[position - 1].1 == s && best[position - 1].0 > j)) { position -= 1 }
                        best.insert((j, s), at: position)
                        if best.count > k { best.removeLast() }
                    }
                }
                for (slot, entry) in best.enumerated() {
                    indices[(first + r) * k + slot] = Int32(entry.0)
                    similarities[(first + r) * k + slot] = entry.1
                }
            }
        }
        return (indices, similarities)
    }

    /// The symmetric fuzzy graph: for each row, weights exp(−(d − ρ)/σ) to its neighbours, with ρ
    /// the distance to the nearest and σ chosen so the weights sum to log2(k); then
    /// w_ij + w_ji − w_ij·w_ji. Edges as (i, j, weight) with i < j.
    static func fuzzyGraph(indices: [Int32], similarities: [Float], rows: Int, k: Int) -> [(Int, Int, Double)] {
        let target = log2(Double(k))
        var directed: [Int64: Double] = [:]
        for i in 0..<rows {
            let distances = (0..<k).map { 1 - Double(similarities[i * k + $0]) }
            let rho = distances.min() ?? 0
            var (low, high, sigma) = (0.0, Double.infinity, 1.0)
            for _ in 0..<64 {
                let sum = distances.reduce(0) { $0 + exp(-max(0, $1 - rho) / sigma) }
                if abs(sum - target) < 1e-5 { break }
                if sum > target { high = sigma; sigma = (low + high) / 2 } else { low = sigma; sigma = high.isInfinite ? sigma * 2 : (low + high) / 2 }
            }
            sigma = max(sigma, 1e-3 * (distances.reduce(0, +) / Double(max(1, k))))
            for slot in 0..<k {
                let j = Int(indices[i * k + slot])
                directed[Int64(i) * Int64(rows) + Int64(j)] = exp(-max(0, distances[slot] - rho) / sigma)
            }
        }
        var edges: [(Int, Int, Double)] = []
        for (key, w) in directed {
            let (i, j) = (Int(key / Int64(rows)), Int(key % Int64(rows)))
            let reverse = directed[Int64(j) * Int64(rows) + Int64(i)] ?? 0
            if reverse > 0 && j < i { continue }  // counted from the smaller index
            let (a, b) = (min(i, j), max(i, j))
            edges.append((a, b, w + reverse - w * reverse))
        }
        return edges.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    /// Coordinates [rows, 2] for unit rows `x` [rows, d], starting from `initial` [rows, 2] (e.g. PCA).
    /// `neighbours`: the rows' nearest neighbours when the caller already has them (k = settings.neighbours).
    public static func embed(_ x: [Float], rows: Int, d: Int, initial: [Float], settings: Settings = Settings(),
                             neighbours: (indices: [Int32], similarities: [Float])? = nil) -> [Float] {
        precondition(x.count == rows * d && initial.count == rows * 2)
        guard rows > 2 else { return initial }
        let k = min(settings.neighbours, rows - 1)
        let (indices, similarities) = neighbours ?? nearestNeighbours(x, rows: rows, d: d, k: k)
        let edges = fuzzyGraph(indices: indices, similarities: similarities, rows: rows, k: k)
        // The start scaled into [−10, 10], as umap-learn scales its spectral start.
        var y = initial.map(Double.init)
        for axis in 0..<2 {
            let values = stride(from: axis, to: y.count, by: 2).map { y[$0] }
            let (low, high) = (values.min()!, values.max()!)
            let scale = high > low ? 20 / (high - low) : 1
            for r in 0..<rows { y[r * 2 + axis] = (y[r * 2 + axis] - low) * scale - 10 }
        }
        let (a, b) = (settings.a, settings.b)
        let strongest = edges.map(\.2).max() ?? 1
        // Each edge is sampled every maxWeight / weight epochs (umap-learn's epochs_per_sample).
        let period = edges.map { strongest / max($0.2, 1e-12) }
        var nextDue = period
        var generator = SplitMix64(seed: settings.seed ^ 0x0A3A_9E37)
        func clip(_ g: Double) -> Double { max(-4, min(4, g)) }
        for epoch in 0..<settings.epochs {
            let rate = 1 - Double(epoch) / Double(settings.epochs)
            for (e, edge) in edges.enumerated() where nextDue[e] <= Double(epoch + 1) {
                nextDue[e] += period[e]
                let (i, j) = (edge.0, edge.1)
                var dx = y[i * 2] - y[j * 2], dy = y[i * 2 + 1] - y[j * 2 + 1]
                var distance2 = dx * dx + dy * dy
                if distance2 > 0 {
                    let coefficient = -2 * a * b * pow(distance2, b - 1) / (1 + a * pow(distance2, b))
                    let (gx, gy) = (clip(coefficient * dx) * rate, clip(coefficient * dy) * rate)
                    y[i * 2] += gx; y[i * 2 + 1] += gy
                    y[j * 2] -= gx; y[j * 2 + 1] -= gy
                }
                for _ in 0..<settings.negativeSamples {
                    let other = Int(generator.next() % UInt64(rows))
                    guard other != i else { continue }
                    dx = y[i * 2] - y[other * 2]; dy = y[i * 2 + 1] - y[other * 2 + 1]
                    distance2 = dx * dx + dy * dy
                    let coefficient = distance2 > 0 ? 2 * b / ((0.001 + distance2) * (1 + a * pow(distance2, b))) : 0
                    y[i * 2] += (coefficient > 0 ? clip(coefficient * dx) : 4) * rate
                    y[i * 2 + 1] += (coefficient > 0 ? clip(coefficient * dy) : 4) * rate
                }
            }
        }
        return y.map(Float.init)
    }

    /// The share of each row's `k` nearest neighbours in the original space that are also among its
    /// `k` nearest in the embedding (Euclidean), averaged over rows (over `maxRows` evenly spaced
    /// rows when there are more): how well neighbourhoods survive.
    public static func neighbourhoodPreservation(_ x: [Float], rows: Int, d: Int, embedding: [Float], k: Int = 15, maxRows: Int = 3000) -> Double {
        neighbourhoodPreservation(original: nearestNeighbours(x, rows: rows, d: d, k: k).indices, rows: rows, embedding: embedding, k: k,
                                  maxRows: maxRows)
    }

    /// The same from the rows' neighbour lists (`nearestNeighbours(…).indices`, k per row).
    public static func neighbourhoodPreservation(original: [Int32], rows: Int, embedding: [Float], k: Int = 15, maxRows: Int = 3000) -> Double {
        let k = min(k, rows - 1)
        let checked = stride(from: 0, to: rows, by: max(1, rows / maxRows)).map { $0 }
        var kept = 0
        for i in checked {
            var nearest: [(Int, Double)] = []
            for j in 0..<rows where j != i {
                let dx = Double(embedding[i * 2] - embedding[j * 2]), dy = Double(embedding[i * 2 + 1] - embedding[j * 2 + 1])
                let distance = dx * dx + dy * dy
                if nearest.count < k || distance < nearest[nearest.count - 1].1 {
                    nearest.append((j, distance))
                    nearest.sort { ($0.1, $0.0) < ($1.1, $1.0) }
                    if nearest.count > k { nearest.removeLast() }
                }
            }
            let wanted = Set(original[(i * k)..<((i + 1) * k)].map(Int.init))
            kept += nearest.filter { wanted.contains($0.0) }.count
        }
        return Double(kept) / Double(checked.count * k)
    }
}
