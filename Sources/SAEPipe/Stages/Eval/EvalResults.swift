import Foundation
import SAEPipeCore
import SAEPipeSAE

/// `results.json` (docs/formats.md): every (SAE, dataset) pair's metrics and the cross-domain
/// comparison. Written by eval; read by the figures, the run summary, the report and sweeps.
public struct EvalResults: Codable, Sendable, Equatable {
    public static let fileName = "results.json"

    /// One pair's numbers on held-out rows and windows (the metric definitions are in docs/formats.md).
    public struct PairMetrics: Codable, Sendable, Equatable {
        public var mse: Double
        public var fve: Double
        public var l0: Double
        public var l1: Double
        public var deadFraction: Double
        public var denseFraction: Double
        public var rows: Int
        public var ceLossClean: Double
        public var ceLossSAE: Double
        public var ceLossZero: Double
        /// (CE_zero − CE_SAE) / (CE_zero − CE_clean); null when not finite.
        @EncodedAsNull public var ceRecovered: Double?
        /// Rows per L0 value (index = active features).
        public var l0Histogram: [Int]

        public init(reconstruction r: SAEEvaluation, denseFraction: Double, ceClean: Double, ceSAE: Double, ceZero: Double,
                    l0Histogram: [Int] = []) {
            (mse, fve, l0, l1, deadFraction, rows) = (r.mse, r.fve, r.l0, r.l1, r.deadFraction, r.rows)
            self.denseFraction = denseFraction
            (ceLossClean, ceLossSAE, ceLossZero) = (ceClean, ceSAE, ceZero)
            let recovered = (ceZero - ceSAE) / (ceZero - ceClean)
            ceRecovered = recovered.isFinite ? recovered : nil
            self.l0Histogram = l0Histogram
        }

        enum CodingKeys: String, CodingKey {
            case mse, fve, l0, l1, deadFraction = "dead_fraction", denseFraction = "dense_fraction", rows
            case ceLossClean = "ce_loss_clean", ceLossSAE = "ce_loss_sae", ceLossZero = "ce_loss_zero", ceRecovered = "ce_recovered"
            case l0Histogram = "l0_histogram"
        }
    }

    /// A cross-domain pair against the in-domain SAE of the dataset it is evaluated on.
    public struct Transfer: Codable, Sendable, Equatable {
        /// FVE of the in-domain SAE minus FVE of the transferred one.
        public var fveDrop: Double
        /// MSE of the transferred SAE over MSE of the in-domain one; null when the latter is 0.
        @EncodedAsNull public var mseRatio: Double?
        /// CE recovered in domain minus transferred; null when either is undefined.
        @EncodedAsNull public var ceRecoveredDrop: Double?
        public var baseline: SAEPair

        enum CodingKeys: String, CodingKey {
            case fveDrop = "fve_drop", mseRatio = "mse_ratio", ceRecoveredDrop = "ce_recovered_drop", baseline
        }
    }

    public var model: String
    public var hook: String
    public var eval: [SAEPair: PairMetrics]
    public var crossDomain: [SAEPair: Transfer]
    public var saepipeVersion: String

    public init(model: String, hook: String, eval: [SAEPair: PairMetrics]) {
        self.model = model
        self.hook = hook
        self.eval = eval
        crossDomain = [:]
        for pair in SAEPair.transfers {
            guard let cross = eval[pair], let home = eval[pair.baseline] else { continue }
            crossDomain[pair] = Transfer(
                fveDrop: home.fve - cross.fve, mseRatio: home.mse > 0 ? cross.mse / home.mse : nil,
                ceRecoveredDrop: home.ceRecovered.flatMap { h in cross.ceRecovered.map { h - $0 } }, baseline: pair.baseline)
        }
        saepipeVersion = SAEPipeVersion.current
    }

    enum CodingKeys: String, CodingKey { case model, hook, eval, crossDomain = "cross_domain", saepipeVersion = "saepipe_version" }

    public static func read(_ path: String) throws -> EvalResults {
        try JSONFile.read(EvalResults.self, from: path, hint: "rerun the eval stage (`saepipe run CONFIG --force eval`)")
    }

    /// `results.json` of a run directory, nil when the run has none (eval not run yet).
    public static func read(runDirectory: String) throws -> EvalResults? {
        let path = "\(runDirectory)/\(fileName)"
        return FileSystem.exists(path) ? try read(path) : nil
    }
}
