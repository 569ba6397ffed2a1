import Foundation
import SAEPipeCore

/// Writes `results.json` and the tables beside it (`tables/*.csv|md`).
enum ResultsWriter {
    static func write(_ results: EvalResults, to directory: String) throws {
        try JSONFile.write(results, to: "\(directory)/\(EvalResults.fileName)")
        let metrics = results.eval
        let n = { (value: Double?) in NumberFormat.fixed(value) }
        let tables = "\(directory)/tables"
        try Table(
            header: ["pair", "SAE trained on", "evaluated on", "mse", "fve", "l0", "l1", "dead_fraction", "dense_fraction",
                     "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_recovered"],
            rows: SAEPair.all.map { pair in
                let m = metrics[pair]!
                return [pair.key, pair.trained.rawValue, pair.evaluated.rawValue, String(format: "%.6g", m.mse), n(m.fve),
                        NumberFormat.fixed(m.l0, digits: 1), NumberFormat.fixed(m.l1, digits: 2), n(m.deadFraction),
                        n(m.denseFraction), n(m.ceLossClean), n(m.ceLossSAE), n(m.ceLossZero), n(m.ceRecovered)]
            }).write(to: tables, name: "eval")
        for (name, value) in [("fve_matrix", { (m: EvalResults.PairMetrics) -> Double? in m.fve }),
                              ("ce_recovered_matrix", { (m: EvalResults.PairMetrics) -> Double? in m.ceRecovered })] {
            try Table(header: ["SAE trained on \\ evaluated on"] + Side.allCases.map(\.rawValue),
                      rows: Side.allCases.map { trained in [trained.rawValue] + Side.allCases.map { n(value(metrics[SAEPair(trained, $0)]!)) } })
                .write(to: tables, name: name)
        }
        try Table(
            header: ["transfer", "baseline", "fve_drop", "mse_ratio", "ce_recovered_drop"],
            rows: SAEPair.transfers.map { pair in
                let (c, h) = (metrics[pair]!, metrics[pair.baseline]!)
                let transfer = results.crossDomain[pair]
                return [pair.key, pair.baseline.key, n(transfer?.fveDrop), n(c.mse / h.mse), n(transfer?.ceRecoveredDrop)]
            }).write(to: tables, name: "cross_domain")
    }
}
