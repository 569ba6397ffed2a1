import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeSAE

/// `saepipe sae-metrics`: any SAELens-format SAE (saepipe's own, or one trained elsewhere, read
/// as `sae.load` reads it) scored on an activation set's held-out rows, or on all of them, so
/// SAEs from different tools are compared on identical data.
public enum SAEMetrics {
    public enum Rows: String, CaseIterable, Sendable {
        /// The train stage's held-out windows (its default split and the given seed).
        case heldOut = "held-out"
        case all
    }

    /// What `--json` writes.
    public struct Report: Codable, Sendable {
        public var sae: String
        public var architecture: String
        public var features: Int
        public var rows: Int
        public var which: String
        public var fve: Double
        public var l0: Double
        public var mse: Double
        /// Features that never fire on these rows.
        public var deadFraction: Double

        enum CodingKeys: String, CodingKey {
            case sae, architecture, features, rows, which, fve, l0, mse, deadFraction = "dead_fraction"
        }
    }

    public static func measure(sae directory: String, activations: String, rows which: Rows, seed: UInt64) throws -> Report {
        let imported = try SAELensImport.read(directory)
        let settings = TrainSettings.defaults
        // A layer_norm SAE is measured on the standardized vectors it reconstructs.
        let dataset = try ActivationDataset(directory: activations, split: settings.validation, seed: seed,
                                            normalization: imported.parameters.inputNormalization)
        guard imported.parameters.d == dataset.d else {
            throw SAEPipeError.input("the SAE reads \(imported.parameters.d)-wide activations; these are \(dataset.d) wide",
                                     file: "\(directory)/cfg.json")
        }
        let rows = which == .heldOut ? dataset.validation : Array(0..<dataset.rows)
        let e = SAEEvaluator.analyze(imported.parameters, activation: imported.activation, dataset: dataset, rows: rows,
                                     batchSize: settings.batchSize).evaluation
        return Report(sae: directory, architecture: imported.architecture, features: imported.parameters.features, rows: rows.count,
                      which: which.rawValue, fve: e.fve, l0: e.l0, mse: e.mse, deadFraction: e.deadFraction)
    }
}
