import Foundation
import SAEPipeCore
import SAEPipeData

/// `saepipe bench train`: the training loop's tokens/s on synthetic activations with
/// sparse structure (each row a few atoms of a hidden dictionary plus noise).
public enum TrainBenchmark {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        /// Mean L0 (active features per token) over the timed steps.
        public var l0: Double
        public var density: Double { l0 / Double(features) }
        public var features: Int
        public var timedSteps: Int
    }

    /// Writes `rows` synthetic activations of width `d` as an activation set in `directory`.
    public static func writeSyntheticActivations(rows: Int, d: Int, atoms: Int, perRow: Int, seed: UInt64, to directory: String) throws {
        var generator = SplitMix64(seed: seed)
        let dictionary = (0..<(atoms * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }
        try FileSystem.createDirectory(directory)
        let writer = try ActivationStore.RowWriter(path: "\(directory)/acts.mmap", dtype: .float32)
        var row = [Float](repeating: 0, count: d)
        for _ in 0..<rows {
            for j in 0..<d { row[j] = Float(generator.nextUnit() - 0.5) * 0.1 }
            for _ in 0..<perRow {
                let atom = Int(generator.next() % UInt64(atoms))
                let magnitude = Float(generator.nextUnit() * 2)
                for j in 0..<d { row[j] += magnitude * dictionary[atom * d + j] }
            }
            try row.withUnsafeBufferPointer { try writer.append($0) }
        }
        try writer.close()
        try ActivationSetMeta(dtype: "float32", rows: rows, width: d, provenance: nil, windows: nil).write(directory: directory)
    }

    public static func run(d: Int, features: Int, batch: Int, steps: Int, warmupSteps: Int, settings base: TrainSettings,
                           console: Console) throws -> Result {
        let directory = NSTemporaryDirectory() + "saepipe-bench-train-\(getpid())"
        defer { FileSystem.remove(directory) }
        try writeSyntheticActivations(rows: batch * 8, d: d, atoms: features, perRow: 20, seed: 1, to: directory)
        let dataset = try ActivationDataset(directory: directory, validationFraction: 0.01, maxValidationRows: batch, seed: 0)
        var settings = base
        settings.dSAE = features
        settings.batchSize = batch
        settings.tokens = (warmupSteps + steps) * batch
        settings.logEvery = 1
        settings.lrDecayFraction = 0
        var trainer = Trainer(dataset: dataset, settings: settings, checkpointDirectory: nil)
        trainer.console = console
        trainer.label = "bench train"
        let result = try trainer.train()
        let timed = result.metrics.rows.suffix(steps)
        let seconds = timed.reduce(0.0) { $0 + Double(batch) / max($1[.tokensPerSecond] ?? 1, 1) }
        let rate = Double(timed.count * batch) / seconds
        let l0 = timed.reduce(0.0) { $0 + ($1[.l0] ?? 0) } / Double(max(timed.count, 1))
        return Result(tokensPerSecond: rate, l0: l0, features: features, timedSteps: timed.count)
    }
}
