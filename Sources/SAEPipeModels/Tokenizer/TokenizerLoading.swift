import Foundation
import SAEPipeCore
import SAEPipeFormats

extension Tokenizer {
    /// Reads a Hugging Face `tokenizer.json` holding a byte-level BPE model.
    public static func load(tokenizerJSON path: String) throws -> Tokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read tokenizer", file: path)
        }
        func invalid(_ why: String) -> SAEPipeError {
            SAEPipeError.input("unsupported tokenizer.json: \(why)", file: path,
                               hint: "saepipe reads byte-level BPE tokenizers (GPT-2, GPT-NeoX, Llama-3/SmolLM style)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let model = json["model"] as? [String: Any]
        else { throw invalid("not a JSON object with a model") }
        guard (model["type"] as? String) == "BPE" else { throw invalid("model type \(model["type"] ?? "?") is not BPE") }
        guard let vocabulary = model["vocab"] as? [String: Any] else { throw invalid("model has no vocab") }
        let vocab = vocabulary.compactMapValues { ($0 as? NSNumber)?.intValue }
        // Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer ones).
        let merges: [(String, String)] = try (model["merges"] as? [Any] ?? []).map { entry in
            if let text = entry as? String, let space = text.firstIndex(of: " ") {
                return (String(text[..<space]), String(text[text.index(after: space)...]))
            }
            if let pair = entry as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            throw invalid("a merge is neither \"a b\" nor [a, b]")
        }
        let preTokenizer = try preTokenizerKind(json["pre_tokenizer"], invalid: invalid)
        let normalizer = json["normalizer"] as? [String: Any]
        let normalizeNFC: Bool
        switch normalizer?["type"] as? String {
        case nil: normalizeNFC = false
        case "NFC": normalizeNFC = true
        case let other?: throw invalid("normalizer \(other) is not supported (NFC is)")
        }
        let added = (json["added_tokens"] as? [[String: Any]] ?? []).compactMap { entry -> AddedToken? in
            guard let content = entry["content"] as? String, let id = (entry["id"] as? NSNumber)?.intValue else { return nil }
            return AddedToken(content: content, id: id, special: entry["special"] as? Bool ?? false)
        }
        let byContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        let endOfText = byContent["<|endoftext|>"]
        return Tokenizer(
            model: BPEModel(vocabulary: vocab, merges: merges), preTokenizer: preTokenizer,
            normalizeNFC: normalizeNFC, addedTokens: added, bos: endOfText, eos: endOfText,
            fingerprint: Hashing.sha256Hex(data))
    }

    private static func preTokenizerKind(_ value: Any?, invalid: (String) -> SAEPipeError) throws -> PreTokenizer {
        guard let spec = value as? [String: Any], let type = spec["type"] as? String else {
            throw invalid("no pre_tokenizer")
        }
        switch type {
        case "ByteLevel":
            if spec["add_prefix_space"] as? Bool == true { throw invalid("ByteLevel add_prefix_space is not supported") }
            return .gpt2
        case "Sequence":
            // Llama-3/SmolLM style: Split on digits, then ByteLevel.
            let steps = spec["pretokenizers"] as? [[String: Any]] ?? []
            let types = steps.compactMap { $0["type"] as? String }
            if types == ["Digits", "ByteLevel"], steps[0]["individual_digits"] as? Bool == true { return .digitsThenGPT2 }
            throw invalid("pre_tokenizer sequence \(types) is not supported")
        default:
            throw invalid("pre_tokenizer \(type) is not supported")
        }
    }

    /// Reads `tokenizer.ggml.*` from a GGUF file (model `gpt2`, pre-tokenizers `gpt2` and `smollm`).
    public static func load(gguf: GGUFFile) throws -> Tokenizer {
        let meta = gguf.metadata
        func invalid(_ why: String) -> SAEPipeError {
            SAEPipeError.input("unsupported GGUF tokenizer: \(why)", file: gguf.path)
        }
        guard meta["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw invalid("tokenizer.ggml.model is \(meta["tokenizer.ggml.model"]?.string ?? "missing"), not gpt2 (byte-level BPE)")
        }
        let preTokenizer: PreTokenizer
        switch meta["tokenizer.ggml.pre"]?.string ?? "default" {
        case "gpt2", "default", "gpt-2": preTokenizer = .gpt2
        case "smollm", "starcoder", "refact", "codeshell": preTokenizer = .digitsThenGPT2
        case let other: throw invalid("pre-tokenizer \(other) is not supported (gpt2 and smollm are)")
        }
        guard let tokens = meta["tokenizer.ggml.tokens"]?.array?.compactMap(\.string) else {
            throw invalid("no tokenizer.ggml.tokens")
        }
        let merges: [(String, String)] = (meta["tokenizer.ggml.merges"]?.array ?? []).compactMap {
            guard let text = $0.string, let space = text.firstIndex(of: " ") else { return nil }
            return (String(text[..<space]), String(text[text.index(after: space)...]))
        }
        let types = meta["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) ?? []
        var vocabulary: [String: Int] = [:]
        var added: [AddedToken] = []
        for (id, token) in tokens.enumerated() {
            let type = id < types.count ? types[id] : 1
            // llama.cpp token types: 3 control, 4 user-defined — matched whole in text.
            if type == 3 || type == 4 {
                added.append(AddedToken(content: token, id: id, special: type == 3))
            } else if vocabulary[token] == nil {
                vocabulary[token] = id
            }
        }
        var fingerprintSource = tokens.joined(separator: "\n")
        fingerprintSource += merges.map { "\($0.0) \($0.1)" }.joined(separator: "\n")
        return Tokenizer(
            model: BPEModel(vocabulary: vocabulary, merges: merges), preTokenizer: preTokenizer, normalizeNFC: false,
            addedTokens: added, bos: meta["tokenizer.ggml.bos_token_id"]?.int,
            eos: meta["tokenizer.ggml.eos_token_id"]?.int, fingerprint: Hashing.sha256Hex(fingerprintSource))
    }
}
