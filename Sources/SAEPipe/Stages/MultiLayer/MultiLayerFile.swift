import Foundation
import SAEPipeCore
import SAEPipeSAE

/// `mlsae.json` (docs/formats.md): a multi-layer SAE evaluated at every layer it reads, beside
/// per-layer SAEs of the same total width, and each latent's spread over the layers. Written by
/// the `mlsae` stage; read by its figures and tables and by the report.
public struct MultiLayerFile: Codable, Sendable, Equatable {
    public static let fileName = "mlsae.json"

    /// Mean max cosine similarity between two dictionaries, each way.
    public struct MMCS: Codable, Sendable, Equatable {
        /// Mean over the first SAE's features of the best decoder cosine to the second's.
        public var forward: Double
        /// The same from the second to the first.
        public var backward: Double
    }

    /// The multi-layer SAE against a layer's own SAE on the same resamples: paired differences.
    public struct Comparison: Codable, Sendable, Equatable {
        /// FVE of the multi-layer SAE minus the per-layer SAE's, with its 95% interval.
        public var fveDifference: Double
        @EncodedAsNull public var fveInterval: [Double]?
        /// Spliced next-token loss of the per-layer SAE minus the multi-layer SAE's (positive: the MLSAE costs less loss).
        public var ceLossDifference: Double
        @EncodedAsNull public var ceLossInterval: [Double]?

        enum CodingKeys: String, CodingKey {
            case fveDifference = "fve_difference", fveInterval = "fve_interval", ceLossDifference = "ce_loss_difference"
            case ceLossInterval = "ce_loss_interval"
        }
    }

    public struct Layer: Codable, Sendable, Equatable {
        public var layer: Int
        /// The multi-layer SAE on this layer's held-out rows, and spliced in at this layer.
        public var mlsae: EvalResults.PairMetrics
        /// This layer's own SAE, on the same rows and windows (nil without `mlsae.per_layer_saes`).
        @EncodedAsNull public var perLayer: EvalResults.PairMetrics?
        @EncodedAsNull public var comparison: Comparison?
        /// This layer's SAE against the previous layer's (forward: from this one).
        @EncodedAsNull public var mmcsPerLayerToPrevious: MMCS?
        /// This layer's SAE against the multi-layer SAE (forward: from this one).
        @EncodedAsNull public var mmcsPerLayerToMLSAE: MMCS?

        enum CodingKeys: String, CodingKey {
            case layer, mlsae, perLayer = "per_layer", comparison, mmcsPerLayerToPrevious = "mmcs_per_layer_to_previous"
            case mmcsPerLayerToMLSAE = "mmcs_per_layer_to_mlsae"
        }
    }

    public struct Latent: Codable, Sendable, Equatable {
        public var latent: Int
        /// Held-out rows (over every layer) on which it fired.
        public var fired: Int
        @EncodedAsNull public var meanLayer: Double?
        @EncodedAsNull public var layerStd: Double?
        /// Its share of activation at each layer (`layers` order); nil when it never fired.
        @EncodedAsNull public var shares: [Double]?

        enum CodingKeys: String, CodingKey { case latent, fired, meanLayer = "mean_layer", layerStd = "layer_std", shares }
    }

    public struct SAE: Codable, Sendable, Equatable {
        public var features: Int
        public var layers: [Int]
        /// Each per-layer SAE's features and training tokens (nil without them).
        @EncodedAsNull public var perLayerFeatures: Int?
        @EncodedAsNull public var perLayerTokens: Int?
        public var byLayer: [Layer]
        public var latents: [Latent]
        /// Latents that fired on some held-out row, and their mean layer standard deviation.
        public var liveLatents: Int
        @EncodedAsNull public var meanLayerStd: Double?

        enum CodingKeys: String, CodingKey {
            case features, layers, perLayerFeatures = "per_layer_features", perLayerTokens = "per_layer_tokens"
            case byLayer = "by_layer", latents, liveLatents = "live_latents", meanLayerStd = "mean_layer_std"
        }
    }

    public var model: String
    public var stream: String
    /// By dataset side: the multi-layer SAE trained on that dataset, evaluated on it.
    public var saes: [String: SAE]
    public var bootstrap: EvalResults.BootstrapInfo

    public static func read(_ path: String) throws -> MultiLayerFile {
        try JSONFile.read(MultiLayerFile.self, from: path, hint: "rerun the mlsae stage")
    }

