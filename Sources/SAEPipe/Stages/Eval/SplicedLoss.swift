import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import SAEPipeSAE

/// The model's next-token loss with the hooked activation left alone, zeroed, or replaced by
/// each SAE's reconstruction (docs/formats.md, "CE loss").
public enum SplicedLoss {
    public struct Losses: Sendable {
        public var clean: Double
        public var zero: Double
        public var sae: [Side: Double]
    }

    /// Up to `count` full-length held-out windows of a collected dataset (the windows training
    /// held out), in a seeded order.
    public static func heldOutWindows(_ directory: String, count: Int, seed: UInt64, heldOut: [Int]) throws -> TokenBatch {
        let meta = try ActivationSetMeta.read(directory: directory)
        guard let windows = meta.windows else {
            throw SAEPipeError.input("activation metadata lacks sequence_offsets", file: "\(directory)/\(ActivationSetMeta.fileName)",
                                     hint: "rerun the collect stage")
        }
        let (offsets, seqLen) = (windows.sequenceOffsets, windows.seqLen)
        let tokens = try ActivationStore.readInt32("\(directory)/\(windows.tokens.file)")
        var full = heldOut.filter { offsets[$0 + 1] - offsets[$0] == seqLen }
        guard !full.isEmpty else {
            throw SAEPipeError.input("no full-length held-out window to evaluate the loss on", file: directory,
                                     hint: "raise train.validation_fraction")
        }
        var generator = SplitMix64(seed: seed ^ 0xE7A1)
        for i in stride(from: full.count - 1, to: 0, by: -1) { full.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        let chosen = full.prefix(count)
        return TokenBatch(ids: chosen.flatMap { tokens[offsets[$0]..<offsets[$0 + 1]] }, batch: chosen.count, seqLen: seqLen)
    }

    /// Mean next-token loss with the hook clean, zeroed, and replaced by each SAE's
    /// reconstruction; the layers below the hook run once per batch.
    public static func measure(
        model: LanguageModel, tokens: TokenBatch, hook: HookPoint, saes: [Side: (SAEParameters, SAEActivation)], batchSize: Int
    ) throws -> Losses {
        var totals: [String: Double] = [:]
        var count = 0
        let start = HookPoint(layer: hook.layer, site: .residPre)
        for first in stride(from: 0, to: tokens.batch, by: batchSize) {
            let n = min(batchSize, tokens.batch - first)
            let batch = TokenBatch(ids: Array(tokens.ids[(first * tokens.seqLen)..<((first + n) * tokens.seqLen)]), batch: n, seqLen: tokens.seqLen)
            let below = try model.forward(batch, ForwardRequest(capture: [start]))
            let residual = below.captured[start]!
            func loss(_ intervention: HookIntervention?) throws -> [Float] {
                try model.forward(batch, ForwardRequest(
                    intervene: intervention == nil ? [] : [hook], intervention: intervention, outputs: [.tokenNLL],
                    startLayer: hook.layer, startResidual: residual)).tokenNLL!
            }
            var runs: [(String, [Float])] = [("clean", try loss(nil)), ("zero", try loss { _, _, buffer in buffer.update(repeating: 0) })]
            for (side, sae) in saes.sorted(by: { $0.key < $1.key }) {
                let (parameters, activation) = sae
                runs.append((side.rawValue, try loss { _, _, buffer in
                    _ = SAEMath.reconstructInPlace(parameters, activation: activation, buffer.baseAddress!, rows: buffer.count / parameters.d)
                }))
            }
            for (name, values) in runs { totals[name, default: 0] += values.reduce(0.0) { $0 + Double($1) } }
            count += n * (tokens.seqLen - 1)
        }
        let mean = { (name: String) in totals[name]! / Double(max(count, 1)) }
        return Losses(clean: mean("clean"), zero: mean("zero"),
                      sae: Dictionary(uniqueKeysWithValues: saes.keys.map { ($0, mean($0.rawValue)) }))
    }
}
