import Foundation
import SAEPipeCore
import SAEPipeModels

/// The text `saepipe model info` prints.
public enum ModelReport {
    public static func describe(_ model: LanguageModel, tokenizer: Tokenizer?) -> String {
        let d = model.dimensions
        var rows: [(String, String)] = [
            ("path", model.path),
            ("architecture", d.architecture),
            ("format", model.format),
            ("layers", "\(d.layerCount)"),
            ("d_model", "\(d.dModel)"),
            ("attention heads", d.kvHeads == d.heads ? "\(d.heads) × \(d.headDim)" : "\(d.heads) × \(d.headDim) (\(d.kvHeads) key/value heads)"),
            ("mlp width", "\(d.intermediate)"),
            ("vocabulary", "\(d.vocabSize)"),
            ("context", "\(d.maxPositions) positions"),
            ("residual", d.parallelResidual ? "parallel (attention and MLP read the block input)" : "sequential"),
            ("embeddings", d.tiedEmbeddings ? "tied (unembedding = embedding)" : "untied"),
            ("parameters", String(format: "%.1fM (%d)", Double(model.parameterCount) / 1e6, model.parameterCount)),
            ("weight types", model.weightTypes.map { "\($0.type) ×\($0.count)" }.joined(separator: ", ")),
            ("hooks", "layers.{0…\(d.layerCount - 1)}.{resid_pre,attn_out,mlp_out,resid_post}"),
        ]
        if let tokenizer {
            var special: [String] = []
            if let bos = tokenizer.bosTokenId { special.append("bos \(bos)") }
            if let eos = tokenizer.eosTokenId { special.append("eos \(eos)") }
            rows.append(("tokenizer", "byte-level BPE, \(tokenizer.vocabularySize) tokens, pre-tokenizer \(tokenizer.preTokenizer), \(tokenizer.addedTokens.count) added tokens" + (special.isEmpty ? "" : ", " + special.joined(separator: ", "))))
            rows.append(("tokenizer hash", String(tokenizer.fingerprint.prefix(16))))
        } else {
            rows.append(("tokenizer", "none found"))
        }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
