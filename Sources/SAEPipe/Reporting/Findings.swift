import Foundation
import SAEPipeCore

/// A measured value with its 95% interval, as the report prints it.
struct Measured: Equatable {
    var value: Double
    var interval: [Double]?

    var halfWidth: Double? { interval.map { ($0[1] - $0[0]) / 2 } }

    func text(_ digits: Int = 3) -> String {
        guard value.isFinite else { return "n/a" }
        // A zero-width interval (every resample agrees, e.g. no dead feature anywhere) adds nothing.
        guard let halfWidth, halfWidth > 0 else { return NumberFormat.fixed(value, digits: digits) }
        return NumberFormat.fixed(value, digits: digits) + " ± " + NumberFormat.fixed(halfWidth, digits: digits)
    }

    /// The sign of a difference, when its interval says it is not zero.
    var direction: Direction {
        guard let interval else { return .unknown }
        if interval[0] > 0 { return .up }
        if interval[1] < 0 { return .down }
        return .none
    }

    /// Two independent estimates differ when their intervals do not overlap.
    func compared(to other: Measured) -> Direction {
        guard let a = interval, let b = other.interval else { return .unknown }
        if a[0] > b[1] { return .up }
        if a[1] < b[0] { return .down }
        return .none
    }

    enum Direction: Equatable { case up, down, none, unknown }
}

/// What the results say, each finding computed from the numbers and their intervals; the
/// report's sentences are rendered from these and never state what the intervals do not support.
enum Finding: Equatable {
    /// An SAE on its own dataset.
    case inDomain(side: Side, fve: Measured, l0: Measured, ceRecovered: Measured?, ceNote: String?, klScore: Measured?)
    /// Splicing the SAE in changes the model's loss on its own dataset by `increase` (CE_sae − CE_clean).
    case splicedLoss(side: Side, clean: Measured, sae: Measured, increase: Measured)
    /// An SAE on the other dataset against that dataset's own SAE.
    case transfer(pair: SAEPair, fve: Measured, drop: Measured, retained: Double, quality: TransferQuality)
    /// L0 on the other dataset against L0 on its own.
    case firingOutOfDomain(side: Side, home: Measured, away: Measured, direction: Measured.Direction)
    /// Reconstructions shorter than the inputs (relative reconstruction bias below 1).
    case shrinkage(side: Side, bias: Measured, l2Ratio: Measured, direction: Measured.Direction)
    case generalization(side: Side, train: Measured, heldOut: Double, gap: Measured, passes: Double)
    case deadFeatures(side: Side, fraction: Measured)
    /// Whether both SAEs reconstruct the other dataset measurably worse than its own SAE.
    case hypothesis(measurableDrops: Int, transfers: Int, retained: [Double])
    /// How many features the two dictionaries share by decoder direction.
    case matching(EvalResults.Matching)
    case health(HealthIssue)

    enum TransferQuality: String, Equatable {
        /// The drop's interval includes zero.
        case noMeasurableDrop = "no measurable drop"
        /// Keeps at least 90% of the home SAE's FVE.
        case well = "transfers well"
        /// Keeps 50–90%.
        case partly = "transfers partly"
        /// Keeps under half.
        case poorly = "transfers poorly"
    }

    static func transferQuality(drop: Measured, retained: Double) -> TransferQuality {
        if drop.direction == .none { return .noMeasurableDrop }
        return retained >= 0.9 ? .well : retained >= 0.5 ? .partly : .poorly
    }

