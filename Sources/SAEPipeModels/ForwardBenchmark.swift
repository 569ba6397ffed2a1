import Foundation
import SAEPipeCore

/// Tokens per second of batched forward passes.
public enum ForwardBenchmark {
    public struct Result: Sendable {
        public var tokensPerSecond: Double
        public var medianTokensPerSecond: Double
        public var seconds: [Double]
        public var tokensPerPass: Int
    }

    /// Runs `repeats` timed passes after one warm-up on seeded random ids. With `untilLayer`,
    /// the pass stops at that layer's MLP output (what collect does); otherwise it computes
    /// every layer, the logits and the token NLL.
    public static func run(
        _ model: LanguageModel, batch: Int, seqLen: Int, untilLayer: Int?, repeats: Int
    ) throws -> Result {
        var generator = SplitMix64(seed: 7)
        let vocab = UInt64(model.dimensions.vocabSize)
        let tokens = TokenBatch(ids: (0..<(batch * seqLen)).map { _ in Int32(generator.next() % vocab) },
                                batch: batch, seqLen: seqLen)
        let request = untilLayer.map { ForwardRequest(capture: [HookPoint(layer: $0, site: .mlpOut)]) }
            ?? ForwardRequest(outputs: [.tokenNLL])
        var seconds: [Double] = []
        for run in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try model.forward(tokens, request)
            if run > 0 { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        let sorted = seconds.sorted()
        let count = Double(tokens.tokenCount)
        return Result(tokensPerSecond: count / sorted[0], medianTokensPerSecond: count / sorted[sorted.count / 2],
                      seconds: seconds, tokensPerPass: tokens.tokenCount)
    }
}
