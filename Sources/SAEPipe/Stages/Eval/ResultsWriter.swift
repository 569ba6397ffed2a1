import Foundation
import SAEPipeCore

/// Writes `results.json` and the tables beside it (`tables/*.csv|md`); every measured value
/// carries its 95% interval as `value ± half-width`.
enum ResultsWriter {
    static func write(_ results: EvalResults, to directory: String) throws {
        try JSONFile.write(results, to: "\(directory)/\(EvalResults.fileName)")
        for (name, table) in tables(results) { try table.write(to: "\(directory)/tables", name: name) }
    }

    /// The metric columns of the eval table: key, header, decimals.
    static let evalColumns: [(key: String, header: String, digits: Int, value: @Sendable (EvalResults.PairMetrics) -> Double?)] = [
        ("fve", "fve", 3, { $0.fve }), ("mse", "mse", 4, { $0.mse }), ("l0", "l0", 1, { $0.l0 }), ("l1", "l1", 2, { $0.l1 }),
        ("cosine_similarity", "cosine", 3, { $0.cosineSimilarity }), ("l2_ratio", "l2_ratio", 3, { $0.l2Ratio }),
        ("relative_reconstruction_bias", "rel_bias", 3, { $0.relativeReconstructionBias }),
        ("dead_fraction", "dead", 3, { $0.deadFraction }), ("dense_fraction", "dense", 3, { $0.denseFraction }),
        ("ce_loss_clean", "ce_clean", 3, { $0.ceLossClean }), ("ce_loss_sae", "ce_sae", 3, { $0.ceLossSAE }),
        ("ce_loss_zero", "ce_zero", 3, { $0.ceLossZero }), ("ce_recovered", "ce_recovered", 3, { $0.ceRecovered }),
        ("kl_div_sae", "kl_sae", 4, { $0.klDivSAE }), ("kl_div_zero", "kl_zero", 4, { $0.klDivZero }),
        ("kl_score", "kl_score", 3, { $0.klScore }),
    ]

    static func tables(_ results: EvalResults) -> [(String, Table)] {
        let metrics = results.eval
        var tables: [(String, Table)] = []
        tables.append(("eval", Table(
            header: ["pair", "SAE trained on", "evaluated on"] + evalColumns.map(\.header) + ["windows", "rows"],
            rows: SAEPair.all.compactMap { pair in
                guard let m = metrics[pair] else { return nil }
                return [pair.key, pair.trained.rawValue, pair.evaluated.rawValue]
                    + evalColumns.map { m.withInterval($0.key, $0.value(m), digits: $0.digits) }
                    + ["\(m.counts.windows)", "\(m.counts.rows)"]
            })))
        // One-dataset runs have no matrix or transfer to show: those tables are left out, not left empty.
        let compared = results.sides.count == 2
        for (name, key, value) in !compared ? [] : [("fve_matrix", "fve", { (m: EvalResults.PairMetrics) -> Double? in m.fve }),
                                   ("ce_recovered_matrix", "ce_recovered", { (m: EvalResults.PairMetrics) -> Double? in m.ceRecovered })] {
            tables.append((name, Table(
                header: ["SAE trained on \\ evaluated on"] + Side.allCases.map(\.rawValue),
                rows: Side.allCases.map { trained in
                    [trained.rawValue] + Side.allCases.map { data in
                        metrics[SAEPair(trained, data)].map { $0.withInterval(key, value($0)) } ?? "n/a"
                    }
                })))
        }
        if compared { tables.append(("cross_domain", Table(
            header: ["transfer", "baseline", "fve_drop", "mse_ratio", "ce_recovered_drop", "ce_loss_difference"],
            rows: SAEPair.transfers.compactMap { pair in
                guard let t = results.crossDomain[pair] else { return nil }
                let cell = { (key: String, value: Double?) in interval(value, t.intervals[key], digits: 3) }
                return [pair.key, t.baseline.key, cell("fve_drop", t.fveDrop), cell("mse_ratio", t.mseRatio),
                        cell("ce_recovered_drop", t.ceRecoveredDrop), cell("ce_loss_difference", t.ceLossDifference)]
            }))) }
        tables.append(("generalization", Table(
            header: ["SAE", "train_fve", "heldout_fve", "gap", "train_l0", "heldout_l0", "passes"],
            rows: Side.allCases.compactMap { side in
                guard let g = results.generalization[side] else { return nil }
                return [side.rawValue, interval(g.trainFVE, g.intervals["train_fve"], digits: 3),
                        results.eval[SAEPair(side, side)]?.withInterval("fve", g.heldoutFVE) ?? NumberFormat.fixed(g.heldoutFVE, digits: 3),
                        interval(g.gap, g.intervals["gap"], digits: 3), NumberFormat.fixed(g.trainL0, digits: 1),
                        NumberFormat.fixed(g.heldoutL0, digits: 1), NumberFormat.fixed(g.passes, digits: 1)]
            })))
        tables.append(("health", Table(
            header: ["severity", "code", "where", "message"],
            rows: results.health.map { [$0.severity.rawValue, $0.code, $0.pairOrSide, $0.message] })))
        return tables
    }

    static func interval(_ value: Double?, _ interval: [Double]?, digits: Int) -> String {
        guard let value else { return "n/a" }
        guard let interval else { return NumberFormat.fixed(value, digits: digits) }
        return NumberFormat.fixed(value, digits: digits) + " ± " + NumberFormat.fixed((interval[1] - interval[0]) / 2, digits: digits)
    }
}
