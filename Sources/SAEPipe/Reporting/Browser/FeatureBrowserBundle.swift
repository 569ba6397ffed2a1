import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE

/// The static feature browser (docs/formats.md, "Feature browser"): every feature of every SAE,
/// searchable and sortable, each with its page; it opens from `file://` (data arrives as script
/// files, per-feature data in shards loaded on demand) and is what `saepipe serve` serves.
public enum FeatureBrowserBundle {
    public static let shardSize = 64
    static let staticFiles = ["index.html", "browser.js", "browser.css"]

    /// The table the list, search and links read: one column array per field, per SAE.
    struct SAEColumns: Encodable {
        var features: Int
        var label: [String]
        /// The label read from the other dataset's contexts (absent in a one-dataset run).
        var otherLabel: [String]?
        var `class`: [String]
        var freqA: [Double]
        var freqB: [Double]?
        var log2Ratio: [Double]?
        var ablation: [Double?]
        /// The commonest firing tokens on the SAE's own dataset (for search).
        var tokens: [[String]]
        var match: [Int?]?
        var matchCos: [Double?]?
        var best: [Int]?
        var bestCos: [Double]?
        enum CodingKeys: String, CodingKey {
            case features, label, otherLabel = "other_label", `class`, freqA = "freq_A", freqB = "freq_B", log2Ratio = "log2_ratio"
            case ablation, tokens, match, matchCos = "match_cos", best, bestCos = "best_cos"
        }
    }

    struct MapData: Encodable {
        struct Points: Encodable { var pca: [Float]; var umap: [Float] }
        var method: String
        var saes: [String: Points] = [:]
    }

    struct Index: Encodable {
        var title: String
        var datasets: [String: String]
        var shardSize: Int
        var saes: [String: SAEColumns]
        var matching: EvalResults.Matching?
        var logitCaveat: [String: String]
        var map: MapData?
        enum CodingKeys: String, CodingKey {
            case title, datasets, shardSize = "shard_size", saes, matching, logitCaveat = "logit_caveat", map
        }
    }

    public struct Summary: Sendable {
        public var features: Int
        public var shards: Int
        public var bytes: UInt64
    }

    /// Writes the browser for the run in `directory` into `target` (an existing, empty directory).
    @discardableResult
    public static func write(runDirectory directory: String, manifest: RunManifest, results: EvalResults?, tokenizer: Tokenizer,
                             to target: String) throws -> Summary {
        let labels = DatasetLabels(config: manifest.config)
        let sides = Side.allCases.filter { FileSystem.exists("\(directory)/features/\(FeatureStore.fileName(sae: $0))") }
        guard !sides.isEmpty else {
            throw SAEPipeError.input("the run has no feature store (features/A.features)", file: directory,
                                     hint: "rerun the interpret stage with this saepipe: `saepipe run CONFIG`")
        }
        let matchingPath = "\(directory)/\(MatchingFile.fileName)"
        let matching = sides.count > 1 && FileSystem.exists(matchingPath) ? try MatchingFile.read(matchingPath) : nil
        var saes: [String: SAEColumns] = [:], caveats: [String: String] = [:]
        var shards = 0, features = 0
        for side in sides {
            let store = try FeatureStore.Reader(path: "\(directory)/features/\(FeatureStore.fileName(sae: side))")
            let own = try FeatureSummaryFile.read("\(directory)/features/\(FeatureSummaryFile.fileName(sae: side, data: side))").features
            let otherPath = "\(directory)/features/\(FeatureSummaryFile.fileName(sae: side, data: side.other))"
            let other = sides.count > 1 && FileSystem.exists(otherPath) ? try FeatureSummaryFile.read(otherPath).features : nil
            guard own.count == store.features, other.map({ $0.count == store.features }) ?? true else {
                throw SAEPipeError.input("the feature summaries and the feature store of SAE \(side) disagree on the number of features",
                                         file: directory, hint: "rerun the interpret stage")
            }
            let onA = side == .A ? own : other, onB = side == .B ? own : other
            let matched = matching?.features(of: side)
            saes[side.rawValue] = SAEColumns(
                features: store.features, label: own.map(\.label), otherLabel: other?.map(\.label), class: own.map(\.featureClass),
                freqA: (onA ?? own).map { significant($0.frequency) }, freqB: onB.map { $0.map { significant($0.frequency) } },
                log2Ratio: own.first?.selectivityLog2Ratio == nil ? nil : own.map { significant($0.selectivityLog2Ratio ?? 0) },
                ablation: own.map { $0.ablation.map { significant($0.meanLossChange) } },
                tokens: own.map { $0.topTokens.prefix(3).map(\.token) },
                match: matched?.map(\.matched), matchCos: matched?.map { $0.matchedCosine.map(significant) },
                best: matched?.map(\.best), bestCos: matched?.map { significant($0.bestCosine) })
            if let caveat = store.header.logitCaveat { caveats[side.rawValue] = caveat }
            features += store.features
            // Shards of records, gzip-compressed and base64-wrapped in a script the page loads on demand;
            // built two at a time (inflating, checking and compressing dominate an export).
            try FileSystem.createDirectory("\(target)/data/\(side)")
            let firsts = Array(stride(from: 0, to: store.features, by: shardSize))
            let failures = ErrorList()
            DispatchQueue.concurrentPerform(iterations: firsts.count) { shard in
                do {
                    let first = firsts[shard]
                    var array = Data("[".utf8)
                    for i in first..<min(store.features, first + shardSize) {
                        if i > first { array.append(contentsOf: Array(",".utf8)) }
                        array.append(try store.recordAndJSON(i).json)
                    }
                    array.append(contentsOf: Array("]".utf8))
                    let script = "saepipeShard(\"\(side)\",\(shard),\"\(try Gzip.compress(array, level: 6).base64EncodedString())\");\n"
                    try FileSystem.writeAtomically(script, to: "\(target)/data/\(side)/\(String(format: "%04d", shard)).js")
                } catch {
                    failures.append(error)
                }
            }
            if let error = failures.first { throw error }
            shards += firsts.count
        }
        let vocab = (0..<tokenizer.vocabularySize).map { tokenizer.decode([$0]) }
        let vocabJSON = try JSONFile.encode(vocab, sortedKeys: false, pretty: false)
        try FileSystem.writeAtomically("saepipeVocab(\"\(try Gzip.compress(vocabJSON, level: 6).base64EncodedString())\");\n", to: "\(target)/data/vocab.js")
        let index = Index(
            title: title(manifest.config),
            datasets: Dictionary(uniqueKeysWithValues: sides.map { ($0.rawValue, labels[$0]) }),
            shardSize: shardSize, saes: saes, matching: sides.count > 1 ? results?.matching : nil, logitCaveat: caveats,
            map: try featureMap(runDirectory: directory))
        let indexJSON = String(decoding: try JSONFile.encode(index, pretty: false), as: UTF8.self)
        try FileSystem.writeAtomically("window.SAEPIPE_INDEX = \(indexJSON);\n", to: "\(target)/data/index.js")
        for name in staticFiles { try FileSystem.writeAtomically(try staticFile(name), to: "\(target)/\(name)") }
        let bytes = (FileManager.default.enumerator(atPath: target)?.allObjects as? [String] ?? [])
            .compactMap { FileSystem.fileSize("\(target)/\($0)") }.reduce(0, +)
        return Summary(features: features, shards: shards, bytes: bytes)
    }

