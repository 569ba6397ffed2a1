import Foundation

/// Starting points for the decoder bias, computed over a sample of training rows.
public enum DecoderBiasStart {
    /// The per-dimension mean of `count` rows of width `d`.
    public static func mean(_ rows: UnsafePointer<Float>, count: Int, d: Int) -> [Float] {
        var sums = [Double](repeating: 0, count: d)
        for r in 0..<count { for j in 0..<d { sums[j] += Double(rows[r * d + j]) } }
        return sums.map { Float($0 / Double(max(count, 1))) }
    }

    /// The geometric median (the point with the least summed distance to the rows) by Weiszfeld's
    /// iteration from the mean; a row the estimate lands on is skipped for that step, and the
    /// iteration stops once a step moves the estimate less than `tolerance` × its norm.
    public static func geometricMedian(
        _ rows: UnsafePointer<Float>, count: Int, d: Int, iterations: Int = 100, tolerance: Double = 1e-6
    ) -> [Float] {
        var median = mean(rows, count: count, d: d).map(Double.init)
        for _ in 0..<iterations {
            var weighted = [Double](repeating: 0, count: d), totalWeight = 0.0
            for r in 0..<count {
                var distance = 0.0
                for j in 0..<d {
                    let difference = Double(rows[r * d + j]) - median[j]
                    distance += difference * difference
                }
                distance = distance.squareRoot()
                guard distance > 1e-12 else { continue }
                let weight = 1 / distance
                totalWeight += weight
                for j in 0..<d { weighted[j] += weight * Double(rows[r * d + j]) }
            }
            guard totalWeight > 0 else { break }
            let next = weighted.map { $0 / totalWeight }
            let moved = zip(next, median).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let size = next.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            median = next
            if moved <= tolerance * max(size, 1e-12) { break }
        }
        return median.map { Float($0) }
    }
}
