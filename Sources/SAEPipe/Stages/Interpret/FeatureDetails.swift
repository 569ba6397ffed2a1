import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeSAE

/// The per-dataset part of every feature's page (`FeatureStore.View`), from a second encoder
/// pass over the dataset once `FeatureStatistics` knows each feature's maximum and top rows:
/// the feature's activation on every token of its contexts, a histogram of its activations
/// over (0, max], and which features fire on the same tokens.
enum FeatureDetails {
    static let histogramBins = 32
    static let bands = 4
    static let examplesPerBand = 3
    static let coFiringSampleRows = 65_536
    /// Above this many features the co-firing matrix (features² counts) is not kept.
    static let coFiringMaxFeatures = 8192
    static let neighbours = 6

    struct ExampleRequest {
        var center: Int
        var range: Range<Int>
        /// Where the example's values start in the shared value buffer.
        var slot: Int
        var activation: Float
    }

    static func views(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, source: ContextSource, stats: FeatureStatistics,
        data: Side, before: Int, after: Int, batchSize: Int = 4096, progress: SAEPipeCore.Progress? = nil
    ) -> (views: [FeatureStore.View], coFiringRows: Int) {
        let F = p.features, n = dataset.rows
        var rowOfPosition = [Int32](repeating: -1, count: source.tokens.count)
        for (row, position) in source.positions.enumerated() { rowOfPosition[Int(position)] = Int32(row) }

        // The contexts each feature shows: its top rows, then a few sampled rows per activation band.
        var examples: [[ExampleRequest]] = Array(repeating: [], count: F)
        var bandOfExample: [[Int]] = Array(repeating: [], count: F)
        var slots = 0
        func request(_ feature: Int, _ example: FeatureStatistics.Example, band: Int) {
            let center = Int(source.positions[example.row])
            let window = source.window(containing: center)
            let range = max(window.lowerBound, center - before)..<min(window.upperBound, center + 1 + after)
            examples[feature].append(ExampleRequest(center: center, range: range, slot: slots, activation: example.activation))
            bandOfExample[feature].append(band)
            slots += range.count
        }
        for i in 0..<F {
            for example in stats.top[i] { request(i, example, band: -1) }
            let topRows = Set(stats.top[i].map(\.row))
            let maximum = stats.maxima[i]
            guard maximum > 0 else { continue }
            for band in 0..<bands {
                let (low, high) = (maximum * Float(band) / Float(bands), maximum * Float(band + 1) / Float(bands))
                let inBand = stats.reservoir[i].filter { $0.activation > low && $0.activation <= high && !topRows.contains($0.row) }
                for example in inBand.prefix(examplesPerBand) { request(i, example, band: band) }
            }
        }
        // Requests grouped by activation row: (feature, slot) for every context token with a row.
        var requestsPerRow = [Int32](repeating: 0, count: n + 1)
        for i in 0..<F { for e in examples[i] { for position in e.range where rowOfPosition[position] >= 0 { requestsPerRow[Int(rowOfPosition[position]) + 1] += 1 } } }
        var rowStart = [Int](repeating: 0, count: n + 1)
        for r in 0..<n { rowStart[r + 1] = rowStart[r] + Int(requestsPerRow[r + 1]) }
        var fill = rowStart
        var requestFeature = [Int32](repeating: 0, count: rowStart[n]), requestSlot = [Int32](repeating: 0, count: rowStart[n])
        for i in 0..<F {
            for e in examples[i] {
                for (offset, position) in e.range.enumerated() where rowOfPosition[position] >= 0 {
                    let row = Int(rowOfPosition[position])
                    requestFeature[fill[row]] = Int32(i)
                    requestSlot[fill[row]] = Int32(e.slot + offset)
                    fill[row] += 1
                }
            }
        }

        var values = [Float](repeating: 0, count: slots)
        let bins = histogramBins
        var histogram = [Int](repeating: 0, count: F * bins)
        let inverseMax = stats.maxima.map { $0 > 0 ? Float(bins) / $0 : 0 }
        let keepCoFiring = F <= coFiringMaxFeatures
        let stride = max(1, n / coFiringSampleRows)
        var coCounts = [UInt32](repeating: 0, count: keepCoFiring ? F * F : 0)
        var sampledRows = 0
        var active: [Int] = []
        FeatureStatistics.encodeInBatches(p, activation: activation, dataset: dataset, batchSize: batchSize, progress: progress) { start, count, sparse in
            for r in 0..<count {
                let row = start + r
                let entries = sparse.rowRange(r)
                for k in entries {
                    let i = sparse.feature(k), value = sparse.value(k)
                    guard value > 0 else { continue }
                    histogram[i * bins + min(bins - 1, Int(value * inverseMax[i]))] += 1
                }
                for q in rowStart[row]..<rowStart[row + 1] {
                    let wanted = Int(requestFeature[q])
                    for k in entries where sparse.feature(k) == wanted { values[Int(requestSlot[q])] = sparse.value(k) }
                }
                if keepCoFiring && row % stride == 0 {
                    sampledRows += 1
                    active.removeAll(keepingCapacity: true)
                    for k in entries where sparse.value(k) > 0 { active.append(sparse.feature(k)) }
                    active.sort()
                    for a in 0..<active.count {
                        coCounts[active[a] * F + active[a]] += 1
                        for b in (a + 1)..<active.count { coCounts[active[a] * F + active[b]] += 1 }
                    }
                }
            }
        }

        let views = (0..<F).map { i -> FeatureStore.View in
            let rounded = { (x: Float) in (x * 1000).rounded() / 1000 }
            var top: [FeatureStore.Example] = []
            var banded: [[FeatureStore.Example]] = Array(repeating: [], count: bands)
            for (e, band) in zip(examples[i], bandOfExample[i]) {
                let example = FeatureStore.Example(
                    activation: rounded(e.activation), tokens: Array(source.tokens[e.range]),
                    values: values[e.slot..<(e.slot + e.range.count)].map(rounded), center: e.center - e.range.lowerBound)
                if band < 0 { top.append(example) } else { banded[band].append(example) }
            }
            let counts = Array(histogram[(i * bins)..<((i + 1) * bins)])
            let firing = max(1, counts.reduce(0, +))
            let perBand = bins / bands
            let maximum = stats.maxima[i]
            let bandList = maximum > 0 ? (0..<bands).reversed().map { band in
                FeatureStore.Band(low: rounded(maximum * Float(band) / Float(bands)), high: rounded(maximum * Float(band + 1) / Float(bands)),
                                  share: Double(counts[(band * perBand)..<((band + 1) * perBand)].reduce(0, +)) / Double(firing), examples: banded[band])
            } : []
            return FeatureStore.View(
                data: data, top: top, bands: bandList, histogram: FeatureStore.Histogram(max: rounded(maximum), counts: counts),
                topTokens: topTokens(i, stats: stats, source: source),
                coFiring: keepCoFiring ? coFiring(i, counts: coCounts, features: F) : [])
        }
        return (views, sampledRows)
    }

