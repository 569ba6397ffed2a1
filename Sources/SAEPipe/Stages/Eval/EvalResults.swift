import Foundation
import SAEPipeCore
import SAEPipeSAE

/// `results.json` (docs/formats.md): every (SAE, dataset) pair's metrics with 95% bootstrap
/// intervals, the cross-domain comparison, generalization and health. Written by eval; read
/// by the figures, the run summary, the report and sweeps.
public struct EvalResults: Codable, Sendable, Equatable {
    public static let fileName = "results.json"

    /// What the numbers were computed on (never a configured value that was not reached).
    public struct Counts: Codable, Sendable, Equatable {
        /// Held-out windows the spliced loss ran on, and their next-token predictions.
        public var windows: Int
        public var tokens: Int
        /// Held-out activation rows the reconstruction metrics ran on, in how many windows.
        public var rows: Int
        public var rowWindows: Int

        public init(windows: Int, tokens: Int, rows: Int, rowWindows: Int) {
            (self.windows, self.tokens, self.rows, self.rowWindows) = (windows, tokens, rows, rowWindows)
        }

        enum CodingKeys: String, CodingKey { case windows, tokens, rows, rowWindows = "row_windows" }
    }

    /// One pair's numbers on held-out rows and windows (definitions in docs/formats.md).
    public struct PairMetrics: Codable, Sendable, Equatable {
        public var mse: Double
        public var fve: Double
        public var l0: Double
        public var l1: Double
        public var cosineSimilarity: Double
        public var l2Ratio: Double
        public var relativeReconstructionBias: Double
        public var deadFraction: Double
        public var denseFraction: Double
        public var fracFiringAbove1Percent: Double
        public var fracFiringAbove10Percent: Double
        public var rows: Int
        public var ceLossClean: Double
        public var ceLossSAE: Double
        public var ceLossZero: Double
        /// CE_sae − CE_clean.
        public var ceLossIncrease: Double
        /// CE_zero − CE_clean: the effect CE recovered divides by.
        public var ceZeroEffect: Double
        /// (CE_zero − CE_sae) / (CE_zero − CE_clean); null when the zero-ablation effect is not measurable.
        @EncodedAsNull public var ceRecovered: Double?
        @EncodedAsNull public var ceRecoveredNote: String?
        public var klDivSAE: Double
        public var klDivZero: Double
        /// 1 − KL_sae / KL_zero; null when KL_zero is not measurable.
        @EncodedAsNull public var klScore: Double?
        @EncodedAsNull public var klScoreNote: String?
        /// Rows per L0 value (index = active features).
        public var l0Histogram: [Int]
        /// 95% percentile-bootstrap intervals over held-out windows, by metric key.
        public var intervals: [String: [Double]]
        public var counts: Counts

        public init(
            reconstruction r: ReconstructionMetrics, losses: LossSummary, l0Histogram: [Int], intervals: [String: [Double]],
            counts: Counts
        ) {
            (mse, fve, l0, l1, rows) = (r.mse, r.fve, r.l0, r.l1, r.rows)
            (cosineSimilarity, l2Ratio, relativeReconstructionBias) = (r.cosineSimilarity, r.l2Ratio, r.relativeReconstructionBias)
            (deadFraction, denseFraction) = (r.deadFraction, r.denseFraction)
            (fracFiringAbove1Percent, fracFiringAbove10Percent) = (r.fracFiringAbove1Percent, r.fracFiringAbove10Percent)
            (ceLossClean, ceLossSAE, ceLossZero) = (losses.ceClean, losses.ceSAE, losses.ceZero)
            (ceLossIncrease, ceZeroEffect) = (losses.ceSAE - losses.ceClean, losses.ceZero - losses.ceClean)
            (ceRecovered, ceRecoveredNote) = (losses.ceRecovered, losses.ceRecoveredNote)
            (klDivSAE, klDivZero, klScore, klScoreNote) = (losses.klSAE, losses.klZero, losses.klScore, losses.klScoreNote)
            self.l0Histogram = l0Histogram
            self.intervals = intervals
            self.counts = counts
        }

        /// `value ± half-width` (or just the value when it has no interval).
        public func withInterval(_ key: String, _ value: Double?, digits: Int = 3) -> String {
            guard let value else { return "n/a" }
            guard let interval = intervals[key] else { return NumberFormat.fixed(value, digits: digits) }
            return NumberFormat.fixed(value, digits: digits) + " ± " + NumberFormat.fixed((interval[1] - interval[0]) / 2, digits: digits)
        }

