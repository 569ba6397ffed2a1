import Foundation
import SAEPipeCore
import SAEPipeEvents
import SAEPipeSAE

/// The training scalars of metrics.csv as a TensorBoard event file (`tensorboard --logdir
/// outputs/`, `wandb sync --sync-tensorboard`): the step axis is training tokens, as in the
/// figures; wall times are the run's start plus the time the logged rows took.
enum TrainingEvents {
    static let tags: [(TrainingMetrics.Column, String)] = [
        (.loss, "train/loss"), (.mse, "train/mse"), (.l1, "train/l1"), (.l0, "train/l0"), (.fve, "train/fve"),
        (.deadFraction, "train/dead_fraction"), (.lr, "train/lr"), (.lambda, "train/lambda"),
        (.heldoutMSE, "heldout/mse"), (.heldoutL0, "heldout/l0"), (.heldoutFVE, "heldout/fve"),
    ]

    static func steps(_ rows: [TrainingMetrics.Row], started: Date) -> [EventFile.Step] {
        var clock = started.timeIntervalSince1970
        var previousTokens = 0.0
        return rows.compactMap { row in
            guard let tokens = row[.tokens] else { return nil }
            if let rate = row[.tokensPerSecond], rate > 0 { clock += (tokens - previousTokens) / rate }
            previousTokens = tokens
            let scalars = tags.compactMap { column, tag in row[column].map { (tag: tag, value: Float($0)) } }
            return EventFile.Step(step: Int64(tokens), wallTime: clock, scalars: scalars)
        }
    }

    static func write(_ metrics: TrainingMetrics, started: Date, to path: String) throws {
        try FileSystem.writeAtomically(try EventFile.encode(steps(metrics.rows, started: started)), to: path)
    }
}
