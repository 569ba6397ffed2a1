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

    /// One update of every tensor of `parameters` with `gradients` at learning rate `lr`, in place.
    public mutating func update(_ parameters: inout SAEParameters, _ gradients: SAEGradients, lr: Float) {
        step += 1
        if first == nil { first = parameters.zeros() }
        if second == nil { second = parameters.zeros() }
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(step)))
        let stepSize = lr / correction1
        let root2 = correction2.squareRoot()
        for (_, path) in parameters.tensors {
            gradients[keyPath: path].withUnsafeBufferPointer { g in
                parameters[keyPath: path].withUnsafeMutableBufferPointer { p in
                    first![keyPath: path].withUnsafeMutableBufferPointer { m in
                        second![keyPath: path].withUnsafeMutableBufferPointer { v in
                            Adam.kernel(p.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!, count: g.count,
                                        beta1: beta1, beta2: beta2, epsilon: epsilon, stepSize: stepSize, root2: root2)
                        }
                    }
                }
            }
        }
    }

    private static func kernel(
        _ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        _ g: UnsafePointer<Float>, count: Int, beta1: Float, beta2: Float, epsilon: Float, stepSize: Float, root2: Float
    ) {
        Parallel.chunks(count, minimumChunk: 1 << 15) { range in
            saepipe_adam(p, m, v, g, range.lowerBound, range.upperBound, beta1, beta2, epsilon, stepSize, root2)
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