    /// Every finding the results support, in report order.
    static func all(_ results: EvalResults) -> [Finding] {
        var findings: [Finding] = []
        let measured = { (m: EvalResults.PairMetrics, key: String, value: Double) in Measured(value: value, interval: m.intervals[key]) }
        for side in Side.allCases {
            guard let m = results.eval[SAEPair(side, side)] else { continue }
            findings.append(.inDomain(
                side: side, fve: measured(m, "fve", m.fve), l0: measured(m, "l0", m.l0),
                ceRecovered: m.ceRecovered.map { measured(m, "ce_recovered", $0) }, ceNote: m.ceRecoveredNote,
                klScore: m.klScore.map { measured(m, "kl_score", $0) }))
        }
        for side in Side.allCases {
            guard let m = results.eval[SAEPair(side, side)] else { continue }
            findings.append(.splicedLoss(side: side, clean: measured(m, "ce_loss_clean", m.ceLossClean),
                                         sae: measured(m, "ce_loss_sae", m.ceLossSAE),
                                         increase: measured(m, "ce_loss_increase", m.ceLossIncrease)))
        }
        for pair in SAEPair.transfers {
            guard let m = results.eval[pair], let t = results.crossDomain[pair] else { continue }
            let drop = Measured(value: t.fveDrop, interval: t.intervals["fve_drop"])
            let retained = t.fveRetained
            findings.append(.transfer(pair: pair, fve: measured(m, "fve", m.fve), drop: drop, retained: retained,
                                      quality: transferQuality(drop: drop, retained: retained)))
        }
        let transfers = findings.compactMap { finding -> (Bool, Double)? in
            if case .transfer(_, _, let drop, let retained, _) = finding { return (drop.direction == .up, retained) }
            return nil
        }
        if !transfers.isEmpty {
            findings.append(.hypothesis(measurableDrops: transfers.filter(\.0).count, transfers: transfers.count,
                                        retained: transfers.map(\.1)))
        }
        if let matching = results.matching { findings.append(.matching(matching)) }
        for side in Side.allCases {
            guard let home = results.eval[SAEPair(side, side)], let away = results.eval[SAEPair(side, side.other)] else { continue }
            let (h, a) = (measured(home, "l0", home.l0), measured(away, "l0", away.l0))
            findings.append(.firingOutOfDomain(side: side, home: h, away: a, direction: a.compared(to: h)))
        }
        for side in Side.allCases {
            guard let m = results.eval[SAEPair(side, side)] else { continue }
            let bias = measured(m, "relative_reconstruction_bias", m.relativeReconstructionBias)
            let belowOne = bias.interval.map { $0[1] < 1 ? Measured.Direction.down : $0[0] > 1 ? .up : .none } ?? .unknown
            findings.append(.shrinkage(side: side, bias: bias, l2Ratio: measured(m, "l2_ratio", m.l2Ratio), direction: belowOne))
        }
        for side in Side.allCases {
            guard let g = results.generalization[side] else { continue }
            findings.append(.generalization(side: side, train: Measured(value: g.trainFVE, interval: g.intervals["train_fve"]),
                                            heldOut: g.heldoutFVE, gap: Measured(value: g.gap, interval: g.intervals["gap"]),
                                            passes: g.passes))
        }
        for side in Side.allCases {
            guard let m = results.eval[SAEPair(side, side)] else { continue }
            findings.append(.deadFeatures(side: side, fraction: measured(m, "dead_fraction", m.deadFraction)))
        }
        // Most severe first; equal severities keep their order in results.json.
        findings += results.health.enumerated().sorted { ($0.element.severity, $1.offset) > ($1.element.severity, $0.offset) }
            .map { Finding.health($0.element) }
        return findings
    }
}

/// Findings as sentences, given the datasets' labels.
struct FindingWriter {
    var labels: DatasetLabels
    /// The layer a multi-layer SAE is evaluated at here, when the SAEs are multi-layer ones.
    var multiLayerAt: Int? = nil

