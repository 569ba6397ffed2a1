import Foundation
import SAEPipeCore
import SAEPipeSAE

/// The checks behind `results.json`'s `health`: each names what is wrong, how badly, and where.
enum Health {
    /// A train/held-out FVE gap above this share of the held-out FVE (with an interval above zero)
    /// is material overfitting: the SAE does that much better on rows it trained on.
    static let maximumRelativeGap = 0.05
    /// More passes over the training rows than this memorize them.
    static let maximumPasses = 8.0
    static let maximumDeadFraction = 0.10
    /// Features firing on more than `eval.dense_threshold` of tokens, as a share of all features.
    static let maximumDenseFraction = 0.01

    static func check(
        eval: [SAEPair: EvalResults.PairMetrics], generalization: [Side: EvalResults.Generalization],
        training: [Side: [TrainingMetrics.Row]], denseThreshold: Double, multiLayerAt: Int? = nil
    ) -> [HealthIssue] {
        var issues: [HealthIssue] = []
        let n = { (value: Double) in NumberFormat.fixed(value, digits: 3) }
        for side in Side.allCases {
            if let g = generalization[side] {
                let gapInterval = g.intervals["gap"]
                if g.gap > maximumRelativeGap * max(g.heldoutFVE, 0), (gapInterval?[0] ?? g.gap) > 0 {
                    issues.append(HealthIssue(
                        code: "overfitting", severity: .warning,
                        message: "SAE \(side) explains \(n(g.trainFVE)) of the variance on its training rows but \(n(g.heldoutFVE)) on held-out rows (gap \(n(g.gap))\(gapInterval.map { ", 95% interval [\(n($0[0])), \(n($0[1]))]" } ?? "")) after \(NumberFormat.fixed(g.passes, digits: 1)) passes: collect more tokens or train for fewer",
                        pairOrSide: side.rawValue))
                } else if g.passes > maximumPasses {
                    issues.append(HealthIssue(
                        code: "overfitting", severity: .warning,
                        message: "SAE \(side) saw each training row \(NumberFormat.fixed(g.passes, digits: 1)) times (more than \(Int(maximumPasses))); its held-out FVE is \(n(g.heldoutFVE)) against \(n(g.trainFVE)) in training",
                        pairOrSide: side.rawValue))
                }
            }
            if let m = eval[SAEPair(side, side)] {
                if !m.fve.isFinite || m.fve < 0 {
                    issues.append(HealthIssue(code: "diverged", severity: .error,
                                              message: "SAE \(side) explains \(n(m.fve)) of its held-out variance: it reconstructs worse than the mean",
                                              pairOrSide: "\(side)->\(side)"))
                }
                if m.deadFraction > maximumDeadFraction {
                    issues.append(HealthIssue(code: "dead_features", severity: .warning,
                                              message: "\(NumberFormat.fixed(100 * m.deadFraction, digits: 1))% of SAE \(side)'s features never fire on its held-out rows"
                                                + (multiLayerAt.map { " at layer \($0) (a multi-layer SAE's latents may fire at other layers: see mlsae.json)" } ?? ""),
                                              pairOrSide: "\(side)->\(side)"))
                }
                if m.denseFraction > maximumDenseFraction {
                    issues.append(HealthIssue(code: "dense_features", severity: .warning,
                                              message: "\(NumberFormat.fixed(100 * m.denseFraction, digits: 1))% of SAE \(side)'s features fire on more than \(NumberFormat.fixed(100 * denseThreshold, digits: 0))% of tokens",
                                              pairOrSide: "\(side)->\(side)"))
                }
            }
            if let rows = training[side] { issues += stillMoving(rows, side: side) }
        }
        for pair in SAEPair.all {
            guard let m = eval[pair] else { continue }
            if let note = m.ceRecoveredNote {
                issues.append(HealthIssue(code: "ce_effect_too_small", severity: .warning,
                                          message: "CE recovered for \(pair.arrowLabel) is not reported: \(note)", pairOrSide: pair.key))
            } else if let recovered = m.ceRecovered, recovered < 0 || recovered > 1 {
                issues.append(HealthIssue(code: "ce_recovered_out_of_range", severity: .warning,
                                          message: "CE recovered for \(pair.arrowLabel) is \(n(recovered)), outside [0, 1]: the SAE's reconstruction \(recovered > 1 ? "lowers the loss below the clean model's" : "raises the loss above zero ablation's")",
                                          pairOrSide: pair.key))
            }
            if let note = m.klScoreNote {
                issues.append(HealthIssue(code: "kl_effect_too_small", severity: .warning,
                                          message: "The KL score for \(pair.arrowLabel) is not reported: \(note)", pairOrSide: pair.key))
            }
        }
        return issues
    }

