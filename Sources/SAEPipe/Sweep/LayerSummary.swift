import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipePlot
import SAEPipeSAE

/// For a sweep over `model.layer` alone (`--grid model.layer=all`): per SAE, a layers × metrics
/// table and heatmap, and the MMCS between the SAEs of adjacent layers — how much of one layer's
/// dictionary has a close direction in the next one's (mlsae's measure between SAEs).
enum LayerSummary {
    static let layerKey = "model.layer"

    /// The metrics of the heatmap: column, its name in the figure, decimals, and its value.
    static let metrics: [(column: String, title: String, digits: Int, value: @Sendable (EvalResults.PairMetrics) -> Double?)] = [
        ("fve", "FVE", 3, { $0.fve }), ("l0", "L0", 1, { $0.l0 }), ("ce_recovered", "CE recovered", 3, { $0.ceRecovered }),
        ("dead_fraction", "dead", 3, { $0.deadFraction }), ("kl_score", "KL score", 3, { $0.klScore }),
    ]

    struct Layer {
        var layer: Int
        var metrics: [Side: EvalResults.PairMetrics]
        /// MMCS from this layer's SAE to the previous layer's, and back (nil for the first layer).
        var mmcsToPrevious: [Side: (forward: Double, backward: Double)] = [:]
    }

    /// Whether `definition` sweeps the layer and nothing else.
    static func applies(to definition: SweepDefinition) -> Bool { definition.sweptKeys == [layerKey] }

    /// The complete variants by layer, with their own-dataset metrics and adjacent-layer MMCS.
    static func layers(_ definition: SweepDefinition, complete: [SweepSummary.Row]) throws -> [Layer] {
        var found: [(layer: Int, metrics: [Side: EvalResults.PairMetrics], saes: [String: String])] = []
        for row in complete {
            guard let layer = row.values.first?.intValue else { continue }
            let directory = "\(definition.directory)/\(row.variant)"
            guard let results = try? EvalResults.read(runDirectory: directory) else { continue }
            let saes = (try? RunManifest.read(runDirectory: directory))?.entries("saes") ?? [:]
            let metrics = Dictionary(uniqueKeysWithValues: Side.allCases.compactMap { side in
                results.eval[SAEPair(side, side)].map { (side, $0) }
            })
            found.append((layer, metrics, saes))
        }
        found.sort { $0.layer < $1.layer }
        var layers = found.map { Layer(layer: $0.layer, metrics: $0.metrics) }
        var previous: [String: SAEParameters] = [:]
        for (index, entry) in found.enumerated() {
            var current: [String: SAEParameters] = [:]
            for (side, path) in entry.saes { current[side] = try? SAECheckpoint.readSAELens(path).0 }
            for side in Side.allCases {
                guard let here = current[side.rawValue], let before = previous[side.rawValue] else { continue }
                layers[index].mmcsToPrevious[side] = try FeatureMatching.mmcs(here, before)
            }
            previous = current
        }
        return layers
    }

    /// layers.csv and layers.md in the sweep directory.
    static func table(_ layers: [Layer]) -> Table {
        let sides = Side.allCases.filter { side in layers.contains { $0.metrics[side] != nil } }
        let header = ["layer"] + sides.flatMap { side in metrics.map { "\(side).\($0.column)" } + ["\(side).mmcs_to_previous", "\(side).mmcs_from_previous"] }
        let rows = layers.map { layer in
            ["\(layer.layer)"] + sides.flatMap { side -> [String] in
                metrics.map { metric in layer.metrics[side].flatMap(metric.value).map { NumberFormat.fixed($0, digits: metric.digits + 1) } ?? "" }
                    + [layer.mmcsToPrevious[side].map { NumberFormat.fixed($0.forward, digits: 4) } ?? "",
                       layer.mmcsToPrevious[side].map { NumberFormat.fixed($0.backward, digits: 4) } ?? ""]
            }
        }
        return Table(header: header, rows: rows)
    }

    /// One heatmap per SAE side: layers down, metrics (and MMCS to the previous layer) across, each column on its own colour scale.
    static func heatmaps(_ layers: [Layer], labels: DatasetLabels) -> [(name: String, heatmap: Heatmap)] {
        Side.allCases.compactMap { side in
            guard layers.contains(where: { $0.metrics[side] != nil }) else { return nil }
            let mmcs = layers.map { $0.mmcsToPrevious[side].map { ($0.forward + $0.backward) / 2 } ?? .nan }
            return ("layers_\(side)", heatmap(
                layers.map { $0.metrics[side] }, layers: layers.map(\.layer), extra: [("MMCS to previous", mmcs)],
                title: "SAE \(side) (\(labels[side])) at each layer, on held-out \(labels[side])",
                subtitle: "each column coloured over its own range, shown under its name; MMCS: see layers.md"))
        }
    }

    /// Layers down, the metrics (then `extra` columns) across, each column on its own colour scale;
    /// `silentTitle` renames the dead column (a multi-layer SAE's latent silent at one layer may fire at others).
    static func heatmap(_ byLayer: [EvalResults.PairMetrics?], layers: [Int], extra: [(String, [Double])], silentTitle: String? = nil,
                        title: String, subtitle: String) -> Heatmap {
        let columns = metrics.map { metric in byLayer.map { $0.flatMap(metric.value) ?? .nan } } + extra.map(\.1)
        let ranges = columns.map { column -> ClosedRange<Double> in
            let finite = column.filter(\.isFinite)
            let low = finite.min() ?? 0, high = finite.max() ?? 1
            return low...max(high, low + 1e-9)
        }
        var heatmap = Heatmap(
            title: title, rowTitle: "layer", columnTitle: "metric", rowLabels: layers.map(String.init),
            columnLabels: metrics.map { $0.column == "dead_fraction" ? silentTitle ?? $0.title : $0.title } + extra.map(\.0),
            values: layers.indices.map { r in columns.map { $0[r] } })
        heatmap.columnRanges = ranges
        heatmap.columnDigits = metrics.map(\.digits) + extra.map { _ in 3 }
        heatmap.subtitle = subtitle
        return heatmap
    }

    /// Writes layers.csv|md beside the summary and the heatmaps into `figures`.
    static func write(_ definition: SweepDefinition, complete: [SweepSummary.Row], figures: String, labels: DatasetLabels,
                      render: (Heatmap, String) throws -> Void) throws {
        guard applies(to: definition), complete.count >= 2 else { return }
        let layers = try layers(definition, complete: complete)
        guard layers.count >= 2 else { return }
        let table = table(layers)
        try FileSystem.writeAtomically(table.csv(), to: "\(definition.directory)/layers.csv")
        try FileSystem.writeAtomically("# Sweep \(definition.name): per layer\n\nHeld-out metrics of each SAE on its own dataset; "
            + "`mmcs_to_previous` is the mean over this layer's SAE features of the best decoder cosine to the previous layer's SAE, "
            + "`mmcs_from_previous` the reverse; the heatmaps' MMCS column is their mean. Every layer's SAE starts from the dictionary "
            + "`seed` draws, so part of the MMCS is that shared start.\n\n" + table.markdown(), to: "\(definition.directory)/layers.md")
        for (name, heatmap) in heatmaps(layers, labels: labels) { try render(heatmap, name) }
    }
}
