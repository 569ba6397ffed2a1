import Foundation
@testable import SAEPipe
import SAEPipeCore
import XCTest

/// The report's sentences, computed from synthetic results: each comparative word must follow
/// from the numbers and their intervals.
final class FindingTests: XCTestCase {
    /// One pair's results.json entry; `ceRecovered: nil` writes null with a note.
    struct Pair {
        var fve = 0.7, fveInterval = [0.68, 0.72]
        var l0 = 40.0, l0Interval = [38.0, 42.0]
        var dead = 0.0, deadInterval = [0.0, 0.0]
        var ceClean = 3.0, ceSAE = 3.1, increaseInterval = [0.08, 0.12]
        var ceRecovered: Double? = 0.8, recoveredInterval = [0.75, 0.85]
        var bias = 0.95, biasInterval = [0.94, 0.96]

        var json: String {
            let recovered = ceRecovered.map { "\($0)" } ?? "null"
            let note = ceRecovered == nil ? "\"the zero-ablation effect CE_zero − CE_clean is 0.0700 ± 0.0800: too uncertain for a ratio\"" : "null"
            return """
                {"mse": 0.2, "fve": \(fve), "l0": \(l0), "l1": 20, "cosine_similarity": 0.9, "l2_ratio": 0.93,
                 "relative_reconstruction_bias": \(bias), "dead_fraction": \(dead), "dense_fraction": 0,
                 "frac_firing_gt_1pct": 0.2, "frac_firing_gt_10pct": 0.01, "rows": 4096,
                 "ce_loss_clean": \(ceClean), "ce_loss_sae": \(ceSAE), "ce_loss_zero": 3.5, "ce_loss_increase": \(ceSAE - ceClean),
                 "ce_zero_effect": 0.5, "ce_recovered": \(recovered), "ce_recovered_note": \(note),
                 "kl_div_sae": 0.1, "kl_div_zero": 0.5, "kl_score": 0.8, "kl_score_note": null, "l0_histogram": [],
                 "intervals": {"fve": \(fveInterval), "l0": \(l0Interval), "dead_fraction": \(deadInterval),
                               "ce_loss_increase": \(increaseInterval), "ce_recovered": \(recoveredInterval),
                               "relative_reconstruction_bias": \(biasInterval)},
                 "counts": {"windows": 64, "tokens": 8128, "rows": 4096, "row_windows": 32}}
                """
        }
    }

    func results(_ pairs: [String: Pair], drop: (Double, [Double]) = (0.4, [0.38, 0.42]), retained: Double = 0.43, gap: (Double, [Double]) = (0.005, [-0.01, 0.02]),
                 passes: Double = 3, health: String = "[]") throws -> EvalResults {
        let eval = pairs.map { "\"\($0.key)\": \($0.value.json)" }.joined(separator: ",\n")
        let text = """
            {"model": "m", "hook": "layers.3.mlp_out", "saepipe_version": "t", "eval": {\(eval)},
             "cross_domain": {"A->B": {"fve_drop": \(drop.0), "fve_retained": \(retained), "mse_ratio": 2, "ce_recovered_drop": null, "ce_loss_difference": 0.1,
                                       "baseline": "B->B", "intervals": {"fve_drop": \(drop.1)}}},
             "generalization": {"A": {"train_fve": \(0.7 + gap.0), "heldout_fve": 0.7, "gap": \(gap.0), "train_l0": 40, "heldout_l0": 40, "passes": \(passes),
                                      "intervals": {"gap": \(gap.1)}}},
             "health": \(health), "dataset_rows": {"A": 80000, "B": 80000},
             "bootstrap": {"resamples": 1000, "unit": "held-out window", "level": 0.95}}
            """
        return try JSONDecoder().decode(EvalResults.self, from: Data(text.utf8))
    }

    let labels = DatasetLabels(config: .map(["datasets": .map(["A": .map(["label": .string("prose")]), "B": .map(["label": .string("code")])])]))

    func sentences(_ results: EvalResults) -> String {
        (ReportSentences.keyResults(results, labels: labels) + ReportSentences.failureModes(results, labels: labels)).joined(separator: "\n")
    }