    /// L0 or λ still changing over the last fifth of training, or held-out FVE still rising at the
    /// constant learning rate. The learning-rate decay lifts FVE at the end of any run, so a rise
    /// during it says nothing about whether more tokens would help; the check reads the last two
    /// quarters of the constant-rate stretch between the warm-up and the decay instead.
    static func stillMoving(_ rows: [TrainingMetrics.Row], side: Side) -> [HealthIssue] {
        guard rows.count >= 20 else { return [] }
        let fifth = rows.count / 5
        let (late, earlier) = (Array(rows.suffix(fifth)), Array(rows.dropLast(fifth).suffix(fifth)))
        var issues: [HealthIssue] = []
        for (column, name, limit) in [(TrainingMetrics.Column.l0, "L0", 0.05), (.lambda, "λ", 0.05)] {
            guard let a = mean(earlier, column), let b = mean(late, column), a > 0 else { continue }
            let change = (b - a) / a
            if abs(change) > limit {
                issues.append(HealthIssue(code: column == .l0 ? "l0_still_moving" : "lambda_still_moving", severity: .info,
                                          message: "SAE \(side)'s \(name) changed by \(NumberFormat.fixed(100 * change, digits: 1))% over the last fifth of training: it has not settled",
                                          pairOrSide: side.rawValue, value: change))
            }
        }
        if let rise = fveRiseAtConstantRate(rows), rise.amount > minimumFVERise {
            let steps = { (part: [TrainingMetrics.Row]) in
                "\(Int(part.first?[.step] ?? 0))–\(Int(part.last?[.step] ?? 0))"
            }
            issues.append(HealthIssue(code: "still_improving", severity: .info,
                                      message: "SAE \(side)'s \(rise.heldOut ? "held-out" : "training-batch") FVE rose by \(NumberFormat.fixed(rise.amount, digits: 3)) from steps \(steps(rise.earlier)) to steps \(steps(rise.late)), at its constant learning rate before the decay: more tokens would likely help",
                                      pairOrSide: side.rawValue, value: rise.amount))
        }
        return issues
    }

    /// A rise in FVE across a quarter of the constant-rate stretch above this counts as still improving.
    static let minimumFVERise = 0.01

    /// The change in mean FVE between the last two quarters of the rows logged at the peak learning
    /// rate (after the warm-up, before the decay): held-out FVE when both quarters have a held-out
    /// evaluation, else the training batches' FVE for both. Nil when that stretch is too short.
    static func fveRiseAtConstantRate(_ rows: [TrainingMetrics.Row])
        -> (amount: Double, heldOut: Bool, earlier: [TrainingMetrics.Row], late: [TrainingMetrics.Row])? {
        guard let peak = rows.compactMap({ $0[.lr] }).max(), peak > 0 else { return nil }
        let atPeak = { (row: TrainingMetrics.Row) in (row[.lr] ?? 0) >= peak * (1 - 1e-6) }
        guard let first = rows.firstIndex(where: atPeak), let last = rows.lastIndex(where: atPeak) else { return nil }
        let plateau = Array(rows[first...last])
        let quarter = plateau.count / 4
        guard quarter >= 2 else { return nil }
        let late = Array(plateau.suffix(quarter)), earlier = Array(plateau.dropLast(quarter).suffix(quarter))
        if let a = mean(earlier, .heldoutFVE), let b = mean(late, .heldoutFVE) {
            return (b - a, true, earlier, late)
        }
        guard let a = mean(earlier, .fve), let b = mean(late, .fve) else { return nil }
        return (b - a, false, earlier, late)
    }

    private static func mean(_ part: [TrainingMetrics.Row], _ column: TrainingMetrics.Column) -> Double? {
        let values = part.compactMap { $0[column] }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
