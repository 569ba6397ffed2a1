import Foundation
import SAEPipeCore

/// A byte-level BPE tokenizer (GPT-2 family): normalizer, added tokens, pre-tokenizer, BPE.
public final class Tokenizer: @unchecked Sendable {
    public struct AddedToken: Sendable {
        public let content: String
        public let id: Int
        public let special: Bool
    }

    public let model: BPEModel
    public let preTokenizer: PreTokenizer
    public let normalizeNFC: Bool
    public let addedTokens: [AddedToken]
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    /// Identifies the vocabulary and rules, for activation metadata and cache keys.
    public let fingerprint: String
    private let addedById: [Int: AddedToken]
    /// Added tokens by first scalar, longest first, for matching while scanning.
    private let addedByFirstScalar: [Unicode.Scalar: [AddedToken]]

    init(
        model: BPEModel, preTokenizer: PreTokenizer, normalizeNFC: Bool, addedTokens: [AddedToken], bos: Int?,
        eos: Int?, fingerprint: String
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.normalizeNFC = normalizeNFC
        self.addedTokens = addedTokens
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.fingerprint = fingerprint
        addedById = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byFirst: [Unicode.Scalar: [AddedToken]] = [:]
        for token in addedTokens where !token.content.isEmpty {
            byFirst[token.content.unicodeScalars.first!, default: []].append(token)
        }
        addedByFirstScalar = byFirst.mapValues { $0.sorted { $0.content.unicodeScalars.count > $1.content.unicodeScalars.count } }
    }

    public var vocabularySize: Int { max(model.tokens.count, (addedTokens.map(\.id).max() ?? -1) + 1) }

    // MARK: - Encoding

    /// Token ids of `text`, with no BOS/EOS added.
    public func encode(_ text: String) -> [Int] {
        let text = normalizeNFC ? text.precomposedStringWithCanonicalMapping : text
        var ids: [Int] = []
        var segmentStart = text.unicodeScalars.startIndex
        var index = segmentStart
        let scalars = text.unicodeScalars
        while index != scalars.endIndex {
            if let candidates = addedByFirstScalar[scalars[index]],
                let match = candidates.first(where: { scalars[index...].starts(with: $0.content.unicodeScalars) })
            {
                encodeOrdinary(String(scalars[segmentStart..<index]), into: &ids)
                ids.append(match.id)
                index = scalars.index(index, offsetBy: match.content.unicodeScalars.count)
                segmentStart = index
            } else {
                index = scalars.index(after: index)
            }
        }
        encodeOrdinary(String(scalars[segmentStart..<scalars.endIndex]), into: &ids)
        return ids
    }

    private func encodeOrdinary(_ text: String, into ids: inout [Int]) {
        guard !text.isEmpty else { return }
        for piece in preTokenizer.split(text) {
            ids += model.encode(piece: ByteLevel.encode(String(piece).utf8))
        }
    }

    // MARK: - Decoding

    /// Text of `ids`; byte sequences that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes += tokenBytes(id) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes one token stands for (a token may hold part of a UTF-8 character).
    public func tokenBytes(_ id: Int) -> [UInt8] {
        if let added = addedById[id] { return Array(added.content.utf8) }
        guard id >= 0, id < model.tokens.count else { return [] }
        return ByteLevel.decode(model.tokens[id])
    }

    public func isSpecial(_ id: Int) -> Bool { addedById[id]?.special ?? false }
}
