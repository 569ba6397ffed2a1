import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels

/// Batched forward passes over windows, keeping the rows the activation set wants.
public enum ActivationCollector {
    /// Writes `acts.mmap` for each hook into its directory (one forward pass serves them all) and
    /// returns each row's index into the window tokens, the same for every hook.
    public static func collect(
        model: LanguageModel, windows: TokenWindows, hooks: [HookPoint], dtype: ActivationStore.DType, batchSize: Int,
        into directories: [String], label: String, console: Console = .shared
    ) throws -> [Int32] {
        precondition(hooks.count == directories.count && !hooks.isEmpty)
        let d = model.dimensions.dModel
        let writers = try directories.map { try ActivationStore.RowWriter(path: "\($0)/acts.mmap", dtype: dtype) }
        var positions: [Int32] = []
        positions.reserveCapacity(windows.activationCount)
        let progress = Progress(label, total: windows.tokens.count, unit: "tok", console: console)
        // Windows of equal length share a batch (all of them, unless documents are kept separate).
        var byLength: [Int: [Int]] = [:]
        for index in 0..<windows.count { byLength[windows.window(index).count, default: []].append(index) }
        for length in byLength.keys.sorted() {
            let members = byLength[length]!
            for start in stride(from: 0, to: members.count, by: batchSize) {
                let batch = Array(members[start..<min(start + batchSize, members.count)])
                let ids = batch.flatMap { windows.window($0) }
                let result = try model.forward(TokenBatch(ids: ids, batch: batch.count, seqLen: length),
                                               ForwardRequest(capture: Set(hooks)))
                let captured = hooks.map { result.captured[$0]! }
                for (slot, window) in batch.enumerated() {
                    var kept = 0
                    for position in 0..<length where kept < windows.keptCounts[window] {
                        let token = windows.offsets[window] + position
                        if windows.excluded[token] { continue }
                        let row = (slot * length + position) * d
                        for (rows, writer) in zip(captured, writers) {
                            try rows.withUnsafeBufferPointer { buffer in
                                try writer.append(UnsafeBufferPointer(rebasing: buffer[row..<(row + d)]))
                            }
                        }
                        positions.append(Int32(token))
                        kept += 1
                    }
                }
                progress.advance(by: ids.count)
            }
        }
        progress.finish()
        for writer in writers { try writer.close() }
        return positions
    }
}
