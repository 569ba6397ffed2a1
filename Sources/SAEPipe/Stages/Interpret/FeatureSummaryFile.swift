import Foundation
import SAEPipeCore

/// `features/<sae>_on_<data>.json` (docs/formats.md): every feature of one SAE on one dataset.
/// Written by interpret; read by the figures, the report and the feature browser. The contexts
/// themselves, as token ids with per-token activations, are in `FeatureStore`'s file.
public struct FeatureSummaryFile: Codable, Sendable, Equatable {
    public static func fileName(sae: Side, data: Side) -> String { "\(sae)_on_\(data).json" }

    public struct TokenShare: Codable, Sendable, Equatable {
        public var token: String
        public var share: Double
    }

    public struct Bigram: Codable, Sendable, Equatable {
        public var text: String
        public var share: Double
    }

    /// A feature's measured effect (docs/formats.md).
    public struct Ablation: Codable, Sendable, Equatable {
        public var meanLossChange: Double
        public var contexts: Int
        enum CodingKeys: String, CodingKey { case meanLossChange = "mean_loss_change", contexts }
    }

    public struct Feature: Codable, Sendable, Equatable {
        public var feature: Int
        /// The class, then what this dataset's top contexts share.
        public var label: String
        /// dead, `<label>-selective` or shared (dead or active in a one-dataset run).
        public var featureClass: String
        public var frequency: Double
        public var meanActivation: Double
        public var maxActivation: Double
        /// The selectivity fields are null in a one-dataset run (nothing to compare with).
        @EncodedAsNull public var selectivity: Double?
        @EncodedAsNull public var selectivityNormalized: Double?
        /// The effect size behind the class: log2(mean on A / mean on B), ±20 when one is zero.
        @EncodedAsNull public var selectivityLog2Ratio: Double?
        public var topTokens: [TokenShare]
        @EncodedAsNull public var topBigram: Bigram?
        /// On the SAE's own dataset, for the notable features; null elsewhere.
        @EncodedAsNull public var ablation: Ablation?

        enum CodingKeys: String, CodingKey {
            case feature, label, featureClass = "class", frequency, meanActivation = "mean_activation", maxActivation = "max_activation", selectivity
            case selectivityNormalized = "selectivity_normalized", selectivityLog2Ratio = "selectivity_log2_ratio"
            case topTokens = "top_tokens", topBigram = "top_bigram"
            case ablation
        }
    }

    public var sae: Side
    public var dataset: Side
    public var datasetLabel: String
    public var features: [Feature]
    /// Tokens (activation rows) of the dataset.
    public var tokens: Int
    /// What the fields mean, for a reader of the file.
    public var notes: [String: String]

    enum CodingKeys: String, CodingKey { case sae, dataset, datasetLabel = "dataset_label", features, tokens, notes }

    public static func read(_ path: String) throws -> FeatureSummaryFile {
        try JSONFile.read(FeatureSummaryFile.self, from: path, hint: "rerun the interpret stage")
    }
}
