import Foundation

/// Principal components of a row-major [rows, d] matrix: the covariance's leading eigenvectors
/// by subspace iteration, and the rows projected onto them (the feature map's coordinates).
public enum PrincipalComponents {
    public struct Result: Sendable {
        /// [components, d], unit rows, each signed so its largest-magnitude entry is positive.
        public var axes: [Float]
        /// Variance along each axis.
        public var variances: [Double]
        /// [rows, components]: the centred rows projected onto the axes.
        public var projections: [Float]
    }

    public static func compute(_ x: [Float], rows: Int, d: Int, components: Int = 2, iterations: Int = 500) -> Result {
        precondition(x.count == rows * d && components <= d && rows > 0)
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<rows { for j in 0..<d { mean[j] += Double(x[r * d + j]) } }
        let centred = (0..<(rows * d)).map { x[$0] - Float(mean[$0 % d] / Double(rows)) }
        var covariance = [Float](repeating: 0, count: d * d)
        centred.withUnsafeBufferPointer { c in
            covariance.withUnsafeMutableBufferPointer { out in
                BLAS.sgemm(.transposed, .none, m: d, n: d, k: rows, alpha: 1 / Float(rows), a: c.baseAddress!, b: c.baseAddress!, c: out.baseAddress!)
            }
        }
        // Subspace iteration from a fixed start: V ← orthonormalize(C V).
        var basis = (0..<(components * d)).map { k in Float(sin(Double(k) * 12.9898 + 78.233)) }
        orthonormalize(&basis, count: components, d: d)
        var next = [Float](repeating: 0, count: components * d)
        for _ in 0..<iterations {
            covariance.withUnsafeBufferPointer { c in
                basis.withUnsafeBufferPointer { v in
                    next.withUnsafeMutableBufferPointer { out in
                        BLAS.sgemm(.none, .none, m: components, n: d, k: d, a: v.baseAddress!, b: c.baseAddress!, c: out.baseAddress!)
                    }
                }
            }
            orthonormalize(&next, count: components, d: d)
            swap(&basis, &next)
        }
        var variances = [Double](repeating: 0, count: components)
        for k in 0..<components {
            var rayleigh = 0.0
            for i in 0..<d {
                var row = 0.0
                for j in 0..<d { row += Double(covariance[i * d + j]) * Double(basis[k * d + j]) }
                rayleigh += row * Double(basis[k * d + i])
            }
            variances[k] = rayleigh
            let largest = (0..<d).max { abs(basis[k * d + $0]) < abs(basis[k * d + $1]) }!
            if basis[k * d + largest] < 0 { for j in 0..<d { basis[k * d + j] = -basis[k * d + j] } }
        }
        // Sorted by variance, largest first (subspace iteration may leave two close ones swapped).
        let order = (0..<components).sorted { variances[$0] > variances[$1] }
        let axes = order.flatMap { basis[($0 * d)..<(($0 + 1) * d)] }
        var projections = [Float](repeating: 0, count: rows * components)
        centred.withUnsafeBufferPointer { c in
            axes.withUnsafeBufferPointer { v in
                projections.withUnsafeMutableBufferPointer { out in
                    BLAS.sgemm(.none, .transposed, m: rows, n: components, k: d, a: c.baseAddress!, b: v.baseAddress!, c: out.baseAddress!)
                }
            }
        }
        return Result(axes: axes, variances: order.map { variances[$0] }, projections: projections)
    }

    /// The rows' total variance (the covariance's trace), to say what share the components hold.
    public static func totalVariance(_ x: [Float], rows: Int, d: Int) -> Double {
        var total = 0.0
        for j in 0..<d {
            var sum = 0.0, squares = 0.0
            for r in 0..<rows { let v = Double(x[r * d + j]); sum += v; squares += v * v }
            total += squares / Double(rows) - (sum / Double(rows)) * (sum / Double(rows))
        }
        return total
    }

    /// Gram–Schmidt on `count` rows of length d, in place (in double precision).
    static func orthonormalize(_ rows: inout [Float], count: Int, d: Int) {
        for k in 0..<count {
            var v = (0..<d).map { Double(rows[k * d + $0]) }
            for previous in 0..<k {
                var dot = 0.0
                for j in 0..<d { dot += v[j] * Double(rows[previous * d + j]) }
                for j in 0..<d { v[j] -= dot * Double(rows[previous * d + j]) }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { rows[k * d + j] = norm > 0 ? Float(v[j] / norm) : 0 }
        }
    }
}