    /// The commonest tokens among the feature's sampled firing rows, with their shares.
    static func topTokens(_ i: Int, stats: FeatureStatistics, source: ContextSource, count: Int = 8) -> [FeatureStore.TokenShare] {
        let sample = stats.reservoir[i]
        guard !sample.isEmpty else { return [] }
        var counts: [Int32: Int] = [:]
        for example in sample { counts[source.token(ofRow: example.row), default: 0] += 1 }
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(count)
            .map { FeatureStore.TokenShare(token: $0.key, share: Double($0.value) / Double(sample.count)) }
    }

    /// The features most often active on the same sampled rows, by Jaccard index
    /// (both active / either active); pairs seen together fewer than twice are left out.
    static func coFiring(_ i: Int, counts: [UInt32], features F: Int) -> [FeatureStore.Neighbour] {
        let own = Double(counts[i * F + i])
        guard own > 0 else { return [] }
        var best: [(feature: Int, score: Double)] = []
        for j in 0..<F where j != i {
            let both = Double(i < j ? counts[i * F + j] : counts[j * F + i])
            guard both >= 2 else { continue }
            let score = both / (own + Double(counts[j * F + j]) - both)
            if best.count < neighbours || score > best[best.count - 1].score {
                best.append((j, score))
                best.sort { ($0.score, $1.feature) > ($1.score, $0.feature) }
                if best.count > neighbours { best.removeLast() }
            }
        }
        return best.map { FeatureStore.Neighbour(feature: $0.feature, score: ($0.score * 1e4).rounded() / 1e4) }
    }

    /// Each feature's nearest features in the same dictionary by decoder cosine, a block of rows at a time.
    static func nearest(_ p: SAEParameters, count: Int = neighbours) -> [[FeatureStore.Neighbour]] {
        let F = p.features
        var result: [[FeatureStore.Neighbour]] = []
        result.reserveCapacity(F)
        let block = max(1, min(F, (16 << 20) / max(1, F)))
        for first in Swift.stride(from: 0, to: F, by: block) {
            let rows = min(block, F - first)
            let slice = SAEParameters(d: p.d, features: rows, wEnc: [], bEnc: [], wDec: Array(p.wDec[(first * p.d)..<((first + rows) * p.d)]), bDec: [])
            let cosines = FeatureMatching.decoderCosines(slice, p)
            for r in 0..<rows {
                var best: [(feature: Int, cosine: Float)] = []
                for j in 0..<F where j != first + r {
                    let c = cosines[r * F + j]
                    if best.count < count || c > best[best.count - 1].cosine {
                        best.append((j, c))
                        best.sort { ($0.cosine, $1.feature) > ($1.cosine, $0.feature) }
                        if best.count > count { best.removeLast() }
                    }
                }
                result.append(best.map { FeatureStore.Neighbour(feature: $0.feature, score: (Double($0.cosine) * 1e4).rounded() / 1e4) })
            }
        }
        return result
    }
}
