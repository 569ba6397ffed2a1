import Foundation
import SAEPipeCore
import SAEPipeModels

/// Fixed-length token windows cut from a dataset's documents, sampled by seed.
public struct TokenWindows: Sendable {
    public enum DocumentHandling: String, Sendable, Decodable {
        /// Documents joined with the EOS token between them, cut into seq_len windows.
        case concatenate
        /// One window per document: its first seq_len tokens (shorter documents stay shorter).
        case separate
    }

    public struct Options: Sendable {
        public var seqLen: Int
        public var documents: DocumentHandling
        public var prependBOS: Bool
        /// Activation rows wanted (positions kept, specials excluded when asked).
        public var tokenBudget: Int
        public var excludeSpecial: Bool
        /// Sample windows at random from a pool `poolFactor` times larger than needed;
        /// 1 (or `shuffle: false`) keeps the first windows in corpus order.
        public var shuffle: Bool
        public var poolFactor: Int
        public var seed: UInt64

        public init(seqLen: Int, documents: DocumentHandling, prependBOS: Bool, tokenBudget: Int, excludeSpecial: Bool,
                    shuffle: Bool, poolFactor: Int, seed: UInt64) {
            self.seqLen = seqLen
            self.documents = documents
            self.prependBOS = prependBOS
            self.tokenBudget = tokenBudget
            self.excludeSpecial = excludeSpecial
            self.shuffle = shuffle
            self.poolFactor = poolFactor
            self.seed = seed
        }
    }

    /// Window token ids back to back; window i is `tokens[offsets[i] ..< offsets[i+1]]`.
    public var tokens: [Int32]
    public var offsets: [Int]
    /// How many of window i's kept positions go into the activation set (the last window may be cut short).
    public var keptCounts: [Int]
    /// Whether each token position is excluded (a special token, with `excludeSpecial`).
    public var excluded: [Bool]
    public var documentsRead: Int
    public var filesRead: [String]

    public var count: Int { offsets.count - 1 }
    public var activationCount: Int { keptCounts.reduce(0, +) }
    public func window(_ index: Int) -> ArraySlice<Int32> { tokens[offsets[index]..<offsets[index + 1]] }

    /// Tokenizes a long text in ~256 KiB pieces cut just after a newline that is followed by a
    /// non-space character or by one space and a non-space character, handing each piece's ids
    /// to `body` until it returns false. The GPT-2 split never joins across such a point (the
    /// newline ends a whitespace piece; the next piece starts fresh or with that one space), so
    /// the ids equal encoding the whole text at once, while memory stays bounded by the piece
    /// size and reading stops as soon as enough tokens are in.
    public static func encodeInPieces(
        _ text: String, _ tokenizer: Tokenizer, pieceBytes: Int = 256 << 10, _ body: ([Int32]) throws -> Bool
    ) rethrows {
        let utf8 = text.utf8
        var start = utf8.startIndex
        while start != utf8.endIndex {
            var cut = utf8.index(start, offsetBy: pieceBytes, limitedBy: utf8.endIndex) ?? utf8.endIndex
            let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C]
            while cut != utf8.endIndex {
                if utf8[utf8.index(before: cut)] == 0x0A {
                    // "\nX" splits as "\n"|"X" and "\n X" as "\n"|" X" (lines starting with a space, as in WikiText).
                    if !whitespace.contains(utf8[cut]) { break }
                    let next = utf8.index(after: cut)
                    if utf8[cut] == 0x20, next != utf8.endIndex, !whitespace.contains(utf8[next]) { break }
                }
                cut = utf8.index(after: cut)
            }
            if try !body(tokenizer.encode(String(text[start..<cut])).map { Int32($0) }) { return }
            start = cut
        }
    }

    public static func encodeInPieces(_ text: String, _ tokenizer: Tokenizer, pieceBytes: Int = 256 << 10) -> [Int32] {
        var ids: [Int32] = []
        encodeInPieces(text, tokenizer, pieceBytes: pieceBytes) { ids += $0; return true }
        return ids
    }

    /// Reads documents until the pool is full, then samples windows until the budget is met.
    public static func build(reader: DocumentReader, tokenizer: Tokenizer, options: Options) throws -> TokenWindows {
        let seqLen = options.seqLen
        let bodyLength = options.prependBOS ? seqLen - 1 : seqLen
        guard bodyLength >= 1 else { throw SAEPipeError.input("seq_len must leave room for tokens", key: "collect.seq_len") }
        let bos = tokenizer.bosTokenId.map { Int32($0) }
        if options.prependBOS, bos == nil {
            throw SAEPipeError.input("the tokenizer has no BOS token to prepend", key: "collect.prepend_bos",
                                     hint: "set `prepend_bos: false`")
        }
        let isSpecial: (Int32) -> Bool = { id in
            tokenizer.isSpecial(Int(id)) || Int(id) == tokenizer.bosTokenId || Int(id) == tokenizer.eosTokenId
        }
        // Pool roughly this many tokens before sampling (specials make windows slightly shorter in rows).
        let poolTokens = options.tokenBudget * (options.shuffle ? max(1, options.poolFactor) : 1)
        var pool: [[Int32]] = []
        var pooled = 0
        var pending: [Int32] = []
        var documents = 0
        let files = try reader.forEach { text in
            documents += 1
            switch options.documents {
            case .concatenate:
                if documents > 1, let eos = tokenizer.eosTokenId { pending.append(Int32(eos)) }
                encodeInPieces(text, tokenizer) { ids in
                    pending.append(contentsOf: ids)
                    var start = 0
                    while pending.count - start >= bodyLength, pooled < poolTokens {
                        pool.append(Array(pending[start..<(start + bodyLength)]))
                        start += bodyLength
                        pooled += bodyLength
                    }
                    pending.removeFirst(start)
                    return pooled < poolTokens
                }
            case .separate:
                var window: [Int32] = []
                encodeInPieces(text, tokenizer) { ids in
                    window += ids.prefix(bodyLength - window.count)
                    return window.count < bodyLength
                }
                if !window.isEmpty {
                    pool.append(window)
                    pooled += window.count
                }
            }
            return pooled < poolTokens
        }
        guard !pool.isEmpty else {
            let read = files.isEmpty ? "no file" : files.count == 1 ? files[0] : "\(files[0]) and \(files.count - 1) more files"
            throw SAEPipeError.input(
                "the dataset `\(reader.spec.configKey)` gave no complete window of \(seqLen) tokens (\(documents) documents read from \(read))",
                key: reader.spec.configKey,
                hint: documents == 0 ? "the file holds no text: check `\(reader.spec.configKey).path`, field and filter"
                    : "it has fewer than \(seqLen) tokens: add text or lower collect.seq_len")
        }
        var order = Array(pool.indices)
        if options.shuffle {
            var generator = SplitMix64(seed: options.seed)
            for i in stride(from: order.count - 1, to: 0, by: -1) {  // Fisher–Yates
                order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
        }
        var result = TokenWindows(tokens: [], offsets: [0], keptCounts: [], excluded: [], documentsRead: documents,
                                  filesRead: files)
        var remaining = options.tokenBudget
        for index in order where remaining > 0 {
            let window = (options.prependBOS ? [bos!] : []) + pool[index]
            let excluded = window.map { options.excludeSpecial && isSpecial($0) }
            let kept = min(remaining, excluded.lazy.filter { !$0 }.count)
            guard kept > 0 else { continue }
            result.tokens += window
            result.excluded += excluded
            result.offsets.append(result.tokens.count)
            result.keptCounts.append(kept)
            remaining -= kept
        }
        return result
    }
}
