import Foundation
@testable import SAEPipe
import SAEPipeSAE
import XCTest

/// The training-curve checks behind `results.json`'s health: "more tokens would likely help" must
/// rest on a rise at the constant learning rate, not on the lift every learning-rate decay gives.
final class HealthTests: XCTestCase {
    /// Rows logged every 10 steps: a 3-row warm-up to lr 2e-3, `plateau` rows at it, then a
    /// `decay`-row linear decay; `fve(i)` is the i-th row's FVE, held out on every `heldOutEvery`-th row.
    private func rows(plateau: Int, decay: Int, heldOutEvery: Int? = nil, fve: (Int) -> Double) -> [TrainingMetrics.Row] {
        let peak = 0.002
        let total = 3 + plateau + decay
        let lines = (0..<total).map { i -> String in
            let lr = i < 3 ? peak * Double(i + 1) / 4 : i < 3 + plateau ? peak : peak * Double(total - i) / Double(decay + 1)
            let heldOut = heldOutEvery.flatMap { i % $0 == 0 ? SAEEvaluation(mse: 0.1, fve: fve(i) - 0.01, l0: 64, l1: 1, deadFraction: 0, rows: 100) : nil }
            return TrainingMetrics.line(step: 10 * (i + 1), tokens: 10_240 * (i + 1), loss: 1, mse: 0.1, l1: 1, l0: 64, fve: fve(i),
                                        deadFraction: 0, lr: lr, lambda: 1, heldOut: heldOut, tokensPerSecond: 1000)
        }
        return TrainingMetrics(lines: lines).rows
    }

    private func improving(_ rows: [TrainingMetrics.Row]) -> HealthIssue? {
        Health.stillMoving(rows, side: .A).first { $0.code == "still_improving" }
    }

    func testTheLiftFromTheLearningRateDecayAloneIsNotReadAsUndertraining() {
        // Flat at 0.80 while the rate is constant, then up to 0.83 over the decay: the last fifth
        // is 0.02 above the fifth before it, yet more tokens at this rate would not have helped.
        let curve = rows(plateau: 80, decay: 20, heldOutEvery: 5) { i in i < 83 ? 0.80 : 0.80 + 0.03 * Double(i - 82) / 20 }
        XCTAssertNil(improving(curve))
        XCTAssertEqual(Health.fveRiseAtConstantRate(curve)?.amount ?? 1, 0, accuracy: 1e-9)
    }

    func testARiseAtTheConstantRateIsReportedWithItsSteps() throws {
        // 0.001 per row at the constant rate: the last quarter (20 rows) sits 0.02 above the one before.
        let curve = rows(plateau: 80, decay: 20, heldOutEvery: 5) { i in 0.70 + 0.001 * Double(min(i, 82)) }
        let rise = try XCTUnwrap(Health.fveRiseAtConstantRate(curve))
        XCTAssertTrue(rise.heldOut)
        XCTAssertEqual(rise.amount, 0.02, accuracy: 1e-6)
        // The plateau is rows 3...82 (steps 40...830): its last two quarters are steps 440–630 and 640–830.
        XCTAssertEqual(rise.earlier.first?[.step], 440)
        XCTAssertEqual(rise.late.last?[.step], 830)
        let issue = try XCTUnwrap(improving(curve))
        XCTAssertEqual(issue.message, "SAE A's held-out FVE rose by 0.020 from steps 440–630 to steps 640–830, at its constant learning rate before the decay: more tokens would likely help")
        XCTAssertEqual(issue.value ?? 0, 0.02, accuracy: 1e-6)
    }

    func testWithoutAHeldOutEvaluationInBothQuartersBothUseTheTrainingBatches() throws {
        // One held-out row only (row 0, in the warm-up): both quarters fall back to the batches' FVE.
        let curve = rows(plateau: 80, decay: 20, heldOutEvery: 1000) { i in 0.70 + 0.001 * Double(min(i, 82)) }
        let rise = try XCTUnwrap(Health.fveRiseAtConstantRate(curve))
        XCTAssertFalse(rise.heldOut)
        XCTAssertTrue(try XCTUnwrap(improving(curve)).message.hasPrefix("SAE A's training-batch FVE rose by 0.020"))
    }

    func testARunThatDecaysFromItsFirstStepsHasNoConstantStretchToRead() {
        let curve = rows(plateau: 4, decay: 96) { i in 0.5 + 0.003 * Double(i) }
        XCTAssertNil(Health.fveRiseAtConstantRate(curve))
        XCTAssertNil(improving(curve))
    }
}
