import CKernels
import Foundation
import SAEPipeCore

/// Adam with bias correction (as torch.optim.Adam); moments share the parameters' layout.
public struct Adam: Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var step: Int = 0
    public var first: SAEParameters?
    public var second: SAEParameters?

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// One update of every tensor of `parameters` with `gradients` at learning rate `lr`, in place,
    /// each gradient first multiplied by `gradientScale` (clipping; 1 leaves it exact). When
    /// `transposedEncoderGradient` is given it is ∂L/∂W_enc stored [F, d] and `gradients.wEnc` is not read.
    /// The decoder weights step at `decoderLRScale` × `lr`; it has no default, so a caller cannot drop the setting unnoticed.
    public mutating func update(
        _ parameters: inout SAEParameters, _ gradients: SAEGradients, lr: Float, decoderLRScale: Float, gradientScale: Float = 1,
        transposedEncoderGradient: UnsafePointer<Float>? = nil
    ) {
        step += 1
        if first == nil { first = parameters.zeros() }
        if second == nil { second = parameters.zeros() }
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(step)))
        let (beta1, beta2, epsilon) = (beta1, beta2, epsilon)
        let baseStepSize = lr / correction1
        let root2 = correction2.squareRoot()
        let (d, features) = (parameters.d, parameters.features)
        for (_, path) in parameters.tensors {
            let stepSize = path == \SAEParameters.wDec ? baseStepSize * decoderLRScale : baseStepSize
            parameters[keyPath: path].withUnsafeMutableBufferPointer { p in
                first![keyPath: path].withUnsafeMutableBufferPointer { m in
                    second![keyPath: path].withUnsafeMutableBufferPointer { v in
                        let count = p.count
                        nonisolated(unsafe) let (p, m, v) = (p.baseAddress!, m.baseAddress!, v.baseAddress!)
                        if path == \SAEParameters.wEnc, let gt = transposedEncoderGradient {
                            nonisolated(unsafe) let gt = gt
                            Parallel.chunks(d, minimumChunk: 16) { range in
                                let block = UnsafeMutablePointer<Float>.allocate(capacity: 16 * features)
                                defer { block.deallocate() }
                                saepipe_adam_transposed_gradient(p, m, v, gt, d, features, range.lowerBound, range.upperBound,
                                                                 beta1, beta2, epsilon, stepSize, root2, gradientScale, block)
                            }
                            return
                        }
                        gradients[keyPath: path].withUnsafeBufferPointer { g in
                            nonisolated(unsafe) let g = g.baseAddress!
                            Parallel.chunks(count, minimumChunk: 1 << 15) { range in
                                saepipe_adam(p, m, v, g, range.lowerBound, range.upperBound, beta1, beta2, epsilon, stepSize, root2,
                                             gradientScale)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Forgets the moments of the given features (after resampling them).
    public mutating func resetFeatures(_ features: [Int], d: Int, count: Int) {
        for moments in [\Adam.first, \Adam.second] where self[keyPath: moments] != nil {
            for feature in features {
                for j in 0..<d {
                    self[keyPath: moments]!.wEnc[j * count + feature] = 0
                    self[keyPath: moments]!.wDec[feature * d + j] = 0
                }
                self[keyPath: moments]!.bEnc[feature] = 0
                if !(self[keyPath: moments]!.threshold.isEmpty) { self[keyPath: moments]!.threshold[feature] = 0 }
            }
        }
    }
}
