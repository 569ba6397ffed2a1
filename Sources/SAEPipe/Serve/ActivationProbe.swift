import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels
import SAEPipeSAE

/// Runs a text through a finished run's model to its hook and through each of its SAEs, for
/// `saepipe serve`'s "test your text": the model and the SAEs are loaded once, and passes are
/// serialized (the BLAS library parallelizes each one already).
public final class ActivationProbe: @unchecked Sendable {
    public struct FeatureActivation: Codable, Sendable, Equatable {
        public var sae: String
        public var feature: Int
        public var activation: Double
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Each token's text, as the tokenizer decodes it alone.
        public var tokens: [String]
        /// Per token: each SAE's most active features, strongest first.
        public var features: [[FeatureActivation]]
    }

    public let model: LanguageModel
    public let tokenizer: Tokenizer
    public let hook: HookPoint
    public let saes: [(side: Side, parameters: SAEParameters, activation: SAEActivation)]
    public let prependBOS: Bool
    /// The window length the SAEs were trained on: longer texts are refused.
    public let maxTokens: Int
    private let lock = NSLock()

    public init(runDirectory: String, artifacts: String) throws {
        let manifest = try RunManifest.read(runDirectory: runDirectory)
        let reader = ConfigReader(manifest.config)
        let model = try ModelSettings.read(reader)
        let collect = try CollectSettings.read(reader)
        hook = try model.hookPoint()
        let path = try ModelSource.resolve(model.name, artifacts: artifacts)
        tokenizer = try Tokenizer.load(model: path)
        self.model = try LanguageModel.load(path, scope: .through(hook))
        prependBOS = collect.prependBOS && tokenizer.bosTokenId != nil
        maxTokens = min(collect.seqLen, self.model.dimensions.maxPositions) - (prependBOS ? 1 : 0)
        var saes: [(Side, SAEParameters, SAEActivation)] = []
        for (side, directory) in manifest.entries("saes").sorted(by: { $0.key < $1.key }) {
            guard let side = Side(rawValue: side) else { continue }
            let (parameters, activation) = try SAECheckpoint.readSAELens(directory)
            guard parameters.d == self.model.dimensions.dModel else {
                throw SAEPipeError.input("SAE \(side) reads \(parameters.d)-wide activations but \(hook) is \(self.model.dimensions.dModel) wide",
                                         file: directory, hint: "rerun the run's train stage")
            }
            saes.append((side, parameters, activation))
        }
        guard !saes.isEmpty else {
            throw SAEPipeError.input("the run has no trained SAE", file: runDirectory, hint: "run every stage first: `saepipe run CONFIG`")
        }
        self.saes = saes
    }

    /// The text's tokens and, per token, each SAE's `perSAE` most active features.
    public func run(_ text: String, perSAE: Int = 10) throws -> Result {
        let ids = tokenizer.encode(text).map(Int32.init)
        guard ids.count <= maxTokens else { throw TooLong(tokens: ids.count, limit: maxTokens) }
        guard !ids.isEmpty else { return Result(tokens: [], features: []) }
        let input = (prependBOS ? [Int32(tokenizer.bosTokenId!)] : []) + ids
        let skip = input.count - ids.count
        lock.lock()
        defer { lock.unlock() }
        let captured = try model.forward(TokenBatch(ids: input, batch: 1, seqLen: input.count), ForwardRequest(capture: [hook])).captured[hook]!
        let d = model.dimensions.dModel
        var features = [[FeatureActivation]](repeating: [], count: ids.count)
        for (side, parameters, activation) in saes {
            let workspace = SAEWorkspace(batch: ids.count, d: d, features: parameters.features)
            var inputs = Array(captured[(skip * d)...])
            _ = inputs.withUnsafeMutableBufferPointer { buffer in
                if parameters.inputNormalization == .layerNorm { InputNormalization.standardize(buffer.baseAddress!, rows: ids.count, d: d) }
                return SAEMath.forward(parameters, buffer.baseAddress!, rows: ids.count, activation: activation, form: .unitNormDecoder,
                                       workspace: workspace)
            }
            let values = workspace.activations
            let F = parameters.features
            for t in 0..<ids.count {
                var best: [(Int, Float)] = []
                for i in 0..<F where values[t * F + i] > 0 {
                    let value = values[t * F + i]
                    if best.count < perSAE || value > best[best.count - 1].1 {
                        best.append((i, value))
                        best.sort { ($0.1, $1.0) > ($1.1, $0.0) }
                        if best.count > perSAE { best.removeLast() }
                    }
                }
                features[t] += best.map { FeatureActivation(sae: side.rawValue, feature: $0.0, activation: (Double($0.1) * 1e4).rounded() / 1e4) }
            }
        }
        return Result(tokens: ids.map { tokenizer.decode([Int($0)]) }, features: features)
    }

    public struct TooLong: Error {
        public var tokens: Int
        public var limit: Int
    }
}