    func testMatchingSaysHowMuchIsSharedAndWhatItCannotTell() throws {
        var shared = try results(["A->A": Pair(), "B->B": Pair()])
        XCTAssertFalse(sentences(shared).contains("decoder direction"), "no matching, no sentence")
        shared.matching = try JSONDecoder().decode(EvalResults.Matching.self, from: Data("""
            {"mmcs_a_to_b": 0.3036, "mmcs_b_to_a": 0.2939, "pairs": 4608, "shared": 51, "shared_fraction": 0.011067708, "threshold": 0.7,
             "mean_matched_cosine": 0.25, "same_index_fraction": 0.0004}
            """.utf8))
        let low = sentences(shared)
        XCTAssertTrue(low.contains("51 of the 4608 pairs of a one-to-one matching between the two SAEs' features (1.1%) have cosine ≥ 0.7"), low)
        XCTAssertTrue(low.contains("0.304 from SAE A to SAE B and 0.294 from B to A"), low)
        XCTAssertTrue(low.contains("no close counterpart") && low.contains("second SAE trained on the same dataset"), low)
        XCTAssertFalse(low.contains("same initial dictionary"), "2 same-index pairs in 4608 are chance")
        shared.matching!.sameIndexFraction = 0.486
        XCTAssertTrue(sentences(shared).contains("Both SAEs started from the same initial dictionary, and 48.6% of the matched pairs join features with the same index (chance: 1 in 4608)"))
        shared.matching!.sharedFraction = 0.8
        shared.matching!.shared = 3686
        XCTAssertTrue(sentences(shared).contains("(80.0%) have cosine ≥ 0.7 and count as shared; the mean best-match cosine is 0.304 from SAE A to SAE B and 0.294 from B to A, so most features have a close counterpart"))
    }

    func testSplicedLossRisesFallsOrShowsNoMeasurableChange() throws {
        let cases: [(Double, [Double], String)] = [
            (3.1, [0.08, 0.12], "rises from 3.000 to 3.100 nats"),
            (2.95, [-0.07, -0.03], "falls from 3.000 to 2.950 nats"),
            (3.01, [-0.01, 0.03], "shows no measurable change"),
        ]
        for (sae, interval, expected) in cases {
            var pair = Pair()
            (pair.ceSAE, pair.increaseInterval) = (sae, interval)
            let text = sentences(try results(["A->A": pair, "B->B": Pair(), "A->B": Pair()]))
            XCTAssertTrue(text.contains("on prose \(expected)"), "\(expected) in:\n\(text)")
            for word in ["rises", "falls", "no measurable change"] where !expected.contains(word) {
                XCTAssertFalse(text.contains("on prose " + (word == "no measurable change" ? "shows " : "") + word), "\(word) must not appear for \(expected)")
            }
        }
    }

    func testCERecoveredIsReportedOnlyWhenMeasurableAndOutOfRangeIsFlagged() throws {
        var unmeasured = Pair()
        unmeasured.ceRecovered = nil
        var above = Pair()
        (above.ceRecovered, above.recoveredInterval) = (1.233, [1.1, 1.35])
        var below = Pair()
        (below.ceRecovered, below.recoveredInterval) = (-0.787, [-1.2, -0.4])
        let text = sentences(try results(["A->A": unmeasured, "B->B": above, "A->B": below]))
        XCTAssertTrue(text.contains("its CE recovered is not reported (the zero-ablation effect"), text)
        XCTAssertFalse(text.contains("recovers n/a"), text)
        XCTAssertTrue(text.contains("recovers 1.233 ± 0.125 of the loss that zeroing the hook costs (outside [0, 1]"), text)
    }

