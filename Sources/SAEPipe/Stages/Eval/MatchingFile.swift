import Foundation
import SAEPipeCore
import SAEPipeSAE

/// `matching.json` (docs/formats.md): for every feature of each SAE, its closest feature in the
/// other SAE by decoder cosine and its partner in the one-to-one matching. Written by eval
/// (two-dataset runs only); read by viz and the feature pages.
public struct MatchingFile: Codable, Sendable, Equatable {
    public static let fileName = "matching.json"

    public struct Feature: Codable, Sendable, Equatable {
        public var feature: Int
        /// The other SAE's feature with the highest decoder cosine, and that cosine.
        public var best: Int
        public var bestCosine: Double
        /// Its partner in the one-to-one matching; null when the other dictionary is smaller and left it out.
        @EncodedAsNull public var matched: Int?
        @EncodedAsNull public var matchedCosine: Double?

        enum CodingKeys: String, CodingKey {
            case feature, best, bestCosine = "best_cosine", matched, matchedCosine = "matched_cosine"
        }
    }

    public var threshold: Double
    /// SAE A's features against SAE B, and B's against A.
    public var a: [Feature]
    public var b: [Feature]

    public init(_ matching: FeatureMatching, threshold: Double) {
        self.threshold = threshold
        var partnerOfA: [Int: (Int, Float)] = [:], partnerOfB: [Int: (Int, Float)] = [:]
        for pair in matching.pairs {
            partnerOfA[pair.first] = (pair.second, pair.cosine)
            partnerOfB[pair.second] = (pair.first, pair.cosine)
        }
        // Cosines kept to 6 decimals: the file stays small and reads the same everywhere.
        let rounded = { (x: Float) in (Double(x) * 1e6).rounded() / 1e6 }
        a = matching.bestForward.enumerated().map { index, best in
            Feature(feature: index, best: best.feature, bestCosine: rounded(best.cosine), matched: partnerOfA[index]?.0,
                    matchedCosine: partnerOfA[index].map { rounded($0.1) })
        }
        b = matching.bestBackward.enumerated().map { index, best in
            Feature(feature: index, best: best.feature, bestCosine: rounded(best.cosine), matched: partnerOfB[index]?.0,
                    matchedCosine: partnerOfB[index].map { rounded($0.1) })
        }
    }

    public func features(of side: Side) -> [Feature] { side == .A ? a : b }

    public func write(to directory: String) throws {
        try JSONFile.write(self, to: "\(directory)/\(MatchingFile.fileName)", pretty: false)
    }

    public static func read(_ path: String) throws -> MatchingFile {
        try JSONFile.read(MatchingFile.self, from: path, hint: "rerun the eval stage (`saepipe run CONFIG --force eval`)")
    }
}
