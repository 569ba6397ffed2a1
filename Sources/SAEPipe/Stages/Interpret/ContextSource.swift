import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels

/// Token windows of an activation set, for rendering a row's context.
struct ContextSource {
    let tokens: [Int32]
    let positions: [Int32]
    let offsets: [Int]
    let tokenizer: Tokenizer

    init(directory: String, tokenizer: Tokenizer) throws {
        tokens = try ActivationStore.readInt32("\(directory)/tokens.mmap")
        positions = try ActivationStore.readInt32("\(directory)/positions.mmap")
        // A set without recorded windows is one long window.
        offsets = try ActivationSetMeta.read(directory: directory).windows?.sequenceOffsets ?? [0, tokens.count]
        self.tokenizer = tokenizer
    }

    init(tokens: [Int32], positions: [Int32], offsets: [Int], tokenizer: Tokenizer) {
        (self.tokens, self.positions, self.offsets, self.tokenizer) = (tokens, positions, offsets, tokenizer)
    }

    func token(ofRow row: Int) -> Int32 { tokens[Int(positions[row])] }

    /// The token before this row's token within its window, if any.
    func previousToken(ofRow row: Int) -> Int32? {
        let index = Int(positions[row])
        return index > windowStart(index) ? tokens[index - 1] : nil
    }

    /// The token range of the window holding token `index` (binary search on the offsets).
    func window(containing index: Int) -> Range<Int> {
        var (low, high) = (0, offsets.count - 1)
        while low + 1 < high {
            let middle = (low + high) / 2
            if offsets[middle] <= index { low = middle } else { high = middle }
        }
        return offsets[low]..<offsets[low + 1]
    }

    func windowStart(_ index: Int) -> Int { window(containing: index).lowerBound }

    /// Text around the row's token, the token itself marked «…».
    func context(ofRow row: Int, before: Int, after: Int) -> String {
        let index = Int(positions[row])
        let window = window(containing: index)
        let left = max(window.lowerBound, index - before), right = min(window.upperBound, index + 1 + after)
        let decode = { (range: Range<Int>) in tokenizer.decode(tokens[range].map(Int.init)) }
        return decode(left..<index) + "«" + decode(index..<(index + 1)) + "»" + decode((index + 1)..<right)
    }
}