    func testTransferWordsFollowTheDropAndItsInterval() throws {
        let cases: [((Double, [Double]), Double, String)] = [
            ((0.4, [0.38, 0.42]), 0.3, "transfers poorly"),     // keeps 0.3 / 0.7 = 43%
            ((0.2, [0.17, 0.23]), 0.5, "transfers partly"),     // keeps 71%
            ((0.03, [0.01, 0.05]), 0.67, "transfers well"),     // keeps 96%
            ((0.01, [-0.02, 0.04]), 0.69, "no measurable difference"),
        ]
        for (drop, crossFVE, expected) in cases {
            var cross = Pair()
            cross.fve = crossFVE
            let text = sentences(try results(["A->A": Pair(), "B->B": Pair(), "A->B": cross], drop: drop, retained: crossFVE / 0.7))
                .split(separator: "\n").filter { $0.hasPrefix("SAE A on code explains") }.joined()
            XCTAssertTrue(text.contains(expected), "\(expected):\n\(text)")
            for other in ["transfers poorly", "transfers partly", "transfers well", "no measurable difference"] where other != expected {
                XCTAssertFalse(text.contains(other), "\(other) must not appear when \(expected)")
            }
        }
    }

    func testFiringComparisonNeedsSeparatedIntervals() throws {
        var away = Pair()
        (away.l0, away.l0Interval) = (60, [57, 63])
        XCTAssertTrue(sentences(try results(["A->A": Pair(), "B->B": Pair(), "A->B": away])).contains("On code, SAE A fires more: L0 60.0 ± 3.0 against 40.0 ± 2.0"))
        (away.l0, away.l0Interval) = (41, [39, 43])
        XCTAssertTrue(sentences(try results(["A->A": Pair(), "B->B": Pair(), "A->B": away])).contains("fires about as often"))
    }

    func testDeadFeaturesAndShrinkageAreStatedWithTheirNumbers() throws {
        var dead = Pair()
        (dead.dead, dead.deadInterval) = (0.6, [0.58, 0.62])
        var noShrink = Pair()
        (noShrink.bias, noShrink.biasInterval) = (1.0, [0.98, 1.02])
        let issue = #"[{"code": "dead_features", "severity": "warning", "message": "60.0% of SAE A's features never fire on its held-out rows", "pair_or_side": "A->A"}]"#
        let text = sentences(try results(["A->A": dead, "B->B": noShrink, "A->B": Pair()], health: issue))
        XCTAssertTrue(text.contains("60.0 ± 2.0% of SAE A's features never fire on held-out prose rows."), text)
        XCTAssertTrue(text.contains("0.0% of SAE B's features never fire"), text)
        XCTAssertTrue(text.contains("Warning: 60.0% of SAE A's features never fire"), text)
        XCTAssertTrue(text.contains("SAE A's reconstructions are shrunk: scaling them up would fit better (relative reconstruction bias 0.950 ± 0.010, below 1"), text)
        XCTAssertTrue(text.contains("SAE B shows no measurable shrinkage"), text)
    }

    func testGeneralizationGapIsOnlyClaimedWhenMeasured() throws {
        let overfit = try results(["A->A": Pair(), "B->B": Pair(), "A->B": Pair()], gap: (0.11, [0.09, 0.13]), passes: 26)
        XCTAssertTrue(sentences(overfit).contains("after 26.0 passes: it does measurably better on what it trained on (gap 0.110 ± 0.020)"))
        let fine = try results(["A->A": Pair(), "B->B": Pair(), "A->B": Pair()])
        XCTAssertTrue(sentences(fine).contains("no measurable generalization gap"))
    }

    func testTheMethodNamesTheDecodersOwnLearningRateOnlyWhenItDiffers() {
        XCTAssertEqual(ReportWriter.learningRateText(lr: "0.002", decoderScale: "3.0"), "0.002 (the decoder weights at 3 × that)")
        XCTAssertEqual(ReportWriter.learningRateText(lr: "0.0015", decoderScale: "1.5"), "0.0015 (the decoder weights at 1.5 × that)")
        XCTAssertEqual(ReportWriter.learningRateText(lr: "0.002", decoderScale: "1.0"), "0.002")
        XCTAssertEqual(ReportWriter.learningRateText(lr: "0.002", decoderScale: nil), "0.002", "an older run's config lacks the key")
    }
}
