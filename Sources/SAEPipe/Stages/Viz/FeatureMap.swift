import Foundation
import SAEPipeCore
import SAEPipeLinalg
import SAEPipePlot
import SAEPipeSAE

/// `feature_map.json` (docs/formats.md): every feature of the run's SAEs placed in 2-D by its
/// decoder direction — the first two principal components of all the unit directions together,
/// and a UMAP embedding started from them — with how many of each feature's nearest
/// neighbours each keeps. Written by viz (which draws `figures/feature_map.png`); read by the
/// feature browser.
public struct FeatureMapFile: Codable, Sendable, Equatable {
    public static let fileName = "feature_map.json"
    /// Both SAEs together; beyond this the k-nearest-neighbour search takes minutes.
    public static let maxFeatures = 40_000

    public struct Coordinates: Codable, Sendable, Equatable {
        public var sae: Side
        /// x, y per feature.
        public var pca: [Float]
        public var umap: [Float]
    }

    public var saes: [Coordinates]
    /// Share of the decoder directions' variance on the two principal components.
    public var pcaVarianceShare: Double
    public var neighbours: Int
    /// Mean share of each feature's nearest neighbours (by decoder cosine) that stay its nearest in the
    /// map (over 3,000 evenly spaced features when there are more).
    public var pcaNeighbourhoodPreservation: Double
    public var umapNeighbourhoodPreservation: Double

    enum CodingKeys: String, CodingKey {
        case saes, pcaVarianceShare = "pca_variance_share", neighbours
        case pcaNeighbourhoodPreservation = "pca_neighbourhood_preservation", umapNeighbourhoodPreservation = "umap_neighbourhood_preservation"
    }

    public static func compute(_ parameters: [(Side, SAEParameters)], seed: UInt64) -> FeatureMapFile {
        let d = parameters[0].1.d
        let rows = parameters.reduce(0) { $0 + $1.1.features }
        let unit = parameters.flatMap { FeatureMatching.unitRows($0.1.wDec, rows: $0.1.features, d: d) }
        let pca = PrincipalComponents.compute(unit, rows: rows, d: d, components: 2)
        var settings = UMAP.Settings()
        settings.seed = seed
        // One neighbour search serves the embedding and both preservation scores.
        let neighbours = UMAP.nearestNeighbours(unit, rows: rows, d: d, k: min(settings.neighbours, rows - 1))
        let umap = UMAP.embed(unit, rows: rows, d: d, initial: pca.projections, settings: settings, neighbours: neighbours)
        let total = PrincipalComponents.totalVariance(unit, rows: rows, d: d)
        var saes: [Coordinates] = [], offset = 0
        let round = { (x: Float) in (x * 1e4).rounded() / 1e4 }
        for (side, p) in parameters {
            let range = (offset * 2)..<((offset + p.features) * 2)
            saes.append(Coordinates(sae: side, pca: pca.projections[range].map(round), umap: umap[range].map(round)))
            offset += p.features
        }
        return FeatureMapFile(
            saes: saes, pcaVarianceShare: total > 0 ? pca.variances.reduce(0, +) / total : 0, neighbours: settings.neighbours,
            pcaNeighbourhoodPreservation: UMAP.neighbourhoodPreservation(original: neighbours.indices, rows: rows, embedding: pca.projections,
                                                                         k: settings.neighbours),
            umapNeighbourhoodPreservation: UMAP.neighbourhoodPreservation(original: neighbours.indices, rows: rows, embedding: umap,
                                                                          k: settings.neighbours))
    }

    public func coordinates(of side: Side) -> Coordinates? { saes.first { $0.sae == side } }

    public func write(to directory: String) throws { try JSONFile.write(self, to: "\(directory)/\(Self.fileName)", pretty: false) }

    public static func read(_ path: String) throws -> FeatureMapFile {
        try JSONFile.read(FeatureMapFile.self, from: path, hint: "rerun the viz stage (`saepipe run CONFIG --force viz`)")
    }

    /// The UMAP map as a figure, each feature coloured by its selectivity (log2 of mean activation
    /// on A over B; by SAE in a one-dataset run), dead features left out.
    func draw(summaries: [Side: [FeatureSummaryFile.Feature]], labels: DatasetLabels, subtitle: String, scale: Double,
              text: TextRenderer) -> Canvas {
        let compared = summaries.count == 2
        // Selectivity bins, from strongly A-selective to strongly B-selective.
        let bins: [(name: String, range: Range<Double>, color: Color)] = compared ? [
            ("≥ 8× more active on \(labels[.A])", 3..<Double.infinity, Color(20, 70, 170)),
            ("2–8× on \(labels[.A])", 1..<3, Color(110, 160, 230)),
            ("within 2× (shared)", -1..<1, Color(170, 170, 170)),
            ("2–8× on \(labels[.B])", -3 ..< -1, Color(245, 160, 90)),
            ("≥ 8× more active on \(labels[.B])", -Double.infinity ..< -3, Color(200, 80, 0)),
        ] : []
        var series: [Series] = []
        if compared {
            var points = [[(Double, Double)]](repeating: [], count: bins.count)
            for coordinates in saes {
                guard let list = summaries[coordinates.sae] else { continue }
                for (i, feature) in list.enumerated() where feature.featureClass != "dead" && 2 * i + 1 < coordinates.umap.count {
                    let ratio = feature.selectivityLog2Ratio ?? 0
                    if let bin = bins.firstIndex(where: { $0.range.contains(ratio) }) {
                        points[bin].append((Double(coordinates.umap[2 * i]), Double(coordinates.umap[2 * i + 1])))
                    }
                }
            }
            // The shared features first, so the selective ones are drawn over them.
            for index in [2, 1, 3, 0, 4] where !points[index].isEmpty {
                series.append(.scatter(name: bins[index].name + " (\(points[index].count))", points: points[index], color: bins[index].color, radius: 2.5))
            }
        } else {
            for (index, coordinates) in saes.enumerated() {
                let live = (summaries[coordinates.sae] ?? []).enumerated().filter { $0.element.featureClass != "dead" }.map(\.offset)
                series.append(.scatter(name: "SAE \(coordinates.sae)", points: live.map { (Double(coordinates.umap[2 * $0]), Double(coordinates.umap[2 * $0 + 1])) },
                                       color: Color.palette[index], radius: 2.5))
            }
        }
        let who = compared ? "both SAEs' features" : "the SAE's features"
        var chart = Chart(
            title: "Feature map: \(who) by decoder direction (UMAP)" + (compared ? ", coloured by selectivity" : ""), xLabel: "UMAP 1", yLabel: "UMAP 2",
            series: series)
        chart.subtitle = subtitle + " · \(neighbours)-NN kept: UMAP \(NumberFormat.fixed(umapNeighbourhoodPreservation, digits: 2)), PCA \(NumberFormat.fixed(pcaNeighbourhoodPreservation, digits: 2))"
        chart.legendOutside = true
        chart.width = 1400
        chart.height = 1000
        return chart.render(scale: scale, text: text)
    }
}