        enum CodingKeys: String, CodingKey {
            case mse, fve, l0, l1, cosineSimilarity = "cosine_similarity", l2Ratio = "l2_ratio"
            case relativeReconstructionBias = "relative_reconstruction_bias", deadFraction = "dead_fraction", denseFraction = "dense_fraction"
            case fracFiringAbove1Percent = "frac_firing_gt_1pct", fracFiringAbove10Percent = "frac_firing_gt_10pct", rows
            case ceLossClean = "ce_loss_clean", ceLossSAE = "ce_loss_sae", ceLossZero = "ce_loss_zero", ceLossIncrease = "ce_loss_increase"
            case ceZeroEffect = "ce_zero_effect", ceRecovered = "ce_recovered", ceRecoveredNote = "ce_recovered_note"
            case klDivSAE = "kl_div_sae", klDivZero = "kl_div_zero", klScore = "kl_score", klScoreNote = "kl_score_note"
            case l0Histogram = "l0_histogram", intervals, counts
        }
    }

    /// The loss side of a pair: point values and whether the ratios can be reported.
    public struct LossSummary: Sendable, Equatable {
        public var ceClean, ceSAE, ceZero, klSAE, klZero: Double
        public var ceRecovered: Double?
        public var ceRecoveredNote: String?
        public var klScore: Double?
        public var klScoreNote: String?

        public init(ceClean: Double, ceSAE: Double, ceZero: Double, klSAE: Double, klZero: Double, ceRecovered: Double?,
                    ceRecoveredNote: String?, klScore: Double?, klScoreNote: String?) {
            (self.ceClean, self.ceSAE, self.ceZero, self.klSAE, self.klZero) = (ceClean, ceSAE, ceZero, klSAE, klZero)
            (self.ceRecovered, self.ceRecoveredNote, self.klScore, self.klScoreNote) = (ceRecovered, ceRecoveredNote, klScore, klScoreNote)
        }
    }

    /// A cross-domain pair against the in-domain SAE of the dataset it is evaluated on (paired:
    /// both on the same resampled windows).
    public struct Transfer: Codable, Sendable, Equatable {
        /// FVE of the in-domain SAE minus FVE of the transferred one.
        public var fveDrop: Double
        /// FVE of the transferred SAE over FVE of the in-domain one (0 when the latter is not positive).
        public var fveRetained: Double
        /// MSE of the transferred SAE over MSE of the in-domain one; null when the latter is 0.
        @EncodedAsNull public var mseRatio: Double?
        /// CE recovered in domain minus transferred; null when either is not reported.
        @EncodedAsNull public var ceRecoveredDrop: Double?
        /// CE_sae of the transferred SAE minus CE_sae of the in-domain one.
        public var ceLossDifference: Double
        public var baseline: SAEPair
        public var intervals: [String: [Double]]

        public init(fveDrop: Double, fveRetained: Double, mseRatio: Double?, ceRecoveredDrop: Double?, ceLossDifference: Double,
                    baseline: SAEPair, intervals: [String: [Double]]) {
            (self.fveDrop, self.fveRetained, self.mseRatio, self.ceRecoveredDrop) = (fveDrop, fveRetained, mseRatio, ceRecoveredDrop)
            (self.ceLossDifference, self.baseline, self.intervals) = (ceLossDifference, baseline, intervals)
        }

        enum CodingKeys: String, CodingKey {
            case fveDrop = "fve_drop", fveRetained = "fve_retained", mseRatio = "mse_ratio", ceRecoveredDrop = "ce_recovered_drop"
            case ceLossDifference = "ce_loss_difference", baseline, intervals
        }
    }

    /// How an SAE does on the rows it trained on against held-out rows of the same size.
    public struct Generalization: Codable, Sendable, Equatable {
        public var trainFVE: Double
        public var heldoutFVE: Double
        public var trainL0: Double
        public var heldoutL0: Double
        /// Training tokens over training rows.
        public var passes: Double
        public var intervals: [String: [Double]]

        public init(trainFVE: Double, heldoutFVE: Double, trainL0: Double, heldoutL0: Double, passes: Double, intervals: [String: [Double]]) {
            (self.trainFVE, self.heldoutFVE, self.trainL0, self.heldoutL0, self.passes) = (trainFVE, heldoutFVE, trainL0, heldoutL0, passes)
            gap = trainFVE - heldoutFVE
            self.intervals = intervals
        }

        /// Train FVE minus held-out FVE.
        public var gap: Double

        enum CodingKeys: String, CodingKey {
            case trainFVE = "train_fve", heldoutFVE = "heldout_fve", gap, trainL0 = "train_l0", heldoutL0 = "heldout_l0", passes, intervals
        }
    }

