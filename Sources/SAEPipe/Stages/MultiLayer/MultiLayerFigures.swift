import Foundation
import SAEPipeCore
import SAEPipePlot

/// The mlsae stage's figures, per SAE: its metrics at every layer, the per-layer SAEs' metrics,
/// FVE of both by layer, each latent's share of activation at each layer, and the spread of
/// latents over layers.
enum MultiLayerFigures {
    static func figures(_ file: MultiLayerFile, labels: DatasetLabels, text: TextRenderer) -> [(String, Canvas)] {
        var figures: [(String, Canvas)] = []
        for (sideName, sae) in file.saes.sorted(by: { $0.key < $1.key }) {
            guard let side = Side(rawValue: sideName) else { continue }
            let label = labels[side]
            let source = "\(file.model.split(separator: "/").last ?? ""), \(file.stream), \(sae.features) latents"
            figures.append(("mlsae_layers_\(side)", LayerSummary.heatmap(
                sae.byLayer.map(\.mlsae), layers: sae.layers, extra: [], silentTitle: "silent here",
                title: "Multi-layer SAE \(side) at each layer, on held-out \(label)",
                subtitle: "\(source); spliced in at each layer; each column coloured over its own range").render(text: text)))
            if sae.byLayer.allSatisfy({ $0.perLayer != nil }) {
                let mmcs = [("MMCS prev.", sae.byLayer.map { $0.mmcsPerLayerToPrevious.map { ($0.forward + $0.backward) / 2 } ?? .nan }),
                            ("MMCS → MLSAE", sae.byLayer.map { $0.mmcsPerLayerToMLSAE?.forward ?? .nan })]
                figures.append(("mlsae_per_layer_saes_\(side)", LayerSummary.heatmap(
                    sae.byLayer.map(\.perLayer), layers: sae.layers, extra: mmcs,
                    title: "Per-layer SAEs (\(sae.perLayerFeatures ?? 0) features each) on held-out \(label)",
                    subtitle: "together as wide as MLSAE \(side); MMCS prev.: both ways with the previous layer's; → MLSAE: its features' best cosine there").render(text: text)))
            }
            figures.append(("mlsae_vs_per_layer_\(side)", fveChart(sae, side: side, label: label, source: source).render(text: text)))
            figures.append(("mlsae_latent_layers_\(side)", latentHeatmap(sae, side: side, label: label, source: source).render(text: text)))
            figures.append(("mlsae_layer_std_\(side)", layerSpread(sae, side: side, source: source).render(text: text)))
        }
        return figures
    }

    /// FVE at each layer with 95% intervals: the multi-layer SAE against that layer's own SAE.
    static func fveChart(_ sae: MultiLayerFile.SAE, side: Side, label: String, source: String) -> Chart {
        let (mlsaeColor, ownColor) = (Color.palette[0], Color.palette[1])
        func series(_ name: String, _ metrics: [(Int, EvalResults.PairMetrics)], _ color: Color) -> [Series] {
            [.line(name: name, points: metrics.map { (Double($0.0), $0.1.fve) }, color: color),
             .errorBars(intervals: metrics.compactMap { layer, m in m.intervals["fve"].map { .init(x: Double(layer), y0: $0[0], y1: $0[1]) } },
                        color: color)]
        }
        var all = series("multi-layer SAE (\(sae.features) latents)", sae.byLayer.map { ($0.layer, $0.mlsae) }, mlsaeColor)
        let own = sae.byLayer.compactMap { layer in layer.perLayer.map { (layer.layer, $0) } }
        if !own.isEmpty { all += series("per-layer SAEs (\(sae.perLayerFeatures ?? 0) each)", own, ownColor) }
        var chart = Chart(title: "FVE at each layer on held-out \(label), ± 95% intervals", xLabel: "layer",
                          yLabel: "fraction of variance explained", series: all)
        chart.subtitle = source + " (standardized vectors)"
        return chart
    }

    /// Live latents sorted by mean layer, down; layers across; colour: the latent's share of its activation at that layer.
    static func latentHeatmap(_ sae: MultiLayerFile.SAE, side: Side, label: String, source: String) -> RasterHeatmap {
        let live = sae.latents.filter { $0.shares != nil && $0.meanLayer != nil }
            .sorted { ($0.meanLayer!, $0.latent) < ($1.meanLayer!, $1.latent) }
        // Most shares are small: the scale tops out at the 99th percentile of the nonzero ones, so their spread shows.
        let shares = live.flatMap { $0.shares! }.filter { $0 > 0 }.sorted()
        let top = shares.isEmpty ? 1 : min(1, max(0.05, (shares[min(shares.count - 1, shares.count * 99 / 100)] * 20).rounded(.up) / 20))
        var heatmap = RasterHeatmap(
            title: "Where each latent of MLSAE \(side) fires: its share of activation by layer", rowTitle: "latents, sorted by mean layer",
            columnTitle: "layer", columnLabels: sae.layers.map(String.init), values: live.map { $0.shares! }, range: 0...top,
            colorBarTitle: "share of the latent's activation")
        heatmap.subtitle = "\(source); \(live.count) live latents on held-out \(label)"
            + (top < 1 ? "; colours saturate at \(NumberFormat.fixed(top, digits: 2))" : "")
        // Where the latents of mean layer ≥ each marked layer begin.
        let step = max(1, sae.layers.count / 6)
        heatmap.rowMarks = stride(from: 0, to: sae.layers.count, by: step).compactMap { index in
            let layer = Double(sae.layers[index])
            return live.firstIndex { $0.meanLayer! >= layer }.map { ($0, "mean ≥ \(sae.layers[index])") }
        }
        return heatmap
    }

    /// How many live latents have each layer standard deviation: near 0, a latent of one layer.
    static func layerSpread(_ sae: MultiLayerFile.SAE, side: Side, source: String) -> Chart {
        let stds = sae.latents.compactMap(\.layerStd)
        let high = max(stds.max() ?? 1, 1e-9)
        let bins = 30, width = high / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for value in stds { counts[min(bins - 1, Int(value / width))] += 1 }
        var chart = Chart(
            title: "How many layers each latent of MLSAE \(side) spans", xLabel: "standard deviation of the latent's layer (layers)",
            yLabel: "latents", series: [.bars(name: "live latents", bars: counts.enumerated().map { (Double($0.offset) * width, Double($0.offset + 1) * width, Double($0.element)) },
                                             color: Color.palette[0])])
        chart.subtitle = "\(source); mean \(NumberFormat.fixed(sae.meanLayerStd, digits: 2)) over \(stds.count) live latents"
        return chart
    }
}
