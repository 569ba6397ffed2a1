import Foundation
import SAEPipeCore
import SAEPipeFormats
import SAEPipeModels

/// `saepipe forward`: token ids in, hooks + last logits + token NLL out as safetensors.
public enum ForwardExport {
    /// Reads `FILE.json`: a list of equal-length lists of token ids.
    public static func readIds(_ path: String) throws -> TokenBatch {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read the ids file", file: path)
        }
        guard let lists = (try? JSONSerialization.jsonObject(with: data)) as? [[Any]] else {
            throw SAEPipeError.input("the ids file is not a JSON list of lists", file: path,
                                     hint: "write e.g. [[12, 5, 99], [7, 3, 41]] (equal lengths), as `saepipe tokenize` prints")
        }
        let sequences = try lists.enumerated().map { index, list in
            try list.map { item -> Int in
                guard let number = item as? NSNumber, let value = Int(exactly: number.doubleValue) else {
                    throw SAEPipeError.input("sequence \(index) holds \(item), not a token id", file: path)
                }
                return value
            }
        }
        do { return try TokenBatch(sequences: sequences) } catch var error as SAEPipeError {
            error.file = path
            throw error
        }
    }

    /// Every id must index the model's vocabulary; the error names the ids file.
    public static func checkVocabulary(_ tokens: TokenBatch, vocabSize: Int, file: String) throws {
        if let (index, id) = tokens.ids.enumerated().first(where: { $0.element < 0 || Int($0.element) >= vocabSize }) {
            throw SAEPipeError.input(
                "sequence \(index / tokens.seqLen), position \(index % tokens.seqLen): token id \(id) is outside the vocabulary (0..<\(vocabSize))",
                file: file, hint: "tokenize with this model's tokenizer (`saepipe tokenize --model …`)")
        }
    }

    /// Runs the model in chunks of `batchSize` sequences and writes every tensor docs/formats.md names.
    public static func run(
        model: LanguageModel, tokens: TokenBatch, hooks: [String], batchSize: Int, to output: String,
        console: Console = .shared
    ) throws -> ForwardResult {
        let points = try hooks.map { try HookPoint(parsing: $0) }
        let (d, vocab, seqLen) = (model.dimensions.dModel, model.dimensions.vocabSize, tokens.seqLen)
        var combined = ForwardResult()
        combined.lastLogits = []
        combined.tokenNLL = []
        let progress = Progress("forward", total: tokens.tokenCount, unit: "tok", console: console)
        for first in stride(from: 0, to: tokens.batch, by: max(1, batchSize)) {
            let count = min(max(1, batchSize), tokens.batch - first)
            let chunk = TokenBatch(ids: Array(tokens.ids[(first * seqLen)..<((first + count) * seqLen)]), batch: count,
                                   seqLen: seqLen)
            let result = try model.forward(chunk, ForwardRequest(capture: Set(points), outputs: [.lastLogits, .tokenNLL]))
            for point in points { combined.captured[point, default: []] += result.captured[point]! }
            combined.lastLogits! += result.lastLogits!
            combined.tokenNLL! += result.tokenNLL!
            progress.advance(by: chunk.tokenCount)
        }
        progress.finish()
        var writer = SafetensorsWriter()
        writer.add("input_ids", int32: tokens.ids, shape: [tokens.batch, seqLen])
        for (name, point) in zip(hooks, points) where !writer.contains(name) {
            writer.add(name, float32: combined.captured[point]!, shape: [tokens.batch, seqLen, d])
        }
        writer.add("last_logits", float32: combined.lastLogits!, shape: [tokens.batch, vocab])
        writer.add("token_nll", float32: combined.tokenNLL!, shape: [tokens.batch, seqLen - 1])
        try writer.write(to: output)
        return combined
    }
}