    /// How SAE A's and SAE B's dictionaries relate, by the cosine of their decoder directions.
    public struct Matching: Codable, Sendable, Equatable {
        /// Mean over A's features of the highest cosine to any of B's (MMCS), and the reverse.
        public var mmcsAToB: Double
        public var mmcsBToA: Double
        /// Pairs in the one-to-one matching that maximises the summed cosine (the smaller dictionary's size).
        public var pairs: Int
        /// Matched pairs at cosine ≥ threshold: features the two SAEs share.
        public var shared: Int
        public var sharedFraction: Double
        public var threshold: Double
        public var meanMatchedCosine: Double
        /// Pairs joining features of the same index: inherited from a shared initialisation when far above 1 / pairs.
        public var sameIndexFraction: Double

        public init(_ matching: FeatureMatching, threshold: Double) {
            sameIndexFraction = matching.sameIndexFraction
            (mmcsAToB, mmcsBToA, pairs) = (matching.mmcsForward, matching.mmcsBackward, matching.pairs.count)
            shared = matching.pairs.filter { Double($0.cosine) >= threshold }.count
            sharedFraction = pairs == 0 ? 0 : Double(shared) / Double(pairs)
            self.threshold = threshold
            meanMatchedCosine = matching.pairs.isEmpty ? 0 : matching.pairs.map { Double($0.cosine) }.reduce(0, +) / Double(matching.pairs.count)
        }

        enum CodingKeys: String, CodingKey {
            case mmcsAToB = "mmcs_a_to_b", mmcsBToA = "mmcs_b_to_a", pairs, shared, sharedFraction = "shared_fraction", threshold
            case meanMatchedCosine = "mean_matched_cosine", sameIndexFraction = "same_index_fraction"
        }
    }

    public var model: String
    public var hook: String
    public var eval: [SAEPair: PairMetrics]
    public var crossDomain: [SAEPair: Transfer]
    public var generalization: [Side: Generalization]
    public var health: [HealthIssue]
    /// Activation rows each dataset's set holds (what collect reached, not what was asked for).
    public var datasetRows: [Side: Int]
    /// The datasets evaluated: A and B, or A alone in a one-dataset run.
    public var sides: [Side] { datasetRows.keys.sorted() }
    /// Null in a one-dataset run (and in results written before matching existed).
    @EncodedAsNull public var matching: Matching?
    /// Resamples behind every interval, and its seed.
    public var bootstrap: BootstrapInfo
    public var saepipeVersion: String

    public struct BootstrapInfo: Codable, Sendable, Equatable {
        public var resamples: Int
        public var unit: String
        public var level: Double
        public init(resamples: Int, unit: String, level: Double) { (self.resamples, self.unit, self.level) = (resamples, unit, level) }
    }

    public init(model: String, hook: String, eval: [SAEPair: PairMetrics], crossDomain: [SAEPair: Transfer],
                generalization: [Side: Generalization], health: [HealthIssue], datasetRows: [Side: Int], bootstrap: BootstrapInfo,
                matching: Matching? = nil) {
        (self.model, self.hook, self.eval, self.crossDomain, self.datasetRows) = (model, hook, eval, crossDomain, datasetRows)
        self.matching = matching
        (self.generalization, self.health, self.bootstrap) = (generalization, health, bootstrap)
        saepipeVersion = SAEPipeVersion.current
    }

    enum CodingKeys: String, CodingKey {
        case model, hook, eval, crossDomain = "cross_domain", generalization, health, datasetRows = "dataset_rows", matching, bootstrap
        case saepipeVersion = "saepipe_version"
    }

    public static func read(_ path: String) throws -> EvalResults {
        try JSONFile.read(EvalResults.self, from: path, hint: "rerun the eval stage (`saepipe run CONFIG --force eval`)")
    }

    /// `results.json` of a run directory, nil when the run has none (eval not run yet).
    public static func read(runDirectory: String) throws -> EvalResults? {
        let path = "\(runDirectory)/\(fileName)"
        return FileSystem.exists(path) ? try read(path) : nil
    }
}

/// Something a reader of the results should know before trusting them.
public struct HealthIssue: Codable, Sendable, Equatable {
    public enum Severity: String, Codable, Sendable, Comparable {
        case info, warning, error
        public static func < (a: Severity, b: Severity) -> Bool {
            [Severity.info, .warning, .error].firstIndex(of: a)! < [Severity.info, .warning, .error].firstIndex(of: b)!
        }
    }

    /// Stable identifier, e.g. `overfitting`, `dead_features`.
    public var code: String
    public var severity: Severity
    public var message: String
    /// `A->B` for a pair, `A` for an SAE.
    public var pairOrSide: String
    /// The measured number the message quotes when results.json holds it nowhere else.
    @EncodedAsNull public var value: Double?

    public init(code: String, severity: Severity, message: String, pairOrSide: String, value: Double? = nil) {
        (self.code, self.severity, self.message, self.pairOrSide, self.value) = (code, severity, message, pairOrSide, value)
    }

    enum CodingKeys: String, CodingKey { case code, severity, message, pairOrSide = "pair_or_side", value }
}
