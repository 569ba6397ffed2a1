import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels

/// Batched forward passes over windows, keeping the rows the activation set wants.
public enum ActivationCollector {
    /// Writes `acts.mmap` into `directory` and returns each row's index into the window tokens.
    public static func collect(
        model: LanguageModel, windows: TokenWindows, hook: HookPoint, dtype: ActivationStore.DType, batchSize: Int,
        into directory: String, label: String, console: Console = .shared
    ) throws -> [Int32] {
        let d = model.dimensions.dModel
        let writer = try ActivationStore.RowWriter(path: "\(directory)/acts.mmap", dtype: dtype)
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
                                               ForwardRequest(capture: [hook]))
                let rows = result.captured[hook]!
                try rows.withUnsafeBufferPointer { buffer in
                    for (slot, window) in batch.enumerated() {
                        var kept = 0
                        for position in 0..<length where kept < windows.keptCounts[window] {
                            let token = windows.offsets[window] + position
                            if windows.excluded[token] { continue }
                            try writer.append(UnsafeBufferPointer(rebasing: buffer[((slot * length + position) * d)..<((slot * length + position + 1) * d)]))
                            positions.append(Int32(token))
                            kept += 1
                        }
                    }
                }
                progress.advance(by: ids.count)
            }
        }
        progress.finish()
        try writer.close()
        return positions
    }
}
