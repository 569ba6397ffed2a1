import Foundation
import SAEPipeCore
import SAEPipeModels
import SAEPipeSAE

/// A feature's measured effect on the model: the change in next-token loss at its top
/// contexts' activating positions when it is removed from the spliced-in reconstruction.
enum FeatureAblation {
    struct Effect: Sendable, Equatable {
        /// Mean of NLL(without the feature) − NLL(with it), nats; positive: the feature helps predict.
        var meanLossChange: Double
        var contexts: Int
    }

    /// Effects of `features`, each on up to `contexts` of its top activating rows.
    static func measure(
        model: LanguageModel, hook: HookPoint, sae: SAEParameters, activation: SAEActivation, source: ContextSource,
        top: [Int: [FeatureStatistics.Example]], features: [Int], contexts: Int
    ) throws -> [Int: Effect] {
        var baseline: [Range<Int>: (residual: [Float], nll: [Float])] = [:]
        let start = HookPoint(layer: hook.layer, site: .residPre)
        func windowBatch(_ window: Range<Int>) -> TokenBatch {
            TokenBatch(ids: Array(source.tokens[window]), batch: 1, seqLen: window.count)
        }
        func losses(_ window: Range<Int>, residual: [Float], removing feature: Int?) throws -> [Float] {
            try model.forward(windowBatch(window), ForwardRequest(
                intervene: [hook], intervention: { _, _, buffer in
                    _ = SAEMath.reconstructInPlace(sae, activation: activation, buffer.baseAddress!, rows: buffer.count / sae.d,
                                                   removing: feature)
                }, outputs: [.tokenNLL], startLayer: hook.layer, startResidual: residual)).tokenNLL!
        }
        var effects: [Int: Effect] = [:]
        for feature in features {
            var changes: [Double] = []
            for example in (top[feature] ?? []).prefix(contexts) {
                let index = Int(source.positions[example.row])
                let window = source.window(containing: index)
                let position = index - window.lowerBound
                guard window.count >= 2, position < window.count - 1 else { continue }
                if baseline[window] == nil {
                    let residual = try model.forward(windowBatch(window), ForwardRequest(capture: [start])).captured[start]!
                    baseline[window] = (residual, try losses(window, residual: residual, removing: nil))
                }
                let (residual, with) = baseline[window]!
                let without = try losses(window, residual: residual, removing: feature)
                changes.append(Double(without[position]) - Double(with[position]))
            }
            if !changes.isEmpty {
                effects[feature] = Effect(meanLossChange: changes.reduce(0, +) / Double(changes.count), contexts: changes.count)
            }
        }
        return effects
    }
}
