import Foundation
import SAEPipeCore
import SAEPipeData

/// `features/<sae>.features` (docs/formats.md): every feature's page data for one SAE — its
/// contexts as token ids with the feature's activation on each token, activation histograms,
/// interval-band samples, top tokens, nearest and co-firing features and logit effects, on
/// each dataset — one compressed record per feature behind an index, so a browser or
/// `saepipe serve` loads one feature without reading the rest. Written by interpret.
public enum FeatureStore {
    public static let format = "saepipe-features/1"
    public static func fileName(sae: Side) -> String { "\(sae).features" }

    public struct DatasetInfo: Codable, Sendable, Equatable {
        public var data: Side
        public var label: String
        /// Activation rows (tokens) the statistics cover.
        public var tokens: Int
        /// Rows the co-firing counts were taken on (every n-th row).
        public var coFiringRows: Int
        enum CodingKeys: String, CodingKey { case data, label, tokens, coFiringRows = "co_firing_rows" }
    }

    public struct Header: Codable, Sendable, Equatable {
        public var format: String
        public var sae: Side
        public var features: Int
        public var datasets: [DatasetInfo]
        public var contextBefore: Int
        public var contextAfter: Int
        public var histogramBins: Int
        /// Why logit attribution is only indicative here, when it is.
        @EncodedAsNull public var logitCaveat: String?
        public var notes: [String: String]
        enum CodingKeys: String, CodingKey {
            case format, sae, features, datasets, contextBefore = "context_before", contextAfter = "context_after"
            case histogramBins = "histogram_bins", logitCaveat = "logit_caveat", notes
        }
    }

    /// A context: token ids around the activating token and the feature's activation on each
    /// (0 where it does not fire or the position has no activation row).
    public struct Example: Codable, Sendable, Equatable {
        public var activation: Float
        public var tokens: [Int32]
        public var values: [Float]
        /// Index of the activating token in `tokens`.
        public var center: Int
    }

    /// An interval of the activation range (sae_vis's bands): the share of firing tokens in it and sampled contexts.
    public struct Band: Codable, Sendable, Equatable {
        public var low: Float
        public var high: Float
        public var share: Double
        public var examples: [Example]
    }

    /// Firing tokens' activations in `counts.count` equal bins over (0, max].
    public struct Histogram: Codable, Sendable, Equatable {
        public var max: Float
        public var counts: [Int]
    }

    public struct TokenShare: Codable, Sendable, Equatable {
        public var token: Int32
        public var share: Double
    }

    public struct Neighbour: Codable, Sendable, Equatable {
        public var feature: Int
        public var score: Double
    }

    public struct LogitToken: Codable, Sendable, Equatable {
        public var token: Int32
        public var logit: Float
    }

    /// What the feature does on one dataset.
    public struct View: Codable, Sendable, Equatable {
        public var data: Side
        public var top: [Example]
        public var bands: [Band]
        public var histogram: Histogram
        public var topTokens: [TokenShare]
        /// Features firing on the same tokens, by Jaccard index on the sampled rows.
        public var coFiring: [Neighbour]
        enum CodingKeys: String, CodingKey { case data, top, bands, histogram, topTokens = "top_tokens", coFiring = "co_firing" }
    }

    public struct Record: Codable, Sendable, Equatable {
        public var feature: Int
        public var views: [View]
        /// This SAE's features with the most similar decoder directions (cosine).
        public var nearest: [Neighbour]
        public var promoted: [LogitToken]
        public var suppressed: [LogitToken]

        public func view(on data: Side) -> View? { views.first { $0.data == data } }
    }

    public static func write(header: Header, records: [Record], to path: String) throws {
        guard records.count == header.features, records.enumerated().allSatisfy({ $0.offset == $0.element.feature }) else {
            throw SAEPipeError.runtime("feature store records must be features 0..<\(header.features) in order")
        }
        try IndexedRecordFile.write(header: try JSONFile.encode(header, pretty: false),
                                    records: try records.map { try JSONFile.encode($0, pretty: false) }, to: path)
    }

    /// An opened store: the header, and records read on demand (safe to share between threads).
    public struct Reader: Sendable {
        public let header: Header
        let file: IndexedRecordFile.Reader

        public init(path: String) throws {
            try self.init(file: try IndexedRecordFile.Reader(path: path))
        }

        /// A store's bytes already in memory (`path` names it in errors).
        public init(bytes: Data, path: String) throws {
            try self.init(file: try IndexedRecordFile.Reader(bytes: bytes, path: path))
        }

        init(file: IndexedRecordFile.Reader) throws {
            self.file = file
            let path = file.path
            do {
                header = try JSONDecoder().decode(Header.self, from: file.header)
            } catch {
                throw SAEPipeError.input("the feature store's header is not valid: \(error)", file: path, hint: "rerun the interpret stage")
            }
            guard header.format == FeatureStore.format else {
                throw SAEPipeError.input("the feature store is \(header.format), this saepipe reads \(FeatureStore.format)", file: path,
                                         hint: "rerun the interpret stage")
            }
            guard header.features == file.count else {
                throw SAEPipeError.input("the header lists \(header.features) features but the file holds \(file.count) records", file: path,
                                         hint: "rerun the interpret stage")
            }
        }

        public var features: Int { header.features }

        /// Feature `index`'s record; an index outside the SAE throws.
        public func record(_ index: Int) throws -> Record { try recordAndJSON(index).record }

        /// The record and its JSON as stored (what `saepipe serve` and the export pass on unchanged).
        public func recordAndJSON(_ index: Int) throws -> (record: Record, json: Data) {
            let data = try file.record(index)
            do {
                let record = try JSONDecoder().decode(Record.self, from: data)
                guard record.feature == index else { throw SAEPipeError.input("record \(index) holds feature \(record.feature)", file: file.path) }
                return (record, data)
            } catch let error as SAEPipeError {
                throw error
            } catch {
                throw SAEPipeError.input("feature \(index)'s record is not valid: \(error)", file: file.path, hint: "rerun the interpret stage")
            }
        }
    }
}
