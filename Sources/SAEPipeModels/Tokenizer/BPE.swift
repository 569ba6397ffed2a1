import Foundation

/// Byte-level BPE: merges ranked pairs of symbols until none applies.
public final class BPEModel: @unchecked Sendable {
    public let vocabulary: [String: Int]
    public let tokens: [String]
    let ranks: [Pair: Int]
    private var cache: [String: [Int]] = [:]
    private let lock = NSLock()

    struct Pair: Hashable {
        let left: String
        let right: String
    }

    public init(vocabulary: [String: Int], merges: [(String, String)]) {
        self.vocabulary = vocabulary
        var tokens = [String](repeating: "", count: (vocabulary.values.max() ?? -1) + 1)
        for (token, id) in vocabulary { tokens[id] = token }
        self.tokens = tokens
        var ranks: [Pair: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() where ranks[Pair(left: merge.0, right: merge.1)] == nil {
            ranks[Pair(left: merge.0, right: merge.1)] = rank
        }
        self.ranks = ranks
    }

    /// Ids of one pre-tokenized piece, already in byte-level characters.
    public func encode(piece: String) -> [Int] {
        lock.lock()
        if let known = cache[piece] {
            lock.unlock()
            return known
        }
        lock.unlock()
        var symbols = piece.map { String($0) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for index in 0..<(symbols.count - 1) {
                if let rank = ranks[Pair(left: symbols[index], right: symbols[index + 1])], rank < (best?.rank ?? .max) {
                    best = (rank, index)
                }
            }
            guard let best else { break }
            let left = symbols[best.index], right = symbols[best.index + 1]
            // Merge every occurrence of the winning pair, left to right.
            var merged: [String] = []
            merged.reserveCapacity(symbols.count)
            var index = 0
            while index < symbols.count {
                if index + 1 < symbols.count && symbols[index] == left && symbols[index + 1] == right {
                    merged.append(left + right)
                    index += 2
                } else {
                    merged.append(symbols[index])
                    index += 1
                }
            }
            symbols = merged
        }
        // Byte-level vocabularies hold every single byte, so a symbol is always found.
        let ids = symbols.compactMap { vocabulary[$0] }
        lock.lock()
        if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
        cache[piece] = ids
        lock.unlock()
        return ids
    }
}
