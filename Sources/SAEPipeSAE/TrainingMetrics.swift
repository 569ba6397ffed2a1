import Foundation
import SAEPipeCore

/// `metrics.csv` (docs/formats.md): one row every `train.log_every` steps. Written by the
/// trainer, read by the figures; the columns are this type's, in this order.
public struct TrainingMetrics: Sendable, Equatable {
    public static let fileName = "metrics.csv"

    public enum Column: String, CaseIterable, Sendable {
        case step, tokens, loss, mse, l1, l0, fve, deadFraction = "dead_fraction", lr, lambda
        /// On the held-out rows, at validation steps only (empty otherwise).
        case heldoutMSE = "heldout_mse", heldoutL0 = "heldout_l0", heldoutFVE = "heldout_fve"
        case tokensPerSecond = "tokens_per_s"
    }

    public static var header: String { Column.allCases.map(\.rawValue).joined(separator: ",") }

    /// Rows as written; a checkpoint keeps them so a resumed run writes the same bytes.
    public var lines: [String]

    public init(lines: [String] = []) { self.lines = lines }

    /// Loss, l1 and λ as optimized (on scaled activations); mse in raw activation units; the
    /// training columns are the batch's, the held-out ones (when given) on the held-out rows.
    public static func line(step: Int, tokens: Int, loss: Double, mse: Double, l1: Double, l0: Double, fve: Double,
                            deadFraction: Double, lr: Double, lambda: Double, heldOut: SAEEvaluation? = nil,
                            tokensPerSecond: Double) -> String {
        let format = { (value: Double) in String(format: "%.6g", value) }
        let held = heldOut.map { [format($0.mse), format($0.l0), format($0.fve)] } ?? ["", "", ""]
        return (["\(step)", "\(tokens)", format(loss), format(mse), format(l1), format(l0), format(fve), format(deadFraction),
                 format(lr), format(lambda)] + held + [String(format: "%.0f", tokensPerSecond)]).joined(separator: ",")
    }

    public func csv() -> String { ([Self.header] + lines).joined(separator: "\n") + "\n" }

    /// One parsed row.
    public struct Row: Sendable {
        var values: [Column: Double]
        public subscript(column: Column) -> Double? { values[column] }
    }

    /// Reads a metrics.csv; a header other than this type's is an error naming the file.
    public static func read(_ path: String) throws -> [Row] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SAEPipeError.input("cannot read \(fileName)", file: path, hint: "rerun the train stage")
        }
        let lines = text.split(whereSeparator: \.isNewline)
        guard lines.first.map(String.init) == header else {
            throw SAEPipeError.input("\(fileName) has columns other than \(header)", file: path, hint: "rerun the train stage")
        }
        return TrainingMetrics(lines: lines.dropFirst().map(String.init)).rows
    }

    /// The rows, parsed.
    public var rows: [Row] {
        lines.map { line in
            var values: [Column: Double] = [:]
            for (column, value) in zip(Column.allCases, line.split(separator: ",", omittingEmptySubsequences: false)) {
                values[column] = Double(value)
            }
            return Row(values: values)
        }
    }
}

/// `validation.json`: the held-out metrics of a trained SAE.
public struct ValidationSummary: Codable, Sendable, Equatable {
    public static let fileName = "validation.json"
    public var evaluation: SAEEvaluation
    /// The factor training multiplied the activations by (E‖x‖ = √d).
    public var inputScale: Float
    public var steps: Int
    /// Rows the optimizer saw (steps × batch size, repeats counted) and distinct training rows.
    public var trainingTokens: Int
    public var trainingRows: Int

    /// Training tokens over training rows.
    public var passes: Double { Double(trainingTokens) / Double(max(trainingRows, 1)) }

    public init(evaluation: SAEEvaluation, inputScale: Float, steps: Int, trainingTokens: Int, trainingRows: Int) {
        self.evaluation = evaluation
        self.inputScale = inputScale
        self.steps = steps
        self.trainingTokens = trainingTokens
        self.trainingRows = trainingRows
    }

    enum CodingKeys: String, CodingKey { case inputScale = "input_scale", steps, trainingTokens = "training_tokens", trainingRows = "training_rows" }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        evaluation = try SAEEvaluation(from: decoder)
        inputScale = try container.decode(Float.self, forKey: .inputScale)
        steps = try container.decode(Int.self, forKey: .steps)
        trainingTokens = try container.decode(Int.self, forKey: .trainingTokens)
        trainingRows = try container.decode(Int.self, forKey: .trainingRows)
    }

    public func encode(to encoder: Encoder) throws {
        try evaluation.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inputScale, forKey: .inputScale)
        try container.encode(steps, forKey: .steps)
        try container.encode(trainingTokens, forKey: .trainingTokens)
        try container.encode(trainingRows, forKey: .trainingRows)
    }
}
