import CKernels
import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// A dense layer as PyTorch stores it: weight [out, in], optional bias [out].
public struct Linear: Sendable {
    public var weight: [Float]
    public var bias: [Float]?
    public let outFeatures: Int
    public let inFeatures: Int

    public init(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures && (bias?.count ?? outFeatures) == outFeatures)
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// output[rows, out] (+)= input[rows, in] · weightᵀ + bias; input rows are `inputStride` apart.
    public func apply(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int? = nil,
                      into output: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        var beta: Float = accumulate ? 1 : 0
        if let bias {
            bias.withUnsafeBufferPointer { b in
                for row in 0..<rows {
                    let target = output + row * outFeatures
                    if accumulate {
                        for j in 0..<outFeatures { target[j] += b[j] }
                    } else {
                        target.update(from: b.baseAddress!, count: outFeatures)
                    }
                }
            }
            beta = 1
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(.none, .transposed, m: rows, n: outFeatures, k: inFeatures, a: input,
                       lda: inputStride ?? inFeatures, b: w.baseAddress!, beta: beta, c: output)
        }
    }
}

/// Row-wise normalizations: float32 statistics accumulated in double for stability.
public enum Norms {
    /// LayerNorm with biased variance, as torch.nn.LayerNorm.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: [Float], bias: [Float], eps: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                for row in 0..<rows {
                    let input = x + row * width
                    let output = out + row * width
                    var sum: Double = 0
                    for j in 0..<width { sum += Double(input[j]) }
                    let mean = Float(sum / Double(width))
                    var squares: Double = 0
                    for j in 0..<width {
                        let centered = Double(input[j] - mean)
                        squares += centered * centered
                    }
                    let inverse = Float(1 / (squares / Double(width) + Double(eps)).squareRoot())
                    for j in 0..<width { output[j] = (input[j] - mean) * inverse * w[j] + b[j] }
                }
            }
        }
    }

    /// RMSNorm as Llama: x · rsqrt(mean(x²) + eps) · weight.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, weight: [Float], eps: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        weight.withUnsafeBufferPointer { w in
            for row in 0..<rows {
                let input = x + row * width
                let output = out + row * width
                var squares: Double = 0
                for j in 0..<width { squares += Double(input[j]) * Double(input[j]) }
                let inverse = Float(1 / (squares / Double(width) + Double(eps)).squareRoot())
                for j in 0..<width { output[j] = w[j] * (input[j] * inverse) }
            }
        }
    }
}

/// Element-wise activations.
public enum Activations {
    /// Exact GELU: x · ½(1 + erf(x/√2)).
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.chunks(count) { range in saepipe_gelu_erf(x + range.lowerBound, range.count) }
    }

    /// Llama's SwiGLU on rows laid out [gate | up] (2·width floats each):
    /// the gate half becomes silu(gate) · up.
    public static func swiGLU(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        Parallel.chunks(rows, minimumChunk: max(1, 4096 / width)) { range in
            saepipe_swiglu(x + range.lowerBound * 2 * width, range.count, width)
        }
    }
}

/// Rotary position embedding with rotate-half pairing (dimension i with i + rotaryDims/2).
public struct RotaryEmbedding: Sendable {
    public let rotaryDims: Int
    let cosines: [Float]
    let sines: [Float]

    /// Angles computed in float32 the way transformers does, so positions far from 0 agree too.
    public init(rotaryDims: Int, base: Double, positions: Int) {
        self.rotaryDims = rotaryDims
        let half = rotaryDims / 2
        var cosines = [Float](repeating: 0, count: positions * half)
        var sines = cosines
        for i in 0..<half {
            let exponent = Float(2 * i) / Float(rotaryDims)
            let inverseFrequency = 1 / Float(pow(base, Double(exponent)))
            for position in 0..<positions {
                let angle = Double(Float(position) * inverseFrequency)
                cosines[position * half + i] = Float(cos(angle))
                sines[position * half + i] = Float(sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates the first `rotaryDims` of each head in place. `x` holds rows of `rowStride`
    /// floats; head h of row r starts at `r·rowStride + headOffset(h)`.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, rowStride: Int, heads: Int,
        headOffset: (Int) -> Int
    ) {
        let half = rotaryDims / 2
        cosines.withUnsafeBufferPointer { cosTable in
            sines.withUnsafeBufferPointer { sinTable in
                for row in 0..<(batch * seqLen) {
                    let position = row % seqLen
                    let c = cosTable.baseAddress! + position * half
                    let s = sinTable.baseAddress! + position * half
                    for head in 0..<heads {
                        let v = x + row * rowStride + headOffset(head)
                        for i in 0..<half {
                            let first = v[i]
                            let second = v[i + half]
                            v[i] = first * c[i] - second * s[i]
                            v[i + half] = second * c[i] + first * s[i]
                        }
                    }
                }
            }
        }
    }
}

/// Causal softmax attention over strided per-head views, written into `out` [rows, heads·headDim].
public enum Attention {
    public struct Layout {
        /// Floats between consecutive rows of the q/k/v buffer.
        public var rowStride: Int
        public var queryOffset: (Int) -> Int
        public var keyOffset: (Int) -> Int
        public var valueOffset: (Int) -> Int
    }

    public static func causal(
        _ qkv: UnsafePointer<Float>, layout: Layout, batch: Int, seqLen: Int, heads: Int, headDim: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        let scale = 1 / Float(headDim).squareRoot()
        let outStride = heads * headDim
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: seqLen * seqLen)
        defer { scores.deallocate() }
        for b in 0..<batch {
            let base = qkv + b * seqLen * layout.rowStride
            for h in 0..<heads {
                BLAS.sgemm(
                    .none, .transposed, m: seqLen, n: seqLen, k: headDim, alpha: scale,
                    a: base + layout.queryOffset(h), lda: layout.rowStride,
                    b: base + layout.keyOffset(h), ldb: layout.rowStride, c: scores)
                for t in 0..<seqLen {
                    let row = scores + t * seqLen
                    saepipe_softmax(row, t + 1)
                    for s in (t + 1)..<seqLen { row[s] = 0 }
                }
                BLAS.sgemm(
                    .none, .none, m: seqLen, n: headDim, k: seqLen, a: scores, lda: seqLen,
                    b: base + layout.valueOffset(h), ldb: layout.rowStride,
                    c: out + b * seqLen * outStride + h * headDim, ldc: outStride)
            }
        }
    }
}

/// Log-softmax statistics of logits rows.
public enum LogProbabilities {
    /// −log softmax(row)[target], computed stably.
    public static func negativeLogLikelihood(_ row: UnsafePointer<Float>, width: Int, target: Int) -> Float {
        saepipe_logsumexp(row, width) - row[target]
    }

    /// KL(softmax(p) ‖ softmax(q)) in nats.
    public static func klDivergence(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, width: Int) -> Double {
        saepipe_kl_logits(p, q, width)
    }
}
