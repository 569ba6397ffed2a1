import Foundation
import SAEPipeCore
@testable import SAEPipeSAE
import XCTest

/// Adam against torch.optim.Adam's formulas written out, and the trainer's two shortcuts: the
/// encoder gradient read transposed, and clipping applied as a factor inside the step.
final class AdamTests: XCTestCase {
    func parameters(seed: UInt64, d: Int = 37, features: Int = 53) -> SAEParameters {
        var generator = SplitMix64(seed: seed)
        var p = SAEParameters.initialized(d: d, features: features, seed: seed, decoderNorm: 0.5)
        p.bEnc = p.bEnc.map { _ in Float(generator.nextUnit() - 0.5) }
        p.bDec = p.bDec.map { _ in Float(generator.nextUnit() - 0.5) }
        p.wEnc = p.wEnc.map { _ in Float(generator.nextUnit() * 2 - 1) }
        return p
    }

    func testTwoStepsMatchTorchsFormulas() {
        let start = parameters(seed: 1)
        let gradients = [parameters(seed: 2), parameters(seed: 3)]
        var adam = Adam(beta1: 0.9, beta2: 0.99, epsilon: 1e-8)
        var p = start
        for g in gradients { adam.update(&p, g, lr: 1e-2, decoderLRScale: 1) }
        // Independent: torch's update in Double.
        for index in [0, 7, start.wEnc.count - 1] {
            var (m, v, value) = (0.0, 0.0, Double(start.wEnc[index]))
            for (step, g) in gradients.enumerated() {
                let gradient = Double(g.wEnc[index])
                m = 0.9 * m + 0.1 * gradient
                v = 0.99 * v + 0.01 * gradient * gradient
                let mHat = m / (1 - pow(0.9, Double(step + 1))), vHat = v / (1 - pow(0.99, Double(step + 1)))
                value -= 1e-2 * mHat / (vHat.squareRoot() + 1e-8)
            }
            XCTAssertEqual(Double(p.wEnc[index]), value, accuracy: 1e-6)
        }
    }

    func testTheTransposedEncoderGradientAndTheClippingFactorGiveTheSameBits() {
        // Not multiples of the kernel's 16 × 16 tiles; then whole tiles (flipped in registers on
        // AVX-512) beside partial ones, with the rows split over the cores at row 20.
        for (d, features) in [(37, 53), (40, 96)] { checkTransposedGradientStep(d: d, features: features) }
    }

    func checkTransposedGradientStep(d: Int, features: Int) {
        let start = parameters(seed: 4, d: d, features: features)
        let gradients = [parameters(seed: 5, d: d, features: features), parameters(seed: 6, d: d, features: features)]
        let scale: Float = 0.37
        var (plain, plainAdam) = (start, Adam(beta1: 0.9, beta2: 0.99))
        var (fused, fusedAdam) = (start, Adam(beta1: 0.9, beta2: 0.99))
        for g in gradients {
            var scaled = g
            for (_, path) in scaled.tensors { scaled[keyPath: path] = scaled[keyPath: path].map { $0 * scale } }
            plainAdam.update(&plain, scaled, lr: 3e-3, decoderLRScale: 1)
            var transposed = [Float](repeating: 0, count: features * d)
            for j in 0..<d { for i in 0..<features { transposed[i * d + j] = g.wEnc[j * features + i] } }
            var withoutEncoder = g
            withoutEncoder.wEnc = [Float](repeating: .nan, count: g.wEnc.count)  // must not be read
            transposed.withUnsafeBufferPointer {
                fusedAdam.update(&fused, withoutEncoder, lr: 3e-3, decoderLRScale: 1, gradientScale: scale, transposedEncoderGradient: $0.baseAddress!)
            }
        }
        XCTAssertEqual(fused, plain, "d \(d), features \(features)")
        XCTAssertEqual(fusedAdam, plainAdam, "d \(d), features \(features)")
    }

    func testTheDecoderLearningRateScaleMovesOnlyTheDecoderWeights() {
        let start = parameters(seed: 7)
        let gradients = [parameters(seed: 8), parameters(seed: 9)]
        var (scaled, scaledAdam) = (start, Adam(beta1: 0.9, beta2: 0.99))
        var (plain, plainAdam) = (start, Adam(beta1: 0.9, beta2: 0.99))
        var (fast, fastAdam) = (start, Adam(beta1: 0.9, beta2: 0.99))
        for g in gradients {
            scaledAdam.update(&scaled, g, lr: 1e-2, decoderLRScale: 3)
            plainAdam.update(&plain, g, lr: 1e-2, decoderLRScale: 1)
            fastAdam.update(&fast, g, lr: 3e-2, decoderLRScale: 1)
        }
        XCTAssertEqual(scaled.wEnc, plain.wEnc)
        XCTAssertEqual(scaled.bEnc, plain.bEnc)
        XCTAssertEqual(scaled.bDec, plain.bDec)
        XCTAssertNotEqual(scaled.wDec, plain.wDec)
        for index in scaled.wDec.indices { XCTAssertEqual(scaled.wDec[index], fast.wDec[index], accuracy: 1e-6) }
        // The moments do not depend on the rate.
        XCTAssertEqual(scaledAdam, plainAdam)
    }
}