    /// One row per SAE and layer: both SAEs' metrics and the MMCS columns.
    public func layerTable() -> Table {
        let metrics = LayerSummary.metrics
        let header = ["sae", "layer"] + metrics.flatMap { ["mlsae.\($0.column)"] } + ["mlsae.ce_loss_increase"]
            + metrics.map { "per_layer.\($0.column)" } + ["per_layer.ce_loss_increase", "mmcs_per_layer_to_previous", "mmcs_per_layer_into_mlsae"]
        var rows: [[String]] = []
        for (side, sae) in saes.sorted(by: { $0.key < $1.key }) {
            for layer in sae.byLayer {
                func values(_ pair: EvalResults.PairMetrics?) -> [String] {
                    metrics.map { metric in pair.flatMap(metric.value).map { NumberFormat.fixed($0, digits: metric.digits + 1) } ?? "" }
                        + [pair.map { NumberFormat.fixed($0.ceLossIncrease, digits: 4) } ?? ""]
                }
                func mean(_ mmcs: MMCS?) -> String { mmcs.map { NumberFormat.fixed(($0.forward + $0.backward) / 2, digits: 4) } ?? "" }
                // Into the MLSAE one way only: back, most of its latents belong to other layers.
                rows.append([side, "\(layer.layer)"] + values(layer.mlsae) + values(layer.perLayer)
                            + [mean(layer.mmcsPerLayerToPrevious), layer.mmcsPerLayerToMLSAE.map { NumberFormat.fixed($0.forward, digits: 4) } ?? ""])
            }
        }
        return Table(header: header, rows: rows)
    }

    /// What the report says about each multi-layer SAE, every claim backed by the numbers beside it.
    public func findings(labels: DatasetLabels) -> [String] {
        saes.sorted(by: { $0.key < $1.key }).compactMap { sideName, sae -> String? in
            guard let side = Side(rawValue: sideName), let first = sae.byLayer.first, let last = sae.byLayer.last else { return nil }
            let label = labels[side]
            func value(_ m: EvalResults.PairMetrics) -> String {
                NumberFormat.fixed(m.fve, digits: 3) + (m.intervals["fve"].map { " ± " + NumberFormat.fixed(($0[1] - $0[0]) / 2, digits: 3) } ?? "")
            }
            let best = sae.byLayer.max { $0.mlsae.fve < $1.mlsae.fve }!, worst = sae.byLayer.min { $0.mlsae.fve < $1.mlsae.fve }!
            let (lowL0, highL0) = (sae.byLayer.map(\.mlsae.l0).min()!, sae.byLayer.map(\.mlsae.l0).max()!)
            let l0 = NumberFormat.fixed(lowL0, digits: 1) == NumberFormat.fixed(highL0, digits: 1)
                ? "its L0 is \(NumberFormat.fixed(lowL0, digits: 1)) at every layer"
                : "its L0 runs from \(NumberFormat.fixed(lowL0, digits: 1)) to \(NumberFormat.fixed(highL0, digits: 1)) across layers"
            var text = "The multi-layer SAE trained on \(label) (\(sae.features) latents over layers \(first.layer)–\(last.layer), "
                + "standardized vectors) explains \(value(worst.mlsae)) of the variance at layer \(worst.layer) and \(value(best.mlsae)) at layer "
                + "\(best.layer) on held-out \(label); \(l0)."
            let compared = sae.byLayer.compactMap(\.comparison)
            if !compared.isEmpty, let width = sae.perLayerFeatures {
                let better = compared.filter { ($0.fveInterval?[0] ?? 0) > 0 }.count
                let worse = compared.filter { ($0.fveInterval?[1] ?? 0) < 0 }.count
                let lossBetter = compared.filter { ($0.ceLossInterval?[0] ?? 0) > 0 }.count
                let lossWorse = compared.filter { ($0.ceLossInterval?[1] ?? 0) < 0 }.count
                text += " Against per-layer SAEs of \(width) features each (together as wide), it reconstructs better at \(better) of "
                    + "\(compared.count) layers, worse at \(worse) and indistinguishably at \(compared.count - better - worse) (by the paired 95% "
                    + "interval of the FVE difference); spliced in, it raises the next-token loss less than the layer's own SAE at "
                    + "\(lossBetter) layers, more at \(lossWorse) and indistinguishably at \(compared.count - lossBetter - lossWorse)."
            }
            if let spread = sae.meanLayerStd {
                text += " Its \(sae.liveLatents) live latents spread over layers with a mean standard deviation of "
                    + "\(NumberFormat.fixed(spread, digits: 2)) layers (0: a latent of one layer)."
            }
            return text
        }
    }

    /// One row per latent of one SAE: how often it fired and where.
    public static func latentTable(_ sae: SAE) -> Table {
        Table(header: ["latent", "fired", "mean_layer", "layer_std"] + sae.layers.map { "share_layer_\($0)" },
              rows: sae.latents.map { latent in
                  ["\(latent.latent)", "\(latent.fired)", latent.meanLayer.map { NumberFormat.fixed($0, digits: 3) } ?? "",
                   latent.layerStd.map { NumberFormat.fixed($0, digits: 3) } ?? ""]
                      + sae.layers.indices.map { i in latent.shares.map { NumberFormat.fixed($0[i], digits: 4) } ?? "" }
              })
    }
}
