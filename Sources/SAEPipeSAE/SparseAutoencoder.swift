import CKernels
import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// How features turn on.
public enum SAEActivation: Sendable, Equatable {
    /// f = ReLU(pre), with an L1 penalty.
    case relu
    /// Keep the k largest pre-activations of each row (then ReLU); no sparsity penalty.
    case topK(Int)
    /// Keep the k·rows largest ReLU activations of the whole batch (Bussmann et al. 2024), so a
    /// token may use more or fewer than k; training only: the trained SAE encodes one token at a
    /// time as a JumpReLU with one threshold for every feature (see `inference`).
    case batchTopK(Int)
    /// f = pre · H(pre − θ) with learned θ = exp(logθ); L0 penalty through a straight-through
    /// estimator with a rectangle kernel of width `bandwidth`.
    case jumpReLU(bandwidth: Float)

    public var name: String {
        switch self {
        case .relu: return "relu"
        case .topK: return "topk"
        case .batchTopK: return "batchtopk"
        case .jumpReLU: return "jumprelu"
        }
    }

    /// Whether features are chosen by rank (TopK, BatchTopK): no sparsity penalty, and the
    /// auxiliary loss revives dead features.
    public var selectsByRank: Bool {
        switch self {
        case .topK, .batchTopK: return true
        case .relu, .jumpReLU: return false
        }
    }

    /// How the trained SAE encodes: BatchTopK becomes a JumpReLU (its threshold in the
    /// parameters), as SAELens saves it; the others encode as they train.
    public var inference: SAEActivation {
        if case .batchTopK = self { return .jumpReLU(bandwidth: SAEActivation.inferenceBandwidth) }
        return self
    }

    /// The kernel width given to a JumpReLU that only encodes (it plays no part in encoding).
    public static let inferenceBandwidth: Float = 0.001
}

/// How the L1 penalty meets the decoder.
public enum SparsityForm: String, Sendable, Decodable {
    /// Plain L1 on f; decoder rows renormalized to unit norm after every step.
    case unitNormDecoder = "unit_norm_decoder"
    /// L1 on f_i · ‖W_dec,i‖ with an unconstrained decoder (Anthropic's April 2024 update).
    case decoderNormWeighted = "decoder_norm_weighted"
}

/// The weights, row-major: W_enc [d, F], W_dec [F, d].
public struct SAEParameters: Sendable, Equatable {
    public var d: Int
    public var features: Int
    public var wEnc: [Float]
    public var bEnc: [Float]
    public var wDec: [Float]
    public var bDec: [Float]
    /// θ per feature (JumpReLU only; empty otherwise), trained directly as SAELens and
    /// dictionary_learning now do: under Adam a log-parameterized θ near 0.01 barely moves.
    public var threshold: [Float]
    /// What encoding does to an input first (and decoding undoes); the weights act on its output.
    public var inputNormalization: InputNormalization = .none

    public init(d: Int, features: Int, wEnc: [Float], bEnc: [Float], wDec: [Float], bDec: [Float], threshold: [Float] = []) {
        self.d = d
        self.features = features
        self.wEnc = wEnc
        self.bEnc = bEnc
        self.wDec = wDec
        self.bDec = bDec
        self.threshold = threshold
    }

    /// Decoder rows of norm `decoderNorm` in random directions, encoder = decoder transpose,
    /// zero biases (as SAELens and dictionary_learning initialize).
    public static func initialized(
        d: Int, features: Int, seed: UInt64, decoderNorm: Float = 0.1, threshold: Float? = nil
    ) -> SAEParameters {
        var generator = SplitMix64(seed: seed)
        var wDec = [Float](repeating: 0, count: features * d)
        for row in 0..<features {
            var norm: Double = 0
            for j in 0..<d {
                // Box–Muller normal draws give isotropic directions.
                let u1 = max(generator.nextUnit(), 1e-12), u2 = generator.nextUnit()
                let value = (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
                wDec[row * d + j] = Float(value)
                norm += value * value
            }
            let scale = decoderNorm / Float(norm.squareRoot())
            for j in 0..<d { wDec[row * d + j] *= scale }
        }
        var wEnc = [Float](repeating: 0, count: d * features)
        for row in 0..<features { for j in 0..<d { wEnc[j * features + row] = wDec[row * d + j] } }
        return SAEParameters(
            d: d, features: features, wEnc: wEnc, bEnc: [Float](repeating: 0, count: features), wDec: wDec,
            bDec: [Float](repeating: 0, count: d),
            threshold: threshold.map { [Float](repeating: $0, count: features) } ?? [])
    }

    /// Norms of the decoder rows.
    public func decoderNorms() -> [Float] {
        (0..<features).map { row in
            var total: Float = 0
            for j in 0..<d { total += wDec[row * d + j] * wDec[row * d + j] }
            return total.squareRoot()
        }
    }

    /// Scales every decoder row to unit norm.
    public mutating func normalizeDecoderRows() {
        let d = d
        wDec.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let w = buffer.baseAddress!
            Parallel.chunks(features, minimumChunk: 256) { rows in saepipe_normalize_rows(w, d, rows.lowerBound, rows.upperBound) }
        }
    }

    /// Every tensor's name and storage, in a fixed order (optimizer state and checkpoints use it).
    static var allTensors: [(name: String, path: WritableKeyPath<SAEParameters, [Float]>)] {
        [("W_enc", \.wEnc), ("b_enc", \.bEnc), ("W_dec", \.wDec), ("b_dec", \.bDec), ("threshold", \.threshold)]
    }

    /// The tensors this SAE has (threshold only for JumpReLU).
    public var tensors: [(name: String, path: WritableKeyPath<SAEParameters, [Float]>)] {
        threshold.isEmpty ? Array(Self.allTensors.prefix(4)) : Self.allTensors
    }

    public var tensorNames: [String] { tensors.map(\.name) }

    public subscript(name: String) -> [Float] {
        get { self[keyPath: Self.allTensors.first { $0.name == name }!.path] }
        set { self[keyPath: Self.allTensors.first { $0.name == name }!.path] = newValue }
    }

    /// Zeros shaped like these parameters (gradients, optimizer moments).
    public func zeros() -> SAEParameters {
        var z = self
        for (_, path) in tensors { z[keyPath: path] = [Float](repeating: 0, count: self[keyPath: path].count) }
        return z
    }

    public var allFinite: Bool {
        tensorNames.allSatisfy { self[$0].allSatisfy(\.isFinite) }
    }
}

/// Gradients with the same layout as the parameters.
public typealias SAEGradients = SAEParameters

/// The loss terms of one batch.
public struct SAEBatchStats: Sendable {
    /// Mean over rows of ‖x − x̂‖².
    public var reconstruction: Double = 0
    /// Mean over rows of the sparsity penalty before λ (L1, weighted L1, or L0).
    public var sparsity: Double = 0
    public var loss: Double = 0
    /// Mean over rows and dims of (x − x̂)².
    public var mse: Double = 0
    public var l0: Double = 0
    public var l1: Double = 0
    /// Σ‖x − x̄‖² over the batch (x̄ the batch mean), for FVE.
    public var totalVariance: Double = 0
    public var squaredError: Double = 0
    public var fve: Double { totalVariance > 0 ? 1 - squaredError / totalVariance : 0 }
}
