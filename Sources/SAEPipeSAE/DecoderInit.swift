import Foundation
import SAEPipeCore

/// Where the decoder rows start (`sae.w_dec_init`).
public enum DecoderWeightInit: String, Sendable, Decodable {
    /// Isotropic random directions (SAELens, sparsify, dictionary_learning).
    case random
    /// Distinct training rows drawn at random, less the starting decoder bias: every feature starts
    /// on a direction the data has, so fewer start where no row ever reaches them.
    case trainingRows = "training_rows"
}

/// Starting decoder rows taken from data.
public enum DecoderRowsStart {
    /// `count` distinct indices below `population`, in increasing order, drawn uniformly with
    /// Floyd's algorithm (no array of `population` entries; the same draws for the same generator).
    public static func distinctIndices(_ count: Int, below population: Int, generator: inout SplitMix64) -> [Int] {
        precondition(count <= population, "cannot draw \(count) distinct indices below \(population)")
        var chosen = Set<Int>(minimumCapacity: count)
        for upper in (population - count)..<population {
            let candidate = Int(generator.next() % UInt64(upper + 1))
            chosen.insert(chosen.contains(candidate) ? upper : candidate)
        }
        return chosen.sorted()
    }

    /// Points decoder row `feature` and the encoder's column `feature` along `row − bias`, each at the
    /// norm it had (so a unit-norm decoder stays unit-norm and the encoder keeps its starting scale).
    /// A row that (numerically) equals the bias has no direction, so the feature keeps its random one.
    public static func point(_ p: inout SAEParameters, feature: Int, along row: UnsafePointer<Float>, bias: [Float]) {
        let d = p.d, features = p.features
        var direction = [Double](repeating: 0, count: d)
        var squared: Double = 0, decoderSquared: Double = 0, encoderSquared: Double = 0
        for j in 0..<d {
            direction[j] = Double(row[j]) - Double(bias[j])
            squared += direction[j] * direction[j]
            decoderSquared += Double(p.wDec[feature * d + j]) * Double(p.wDec[feature * d + j])
            encoderSquared += Double(p.wEnc[j * features + feature]) * Double(p.wEnc[j * features + feature])
        }
        guard squared > 1e-24, squared.isFinite else { return }
        let length = squared.squareRoot()
        let (decoderFactor, encoderFactor) = (decoderSquared.squareRoot() / length, encoderSquared.squareRoot() / length)
        for j in 0..<d {
            p.wDec[feature * d + j] = Float(direction[j] * decoderFactor)
            p.wEnc[j * features + feature] = Float(direction[j] * encoderFactor)
        }
    }
}