    func sentence(_ finding: Finding) -> String {
        switch finding {
        case .inDomain(let side, let fve, let l0, let recovered, let note, let kl):
            var text = "SAE \(side) explains \(fve.text()) of the variance of held-out \(labels[side]) activations at L0 \(l0.text(1))"
            if let recovered {
                text += "; spliced into the model it recovers \(recovered.text()) of the loss that zeroing the hook costs"
                if recovered.value > 1 || recovered.value < 0 { text += " (outside [0, 1]: see the health section)" }
            } else {
                text += "; its CE recovered is not reported (\(note ?? "not measurable"))"
            }
            if let kl { text += ", and its KL score is \(kl.text())" }
            return text + "."
        case .splicedLoss(let side, let clean, let sae, let increase):
            let change: String
            switch increase.direction {
            case .up: change = "rises from \(clean.text()) to \(sae.text()) nats (+\(increase.text()))"
            case .down: change = "falls from \(clean.text()) to \(sae.text()) nats (\(increase.text()))"
            case .none, .unknown: change = "shows no measurable change (\(clean.text()) clean, \(sae.text()) with the SAE; difference \(increase.text()))"
            }
            return "With SAE \(side)'s reconstruction spliced in, the next-token loss on \(labels[side]) \(change)."
        case .transfer(let pair, let fve, let drop, let retained, let quality):
            let home = "\(labels[pair.evaluated])'s own SAE"
            let base = "SAE \(pair.trained) on \(labels[pair.evaluated]) explains \(fve.text()) of the variance"
            switch quality {
            case .noMeasurableDrop:
                return base + ", no measurable difference from \(home) (drop \(drop.text()))."
            case .well, .partly, .poorly:
                return base + ", \(drop.text()) less than \(home): it keeps \(NumberFormat.fixed(100 * retained, digits: 1))% of that FVE and \(quality.rawValue)."
            }
        case .firingOutOfDomain(let side, let home, let away, let direction):
            let other = labels[side.other]
            switch direction {
            case .up: return "On \(other), SAE \(side) fires more: L0 \(away.text(1)) against \(home.text(1)) on \(labels[side])."
            case .down: return "On \(other), SAE \(side) fires less: L0 \(away.text(1)) against \(home.text(1)) on \(labels[side])."
            case .none, .unknown: return "On \(other), SAE \(side) fires about as often as on \(labels[side]): L0 \(away.text(1)) against \(home.text(1)), no measurable difference."
            }
        case .shrinkage(let side, let bias, let ratio, let direction):
            switch direction {
            // γ compares x̂ with its best rescaling, not with ‖x‖: the L2 ratio can sit below 1 while γ is above it.
            case .down: return "SAE \(side)'s reconstructions are shrunk: scaling them up would fit better (relative reconstruction bias \(bias.text()), below 1; L2 ratio ‖x̂‖/‖x‖ \(ratio.text()))."
            case .up: return "SAE \(side)'s reconstructions overshoot along their own direction: scaling them down would fit better (relative reconstruction bias \(bias.text()), above 1; L2 ratio ‖x̂‖/‖x‖ \(ratio.text()))."
            case .none, .unknown: return "SAE \(side) shows no measurable shrinkage (relative reconstruction bias \(bias.text()), L2 ratio \(ratio.text()))."
            }
        case .generalization(let side, let train, let heldOut, let gap, let passes):
            let text = "SAE \(side) explains \(train.text()) of the variance on its training rows and \(NumberFormat.fixed(heldOut, digits: 3)) on held-out rows after \(NumberFormat.fixed(passes, digits: 1)) passes"
            switch gap.direction {
            case .up: return text + ": it does measurably better on what it trained on (gap \(gap.text()))."
            case .down: return text + ": held-out rows come out measurably better (gap \(gap.text()))."
            case .none, .unknown: return text + ": no measurable generalization gap (\(gap.text()))."
            }
        case .deadFeatures(let side, let fraction):
            let percent = Measured(value: 100 * fraction.value, interval: fraction.interval.map { $0.map { 100 * $0 } })
            guard let layer = multiLayerAt else { return "\(percent.text(1))% of SAE \(side)'s features never fire on held-out \(labels[side]) rows." }
            return "\(percent.text(1))% of multi-layer SAE \(side)'s latents never fire on held-out \(labels[side]) rows at layer \(layer); "
                + "they may fire at other layers (its per-layer results count the latents that fire at any)."
        case .hypothesis(let drops, let count, let retained):
            let kept = retained.map { NumberFormat.fixed(100 * $0, digits: 1) + "%" }.joined(separator: " and ")
            if drops == count {
                return "As the hypothesis expects, each SAE reconstructs the other dataset measurably worse than that dataset's own SAE does (it keeps \(kept) of its FVE)."
            }
            if drops == 0 {
                return "Against the hypothesis, no SAE reconstructs the other dataset measurably worse than that dataset's own SAE does."
            }
            return "The hypothesis holds for \(drops) of the \(count) transfers: the others show no measurable drop."
        case .matching(let m):
            let percent = NumberFormat.fixed(100 * m.sharedFraction, digits: 1)
            let threshold = NumberFormat.fixed(m.threshold, digits: 1)
            let means = "the mean best-match cosine is \(NumberFormat.fixed(m.mmcsAToB, digits: 3)) from SAE A to SAE B and \(NumberFormat.fixed(m.mmcsBToA, digits: 3)) from B to A"
            let share: String
            if m.sharedFraction >= 0.5 {
                share = "so most features have a close counterpart in the other SAE"
            } else {
                share = "so most of each dictionary has no close counterpart in the other. Telling how much of that is specific to a domain, rather than what separates any two training runs, would need a second SAE trained on the same dataset"
            }
            var text = "By decoder direction, \(m.shared) of the \(m.pairs) pairs of a one-to-one matching between the two SAEs' features (\(percent)%) have cosine ≥ \(threshold) and count as shared; \(means), \(share)."
            // Far more same-index pairs than chance: the SAEs share an initial dictionary (one seed) and still carry it.
            if m.pairs > 0, m.sameIndexFraction > max(0.01, 10 / Double(m.pairs)) {
                text += " Both SAEs started from the same initial dictionary, and \(NumberFormat.fixed(100 * m.sameIndexFraction, digits: 1))% of the matched pairs join features with the same index (chance: 1 in \(m.pairs)), so part of the similarity is inherited from that start rather than learned from the data."
            }
            return text
        case .health(let issue):
            return "\(issue.severity.rawValue.capitalized): \(issue.message)."
        }
    }
}

extension Finding {
    /// Key results; the rest (shrinkage, dead features, health) goes under failure modes.
    var isKeyResult: Bool {
        switch self {
        case .inDomain, .splicedLoss, .transfer, .hypothesis, .matching, .firingOutOfDomain, .generalization: return true
        case .shrinkage, .deadFeatures, .health: return false
        }
    }
}

/// The report's generated sentences, for the report writers and their tests.
public enum ReportSentences {
    public static func keyResults(_ results: EvalResults, labels: DatasetLabels) -> [String] {
        let writer = FindingWriter(labels: labels)
        return Finding.all(results).filter(\.isKeyResult).map(writer.sentence)
    }

    public static func failureModes(_ results: EvalResults, labels: DatasetLabels) -> [String] {
        let writer = FindingWriter(labels: labels)
        return Finding.all(results).filter { !$0.isKeyResult }.map(writer.sentence)
    }
}
