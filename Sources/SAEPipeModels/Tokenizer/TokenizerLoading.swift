import Foundation
import SAEPipeCore
import SAEPipeFormats

extension Tokenizer {
    /// Reads a Hugging Face `tokenizer.json` holding a byte-level BPE model.
    public static func load(tokenizerJSON path: String) throws -> Tokenizer {
        guard FileSystem.isRegularFile(path), let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read tokenizer (not a readable regular file)", file: path)
        }
        return try load(tokenizerJSON: data, path: path)
    }

    /// Parses the bytes of a `tokenizer.json`; `path` names it in errors.
    public static func load(tokenizerJSON data: Data, path: String) throws -> Tokenizer {
        func invalid(_ why: String) -> SAEPipeError {
            SAEPipeError.input("unsupported tokenizer.json: \(why)", file: path,
                               hint: "saepipe reads byte-level BPE tokenizers (GPT-2, GPT-NeoX, Llama-3/SmolLM style)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let model = json["model"] as? [String: Any]
        else { throw invalid("not a JSON object with a model") }
        guard (model["type"] as? String) == "BPE" else { throw invalid("model type \(model["type"] ?? "?") is not BPE") }
        guard let vocabulary = model["vocab"] as? [String: Any] else { throw invalid("model has no vocab") }
        var vocab: [String: Int] = [:]
        for (token, value) in vocabulary {
            guard let id = exactInteger(value) else { throw invalid("vocab entry \(quoted(token)) has id \(value), not an integer") }
            vocab[token] = id
        }
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
        let added = try (json["added_tokens"] as? [[String: Any]] ?? []).map { entry -> AddedToken in
            guard let content = entry["content"] as? String, !content.isEmpty, let id = entry["id"].flatMap(exactInteger) else {
                throw invalid("an added token lacks a non-empty content or an integer id")
            }
            return AddedToken(content: content, id: id, special: entry["special"] as? Bool ?? false)
        }
        let byContent = Dictionary(added.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        let endOfText = byContent["<|endoftext|>"]
        try TokenizerChecks(vocabulary: vocab, merges: merges, added: added, invalid: invalid).run()
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
        guard let tokenValues = meta["tokenizer.ggml.tokens"]?.array else { throw invalid("no tokenizer.ggml.tokens") }
        let tokens = tokenValues.compactMap(\.string)
        guard tokens.count == tokenValues.count else { throw invalid("tokenizer.ggml.tokens holds values that are not strings") }
        let merges: [(String, String)] = try (meta["tokenizer.ggml.merges"]?.array ?? []).map {
            guard let text = $0.string, let space = text.firstIndex(of: " ") else {
                throw invalid("a tokenizer.ggml.merges entry is not \"a b\"")
            }
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
        let bos = meta["tokenizer.ggml.bos_token_id"]?.int, eos = meta["tokenizer.ggml.eos_token_id"]?.int
        for (key, id) in [("bos", bos), ("eos", eos)] {
            if let id, !tokens.indices.contains(id) { throw invalid("tokenizer.ggml.\(key)_token_id \(id) is outside the \(tokens.count)-token vocabulary") }
        }
        try TokenizerChecks(vocabulary: vocabulary, merges: merges, added: added, invalid: invalid).run()
        var fingerprintSource = tokens.joined(separator: "\n")
        fingerprintSource += merges.map { "\($0.0) \($0.1)" }.joined(separator: "\n")
        return Tokenizer(
            model: BPEModel(vocabulary: vocabulary, merges: merges), preTokenizer: preTokenizer, normalizeNFC: false,
            addedTokens: added, bos: bos, eos: eos, fingerprint: Hashing.sha256Hex(fingerprintSource))
    }
}

/// JSON numbers that are whole and fit an Int (1.5, 1e300 and strings are not ids).
func exactInteger(_ value: Any) -> Int? {
    if let number = value as? Int { return number }
    if let number = value as? Double, number.rounded() == number, abs(number) < 1e15 { return Int(number) }
    return nil
}

private func quoted(_ token: String) -> String { "`\(token.prefix(40))`" }

/// What a byte-level BPE vocabulary must satisfy before it is used: ids in range and
/// dense enough to index, the bytes of plain text present (or it would be dropped silently), and
/// merges that name known tokens, as Hugging Face tokenizers require.
struct TokenizerChecks {
    let vocabulary: [String: Int]
    let merges: [(String, String)]
    let added: [Tokenizer.AddedToken]
    let invalid: (String) -> SAEPipeError

    /// Real vocabularies reach ~260k tokens; ids past this are corrupt, not large.
    static let maximumId = 1 << 22

    func run() throws {
        guard !vocabulary.isEmpty else { throw invalid("the vocabulary is empty") }
        let entries = vocabulary.count + added.count
        for (token, id) in vocabulary where id < 0 || id >= min(entries, TokenizerChecks.maximumId) {
            throw invalid("token \(quoted(token)) has id \(id), outside 0..<\(min(entries, TokenizerChecks.maximumId)) for \(entries) entries")
        }
        for token in added where token.id < 0 || token.id >= TokenizerChecks.maximumId {
            throw invalid("added token \(quoted(token.content)) has id \(token.id), outside 0..<\(TokenizerChecks.maximumId)")
        }
        // Real vocabularies may omit bytes that never occur in UTF-8 (0xC0, 0xF5…), and Hugging
        // Face drops those too; a vocabulary without printable ASCII or newline is corrupt.
        for byte in [0x0A] + Array(0x20...0x7E) where vocabulary[String(ByteLevel.byteToCharacter[byte])] == nil {
            throw invalid("the vocabulary lacks the byte-level token for byte 0x\(String(byte, radix: 16)), so text holding it could not be encoded")
        }
        for (rank, merge) in merges.enumerated() {
            for part in [merge.0, merge.1, merge.0 + merge.1] where vocabulary[part] == nil {
                throw invalid("merge \(rank) (\(quoted(merge.0 + " " + merge.1))) names \(quoted(part)), which is not in the vocabulary")
            }
        }
    }
}
