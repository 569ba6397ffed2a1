import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import SAEPipeSAE

/// The model's next-token loss with the hooked activation left alone, zeroed, or replaced by
/// each SAE's reconstruction (docs/formats.md, "CE loss").
public enum SplicedLoss {
    /// Sums over one window: next-token losses (T − 1 predictions) and the KL divergence of
    /// each intervention's next-token distribution from the clean one (all T positions).
    public struct WindowSums: Sendable, Equatable {
        public var predictions = 0
        public var positions = 0
        public var clean: Double = 0
        public var zero: Double = 0
        public var sae: [Side: Double] = [:]
        public var klZero: Double = 0
        public var klSAE: [Side: Double] = [:]
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

    /// Per-window losses with the hook clean, zeroed, and replaced by each SAE's reconstruction,
    /// and each intervention's KL divergence from the clean distribution; the layers below the
    /// hook run once per batch.
    public static func measure(
        model: LanguageModel, tokens: TokenBatch, hook: HookPoint, saes: [Side: (SAEParameters, SAEActivation)], batchSize: Int,
        progress: SAEPipeCore.Progress? = nil
    ) throws -> [WindowSums] {
        let (seqLen, vocab) = (tokens.seqLen, model.dimensions.vocabSize)
        var windows: [WindowSums] = []
        let start = HookPoint(layer: hook.layer, site: .residPre)
        for first in stride(from: 0, to: tokens.batch, by: batchSize) {
            let n = min(batchSize, tokens.batch - first)
            let batch = TokenBatch(ids: Array(tokens.ids[(first * seqLen)..<((first + n) * seqLen)]), batch: n, seqLen: seqLen)
            let residual = try model.forward(batch, ForwardRequest(capture: [start])).captured[start]!
            func logits(_ intervention: HookIntervention?) throws -> [Float] {
                try model.forward(batch, ForwardRequest(
                    intervene: intervention == nil ? [] : [hook], intervention: intervention, outputs: [.allLogits],
                    startLayer: hook.layer, startResidual: residual)).allLogits!
            }
            let clean = try logits(nil)
            var sums = [WindowSums](repeating: WindowSums(), count: n)
            let (nll, _) = losses(clean, clean: clean, batch: batch, vocab: vocab)
            for w in 0..<n {
                sums[w].clean = nll[w]
                sums[w].predictions = seqLen - 1
                sums[w].positions = seqLen
            }
            let zero = try logits { _, _, buffer in buffer.update(repeating: 0) }
            let (zeroNLL, zeroKL) = losses(zero, clean: clean, batch: batch, vocab: vocab)
            for w in 0..<n { (sums[w].zero, sums[w].klZero) = (zeroNLL[w], zeroKL[w]) }
            for (side, sae) in saes.sorted(by: { $0.key < $1.key }) {
                let (parameters, activation) = sae
                let spliced = try logits { _, _, buffer in
                    _ = SAEMath.reconstructInPlace(parameters, activation: activation, buffer.baseAddress!, rows: buffer.count / parameters.d)
                }
                let (saeNLL, saeKL) = losses(spliced, clean: clean, batch: batch, vocab: vocab)
                for w in 0..<n { (sums[w].sae[side], sums[w].klSAE[side]) = (saeNLL[w], saeKL[w]) }
            }
            windows += sums
            progress?.advance(by: n)
        }
        return windows
    }

    /// Per window: Σ next-token NLL over the first T − 1 positions, and Σ KL(clean ‖ these) over all T.
    static func losses(_ logits: [Float], clean: [Float], batch: TokenBatch, vocab: Int) -> (nll: [Double], kl: [Double]) {
        let (count, seqLen) = (batch.batch, batch.seqLen)
        let nll = UnsafeMutableBufferPointer<Double>.allocate(capacity: count * seqLen)
        let kl = UnsafeMutableBufferPointer<Double>.allocate(capacity: count * seqLen)
        defer { nll.deallocate(); kl.deallocate() }
        logits.withUnsafeBufferPointer { rows in
            clean.withUnsafeBufferPointer { reference in
                nonisolated(unsafe) let (nllOut, klOut) = (nll, kl)
                Parallel.chunks(count * seqLen, minimumChunk: 16) { range in
                    for token in range {
                        let row = rows.baseAddress! + token * vocab
                        let position = token % seqLen
                        nllOut[token] = position < seqLen - 1
                            ? Double(LogProbabilities.negativeLogLikelihood(row, width: vocab, target: Int(batch.ids[token + 1]))) : 0
                        klOut[token] = LogProbabilities.klDivergence(reference.baseAddress! + token * vocab, row, width: vocab)
                    }
                }
            }
        }
        return ((0..<count).map { w in (0..<seqLen).reduce(0.0) { $0 + nll[w * seqLen + $1] } },
                (0..<count).map { w in (0..<seqLen).reduce(0.0) { $0 + kl[w * seqLen + $1] } })
    }
}
