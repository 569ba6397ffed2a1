import CKernels
import Foundation
import XCTest

/// The vectorized element-wise kernels against libm over their whole useful range.
final class KernelTests: XCTestCase {
    let inputs: [Float] = stride(from: -90.0, through: 88.0, by: 0.0137).map { Float($0) } + [0, -0.0, 1e-30, -1e-30]

    func testExpIsWithinTwoUlpOfLibm() {
        var output = [Float](repeating: 0, count: inputs.count)
        saepipe_exp(inputs, &output, inputs.count)
        for (x, y) in zip(inputs, output) where x > -87.3 {
            let exact = Float(Foundation.exp(Double(x)))
            XCTAssertLessThanOrEqual(abs(y - exact), 2 * exact.ulp, "exp(\(x)) = \(y), libm \(exact)")
        }
        XCTAssertEqual(output[0], 0, accuracy: 1e-37, "large negative inputs underflow to ~0")
    }

    func testGeluMatchesTheErfDefinition() {
        var values = inputs.filter { abs($0) < 12 }
        let exact = values.map { x in Float(0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))) }
        saepipe_gelu_erf(&values, values.count)
        for (x, (y, reference)) in zip(inputs.filter { abs($0) < 12 }, zip(values, exact)) {
            XCTAssertLessThanOrEqual(abs(y - reference), 2e-7 * max(1, abs(x)), "gelu(\(x))")
        }
    }

    func testSwiGLUSoftmaxAndLogSumExp() {
        var rows: [Float] = [-3, 0, 2.5, 1, 4, -2]  // one row: gate [-3, 0, 2.5], up [1, 4, -2]
        saepipe_swiglu(&rows, 1, 3)
        let silu = { (g: Double) in g / (1 + Foundation.exp(-g)) }
        XCTAssertEqual(Double(rows[0]), silu(-3) * 1, accuracy: 1e-6)
        XCTAssertEqual(Double(rows[1]), 0, accuracy: 1e-7)
        XCTAssertEqual(Double(rows[2]), silu(2.5) * -2, accuracy: 1e-6)

        let logits: [Float] = (0..<1000).map { Float(sin(Double($0)) * 30) }
        let reference = { () -> Double in
            let m = Double(logits.max()!)
            return m + Foundation.log(logits.reduce(0) { $0 + Foundation.exp(Double($1) - m) })
        }()
        XCTAssertEqual(Double(saepipe_logsumexp(logits, logits.count)), reference, accuracy: 1e-5)
        var probabilities = Array(logits[0..<37])
        saepipe_softmax(&probabilities, probabilities.count)
        let m = Double(logits[0..<37].max()!)
        let total = logits[0..<37].reduce(0) { $0 + Foundation.exp(Double($1) - m) }
        for (p, x) in zip(probabilities, logits[0..<37]) {
            XCTAssertEqual(Double(p), Foundation.exp(Double(x) - m) / total, accuracy: 1e-7)
        }
    }
}
