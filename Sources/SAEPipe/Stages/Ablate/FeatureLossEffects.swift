import Foundation
import SAEPipeCore
import SAEPipeModels
import SAEPipeSAE

/// The change in next-token loss over whole windows when one feature is left out of an SAE's
/// spliced-in reconstruction: every predicted token counts, not only where the feature fires.
public enum FeatureLossEffects {
    /// One predicted token: how much worse (nats) it got without the feature.
    public struct Token: Sendable, Equatable {
        public var window: Int
        /// The position predicted (1…T−1 in its window).
        public var position: Int
        public var lossChange: Double
    }

    public struct Effect: Sendable {
        /// Per window: the mean loss change over its predicted tokens.
        public var windowMeans: [Double]
        public var predictions: Int
        /// The tokens whose loss rose most, largest first (none when none rose).
        public var topTokens: [Token]
        public var meanLossChange: Double { windowMeans.isEmpty ? 0 : windowMeans.reduce(0, +) / Double(windowMeans.count) }
    }

    /// Effects of `features` of `sae` over every window of `tokens`; the layers below the hook run
    /// once per batch, the reconstruction without the feature once per feature.
    public static func measure(
        model: LanguageModel, hook: HookPoint, sae: SAEParameters, activation: SAEActivation, features: [Int], tokens: TokenBatch,
        batchSize: Int, keepTokens: Int, progress: SAEPipeCore.Progress? = nil
    ) throws -> [Int: Effect] {
        let start = HookPoint(layer: hook.layer, site: .residPre)
        let seqLen = tokens.seqLen
        var effects = Dictionary(uniqueKeysWithValues: features.map { ($0, Effect(windowMeans: [], predictions: 0, topTokens: [])) })
        for first in stride(from: 0, to: tokens.batch, by: batchSize) {
            let n = min(batchSize, tokens.batch - first)
            let batch = TokenBatch(ids: Array(tokens.ids[(first * seqLen)..<((first + n) * seqLen)]), batch: n, seqLen: seqLen)
            let residual = try model.forward(batch, ForwardRequest(capture: [start])).captured[start]!
            func losses(removing feature: Int?) throws -> [Float] {
                try model.forward(batch, ForwardRequest(
                    intervene: [hook], intervention: { _, _, buffer in
                        _ = SAEMath.reconstructInPlace(sae, activation: activation, buffer.baseAddress!, rows: buffer.count / sae.d,
                                                       removing: feature)
                    }, outputs: [.tokenNLL], startLayer: hook.layer, startResidual: residual)).tokenNLL!
            }
            let spliced = try losses(removing: nil)
            for feature in features {
                let without = try losses(removing: feature)
                var effect = effects[feature]!
                for w in 0..<n {
                    var sum = 0.0
                    for p in 0..<(seqLen - 1) {
                        let change = Double(without[w * (seqLen - 1) + p]) - Double(spliced[w * (seqLen - 1) + p])
                        sum += change
                        if change > 0 { effect.topTokens.append(Token(window: first + w, position: p + 1, lossChange: change)) }
                    }
                    effect.windowMeans.append(sum / Double(seqLen - 1))
                    effect.predictions += seqLen - 1
                }
                effect.topTokens.sort { ($0.lossChange, $1.window, $1.position) > ($1.lossChange, $0.window, $0.position) }
                effect.topTokens = Array(effect.topTokens.prefix(keepTokens))
                effects[feature] = effect
                progress?.advance()
            }
        }
        return effects
    }
}
