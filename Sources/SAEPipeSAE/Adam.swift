import Foundation

/// Adam with bias correction (as torch.optim.Adam), one moment pair per parameter tensor.
public struct Adam: Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var step: Int = 0
    /// First and second moments by tensor name.
    public var first: [String: [Float]] = [:]
    public var second: [String: [Float]] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// One update of every tensor of `parameters` with `gradients` at learning rate `lr`.
    public mutating func update(_ parameters: inout SAEParameters, _ gradients: SAEGradients, lr: Float) {
        step += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(step)))
        let stepSize = lr / correction1
        let root2 = correction2.squareRoot()
        for name in parameters.tensorNames {
            let gradient = gradients[name]
            var m = first[name] ?? [Float](repeating: 0, count: gradient.count)
            var v = second[name] ?? [Float](repeating: 0, count: gradient.count)
            var values = parameters[name]
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            values.withUnsafeMutableBufferPointer { p in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { g in
                            for i in 0..<g.count {
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                p[i] -= stepSize * m[i] / (v[i].squareRoot() / root2 + eps)
                            }
                        }
                    }
                }
            }
            parameters[name] = values
            first[name] = m
            second[name] = v
        }
    }

    /// Forgets the moments of the given features (after resampling them).
    public mutating func resetFeatures(_ features: [Int], d: Int, count: Int) {
        for feature in features {
            for name in ["W_enc", "b_enc", "W_dec", "log_threshold"] where first[name] != nil {
                switch name {
                case "W_enc":
                    for j in 0..<d { first[name]![j * count + feature] = 0; second[name]![j * count + feature] = 0 }
                case "W_dec":
                    for j in 0..<d { first[name]![feature * d + j] = 0; second[name]![feature * d + j] = 0 }
                default:
                    first[name]![feature] = 0
                    second[name]![feature] = 0
                }
            }
        }
    }
}
