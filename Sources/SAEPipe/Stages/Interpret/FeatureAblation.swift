import Foundation
import SAEPipeCore
import SAEPipeModels
import SAEPipeSAE

/// A feature's measured effect on the model: the change in next-token loss at its top
/// contexts' activating positions when it is removed from the spliced-in reconstruction.
public enum FeatureAblation {
    public struct Effect: Sendable, Equatable {
        /// Mean of NLL(without the feature) − NLL(with it), nats; positive: the feature helps predict.
        public var meanLossChange: Double
        public var contexts: Int
    }

    /// One context: a window of token ids and the activating position in it.
    public struct Context: Sendable {
        public var tokens: [Int32]
        public var position: Int
        public init(tokens: [Int32], position: Int) { (self.tokens, self.position) = (tokens, position) }
    }

    /// Effects of `features`, each on up to `contexts` of its top activating rows.
    static func measure(
        model: LanguageModel, hook: HookPoint, sae: SAEParameters, activation: SAEActivation, source: ContextSource,
        top: [Int: [FeatureStatistics.Example]], features: [Int], contexts: Int, progress: SAEPipeCore.Progress? = nil
    ) throws -> [Int: Effect] {
        var windows: [Int: [Context]] = [:]
        for feature in features {
            windows[feature] = (top[feature] ?? []).prefix(contexts).map { example in
                let index = Int(source.positions[example.row])
                let window = source.window(containing: index)
                return Context(tokens: Array(source.tokens[window]), position: index - window.lowerBound)
            }
        }
        return try measure(model: model, hook: hook, sae: sae, activation: activation, contexts: windows, progress: progress)
    }

    /// Each feature's effect over its contexts; a feature's windows of one length run as one
    /// batch, with and without the feature, the layers below the hook once.
    public static func measure(
        model: LanguageModel, hook: HookPoint, sae: SAEParameters, activation: SAEActivation, contexts: [Int: [Context]],
        progress: SAEPipeCore.Progress? = nil
    ) throws -> [Int: Effect] {
        let start = HookPoint(layer: hook.layer, site: .residPre)
        var effects: [Int: Effect] = [:]
        for (feature, featureContexts) in contexts.sorted(by: { $0.key < $1.key }) {
            defer { progress?.advance() }
            var byLength: [Int: [Context]] = [:]
            for context in featureContexts where context.tokens.count >= 2 && context.position < context.tokens.count - 1 {
                byLength[context.tokens.count, default: []].append(context)
            }
            var changes: [Double] = []
            for (length, members) in byLength.sorted(by: { $0.key < $1.key }) {
                let batch = TokenBatch(ids: members.flatMap(\.tokens), batch: members.count, seqLen: length)
                let residual = try model.forward(batch, ForwardRequest(capture: [start])).captured[start]!
                func losses(removing: Int?) throws -> [Float] {
                    try model.forward(batch, ForwardRequest(
                        intervene: [hook], intervention: { _, _, buffer in
                            _ = SAEMath.reconstructInPlace(sae, activation: activation, buffer.baseAddress!, rows: buffer.count / sae.d,
                                                           removing: removing)
                        }, outputs: [.tokenNLL], startLayer: hook.layer, startResidual: residual)).tokenNLL!
                }
                let (with, without) = (try losses(removing: nil), try losses(removing: feature))
                for (slot, member) in members.enumerated() {
                    let index = slot * (length - 1) + member.position
                    changes.append(Double(without[index]) - Double(with[index]))
                }
            }
            if !changes.isEmpty {
                effects[feature] = Effect(meanLossChange: changes.reduce(0, +) / Double(changes.count), contexts: changes.count)
            }
        }
        return effects
    }
}
