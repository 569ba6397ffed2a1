import Foundation
import SAEPipeCore

/// `snapshots.json` in a train entry (`train.snapshots`): each snapshot's held-out metrics and
/// how many features had emerged by then. Written by the train stage, read by viz.
public struct SnapshotsFile: Codable, Sendable, Equatable {
    public static let fileName = "snapshots.json"
    /// The entry's subdirectory holding one SAELens checkpoint per snapshot, named by milestone.
    public static let directory = "snapshots"

    public struct Snapshot: Codable, Sendable, Equatable {
        public var milestone: Int
        /// Tokens trained on when it was taken (whole batches: at or just past the milestone).
        public var trainedTokens: Int
        public var step: Int
        public var evaluation: SAEEvaluation
        /// Features that have fired on a held-out row at this snapshot or an earlier one.
        public var alive: Int
        /// Features that fire in the final SAE whose decoder direction is already within
        /// `settled_cosine` of its final one.
        public var settled: Int

        public init(milestone: Int, trainedTokens: Int, step: Int, evaluation: SAEEvaluation, alive: Int, settled: Int) {
            (self.milestone, self.trainedTokens, self.step, self.evaluation) = (milestone, trainedTokens, step, evaluation)
            (self.alive, self.settled) = (alive, settled)
        }

        enum CodingKeys: String, CodingKey {
            case milestone, trainedTokens = "trained_tokens", step, evaluation, alive, settled
        }
    }

    public var features: Int
    public var settledCosine: Double
    public var snapshots: [Snapshot]

    public init(features: Int, settledCosine: Double, snapshots: [Snapshot]) {
        (self.features, self.settledCosine, self.snapshots) = (features, settledCosine, snapshots)
    }

    enum CodingKeys: String, CodingKey { case features, settledCosine = "settled_cosine", snapshots }

    public static func read(_ path: String) throws -> SnapshotsFile {
        try JSONFile.read(SnapshotsFile.self, from: path, hint: "rerun the train stage")
    }
}

/// When each feature emerged during training: the first snapshot at which it fires on held-out
/// rows, and the first at which its decoder direction is within a cosine of its final one. A
/// feature that never fires in the final SAE gets no settled milestone: it got no gradient, so
/// its direction "settles" at initialization and says nothing about learning.
public enum FeatureEmergence {
    /// The cosine to the final decoder direction that counts as settled.
    public static let settledCosine = 0.9
    public static let fileName = "emergence.csv"

    public struct Feature: Sendable, Equatable {
        /// Milestones (nil: not by the last snapshot).
        public var aliveAt: Int?
        public var settledAt: Int?
    }

    /// One snapshot's weights and held-out firing frequencies, in milestone order.
    public struct Input: Sendable {
        public var milestone: Int
        public var parameters: SAEParameters
        public var frequencies: [Double]
        public init(milestone: Int, parameters: SAEParameters, frequencies: [Double]) {
            (self.milestone, self.parameters, self.frequencies) = (milestone, parameters, frequencies)
        }
    }

    public static func compute(final: SAEParameters, finalFrequencies: [Double], snapshots: [Input]) -> [Feature] {
        let (d, count) = (final.d, final.features)
        var features = [Feature](repeating: Feature(), count: count)
        let finalNorms = final.decoderNorms()
        for snapshot in snapshots.sorted(by: { $0.milestone < $1.milestone }) {
            let norms = snapshot.parameters.decoderNorms()
            for i in 0..<count {
                if features[i].aliveAt == nil, snapshot.frequencies[i] > 0 { features[i].aliveAt = snapshot.milestone }
                guard features[i].settledAt == nil, finalFrequencies[i] > 0, norms[i] > 0, finalNorms[i] > 0 else { continue }
                var dot: Float = 0
                for j in 0..<d { dot += snapshot.parameters.wDec[i * d + j] * final.wDec[i * d + j] }
                if Double(dot / (norms[i] * finalNorms[i])) >= settledCosine { features[i].settledAt = snapshot.milestone }
            }
        }
        return features
    }

    /// `emergence.csv`: feature,alive_at,settled_at (empty: not by the last snapshot).
    public static func csv(_ features: [Feature]) -> String {
        "feature,alive_at,settled_at\n" + features.enumerated().map { index, feature in
            "\(index),\(feature.aliveAt.map(String.init) ?? ""),\(feature.settledAt.map(String.init) ?? "")"
        }.joined(separator: "\n") + "\n"
    }
}
