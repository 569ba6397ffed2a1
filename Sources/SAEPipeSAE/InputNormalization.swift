/// What an SAE does to an activation vector before encoding it, and undoes after decoding:
/// SAELens' `normalize_activations`. A multi-layer SAE reads `layerNorm` vectors, so every
/// layer's residual stream arrives on one scale (Lawson et al. 2024 standardize likewise).
public enum InputNormalization: String, Sendable, Equatable, Codable {
    /// The weights act on raw activations.
    case none
    /// x ↦ (x − mean(x)) / (std(x) + 1e-5) per vector (std with Bessel's correction, as
    /// torch.std), and x̂ ↦ x̂ · std + mean on the way out: SAELens' `layer_norm`.
    case layerNorm = "layer_norm"

    public static let epsilon: Float = 1e-5

    /// Standardizes each of `rows` rows of `x` [rows, d] in place; returns each row's (mean, std).
    @discardableResult
    public static func standardize(_ x: UnsafeMutablePointer<Float>, rows: Int, d: Int) -> [(mean: Float, std: Float)] {
        (0..<rows).map { r in
            let row = x + r * d
            var sum: Double = 0
            for j in 0..<d { sum += Double(row[j]) }
            let mean = sum / Double(d)
            var squares: Double = 0
            for j in 0..<d {
                let centred = Double(row[j]) - mean
                squares += centred * centred
            }
            let std = d > 1 ? (squares / Double(d - 1)).squareRoot() : 0
            let inverse = 1 / (std + Double(epsilon))
            for j in 0..<d { row[j] = Float((Double(row[j]) - mean) * inverse) }
            return (Float(mean), Float(std))
        }
    }

    /// Undoes `standardize` on reconstructions: x̂ · std + mean per row.
    public static func restore(_ x: UnsafeMutablePointer<Float>, rows: Int, d: Int, statistics: [(mean: Float, std: Float)]) {
        for r in 0..<rows {
            let (mean, std) = statistics[r]
            let row = x + r * d
            for j in 0..<d { row[j] = row[j] * std + mean }
        }
    }
}
