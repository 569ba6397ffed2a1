import Foundation
import SAEPipeCore
import SAEPipeSAE

/// Both SAEs on one dataset: point metrics, and the same metrics on shared bootstrap resamples
/// of held-out windows, so differences between the SAEs are paired.
struct DatasetEvaluation {
    struct SAEResult {
        var reconstruction: ReconstructionMetrics
        var losses: LossMetrics
        var resampledReconstruction: [ReconstructionMetrics]
        var resampledLosses: [LossMetrics]
        var l0Histogram: [Int]
    }

    var bySAE: [Side: SAEResult]
    var counts: EvalResults.Counts

    init(units: [Side: (sums: [ReconstructionSums], l0Histogram: [Int])], windows: [SplicedLoss.WindowSums], seed: UInt64,
         resamples: Int, denseThreshold: Double) {
        let unitCount = units.values.first?.sums.count ?? 0
        let unitWeights = Bootstrap.weights(units: unitCount, count: resamples, seed: seed)
        let windowWeights = Bootstrap.weights(units: windows.count, count: resamples, seed: seed ^ 0x5EC0_0D)
        var bySAE: [Side: SAEResult] = [:]
        for (side, unit) in units {
            bySAE[side] = SAEResult(
                reconstruction: ReconstructionMetrics(unit.sums, denseThreshold: denseThreshold),
                losses: LossMetrics(windows, side: side),
                resampledReconstruction: ReconstructionMetrics.resampled(unit.sums, weights: unitWeights, denseThreshold: denseThreshold),
                resampledLosses: windowWeights.map { LossMetrics(windows, side: side, weights: $0) },
                l0Histogram: unit.l0Histogram)
        }
        self.bySAE = bySAE
        counts = EvalResults.Counts(
            windows: windows.count, tokens: windows.reduce(0) { $0 + $1.predictions },
            rows: units.values.first?.sums.reduce(0) { $0 + $1.rows } ?? 0, rowWindows: unitCount)
    }

    static let reconstructionKeys: [(String, @Sendable (ReconstructionMetrics) -> Double)] = [
        ("mse", \.mse), ("fve", \.fve), ("l0", \.l0), ("l1", \.l1), ("cosine_similarity", \.cosineSimilarity), ("l2_ratio", \.l2Ratio),
        ("relative_reconstruction_bias", \.relativeReconstructionBias), ("dead_fraction", \.deadFraction),
        ("dense_fraction", \.denseFraction), ("frac_firing_gt_1pct", \.fracFiringAbove1Percent),
        ("frac_firing_gt_10pct", \.fracFiringAbove10Percent),
    ]

    static let lossKeys: [(String, @Sendable (LossMetrics) -> Double)] = [
        ("ce_loss_clean", \.ceClean), ("ce_loss_sae", \.ceSAE), ("ce_loss_zero", \.ceZero), ("ce_loss_increase", \.ceIncrease),
        ("ce_zero_effect", \.zeroEffect), ("ce_recovered", \.ceRecovered), ("kl_div_sae", \.klSAE), ("kl_div_zero", \.klZero),
        ("kl_score", \.klScore),
    ]

    /// The pair's metrics, intervals and counts; a ratio whose denominator is not measurable is null with a note.
    func pairMetrics(_ side: Side) -> EvalResults.PairMetrics {
        let result = bySAE[side]!
        var intervals: [String: [Double]] = [:]
        for (key, value) in Self.reconstructionKeys {
            intervals[key] = Bootstrap.interval(result.resampledReconstruction.map(value))
        }
        for (key, value) in Self.lossKeys { intervals[key] = Bootstrap.interval(result.resampledLosses.map(value)) }
        let losses = result.losses
        let ceNote = Measurability.problem(effect: losses.zeroEffect, interval: intervals["ce_zero_effect"],
                                           what: "the zero-ablation effect CE_zero − CE_clean")
        let klNote = Measurability.problem(effect: losses.klZero, interval: intervals["kl_div_zero"], what: "KL_zero")
        if ceNote != nil { intervals["ce_recovered"] = nil }
        if klNote != nil { intervals["kl_score"] = nil }
        let summary = EvalResults.LossSummary(
            ceClean: losses.ceClean, ceSAE: losses.ceSAE, ceZero: losses.ceZero, klSAE: losses.klSAE, klZero: losses.klZero,
            ceRecovered: ceNote == nil ? losses.ceRecovered : nil, ceRecoveredNote: ceNote,
            klScore: klNote == nil ? losses.klScore : nil, klScoreNote: klNote)
        return EvalResults.PairMetrics(
            reconstruction: result.reconstruction, losses: summary, l0Histogram: result.l0Histogram,
            intervals: intervals.compactMapValues { $0 }, counts: counts)
    }

    /// SAE `from` on this dataset against the dataset's own SAE `home`, on the same resamples.
    func transfer(from: Side, home: Side, reported: (cross: Bool, home: Bool)) -> EvalResults.Transfer {
        let (c, h) = (bySAE[from]!, bySAE[home]!)
        let recovered = reported.cross && reported.home ? h.losses.ceRecovered - c.losses.ceRecovered : nil
        var intervals: [String: [Double]] = [:]
        let pairs = Array(zip(c.resampledReconstruction, h.resampledReconstruction))
        intervals["fve_drop"] = Bootstrap.interval(pairs.map { $1.fve - $0.fve })
        intervals["mse_ratio"] = Bootstrap.interval(pairs.map { $1.mse > 0 ? $0.mse / $1.mse : .nan })
        let losses = Array(zip(c.resampledLosses, h.resampledLosses))
        intervals["ce_loss_difference"] = Bootstrap.interval(losses.map { $0.ceSAE - $1.ceSAE })
        if recovered != nil { intervals["ce_recovered_drop"] = Bootstrap.interval(losses.map { $1.ceRecovered - $0.ceRecovered }) }
        return EvalResults.Transfer(
            fveDrop: h.reconstruction.fve - c.reconstruction.fve,
            fveRetained: h.reconstruction.fve > 0 ? c.reconstruction.fve / h.reconstruction.fve : 0,
            mseRatio: h.reconstruction.mse > 0 ? c.reconstruction.mse / h.reconstruction.mse : nil,
            ceRecoveredDrop: recovered, ceLossDifference: c.losses.ceSAE - h.losses.ceSAE, baseline: SAEPair(home, home),
            intervals: intervals.compactMapValues { $0 })
    }
}