    /// e.g. "SmolLM2-135M-Instruct.Q4_1.gguf · layers.3.mlp_out · default".
    static func title(_ config: ConfigValue) -> String {
        let text = { (path: String) -> String? in
            if case .string(let value) = config[path: path] { return value }
            return config[path: path] == .null ? nil : config[path: path].scalarDescription
        }
        let model = text("model.name").map(FileSystem.lastComponent) ?? "model"
        let hook = (try? ModelSettings.read(ConfigReader(config)).hookPoint().description) ?? "\(text("model.stream") ?? "") at layer \(text("model.layer") ?? "?")"
        return "\(model) · \(hook)" + (text("run_name").map { " · \($0)" } ?? "")
    }

    /// viz's feature map, as the page draws it.
    static func featureMap(runDirectory: String) throws -> MapData? {
        let path = "\(runDirectory)/\(FeatureMapFile.fileName)"
        guard FileSystem.exists(path) else { return nil }
        let map = try FeatureMapFile.read(path)
        var data = MapData(
            method: "\(map.saes.count == 2 ? "Both SAEs' features" : "The SAE's features") placed by decoder direction. UMAP keeps "
                + "\(NumberFormat.fixed(100 * map.umapNeighbourhoodPreservation, digits: 0))% of each feature's \(map.neighbours) nearest neighbours "
                + "(by decoder cosine) among its nearest on the map; the first two principal components keep "
                + "\(NumberFormat.fixed(100 * map.pcaNeighbourhoodPreservation, digits: 0))% and hold "
                + "\(NumberFormat.fixed(100 * map.pcaVarianceShare, digits: 1))% of the directions' variance.")
        for coordinates in map.saes {
            data.saes[coordinates.sae.rawValue] = MapData.Points(pca: coordinates.pca, umap: coordinates.umap)
        }
        return data
    }

    static func staticFile(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Static"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw SAEPipeError.runtime("the feature browser's \(name) is missing from saepipe's resources", hint: "rebuild saepipe")
        }
        return text
    }

    /// Four significant digits: the browser shows fewer, and the index stays small.
    static func significant(_ x: Double) -> Double {
        guard x != 0, x.isFinite else { return 0 }
        return Double(String(format: "%.4g", x)) ?? x
    }
}

/// Errors from concurrent work, kept in order of arrival.
final class ErrorList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func append(_ error: Error) { lock.withLock { errors.append(error) } }
    var first: Error? { lock.withLock { errors.first } }
}
