/// Splits text into the pieces BPE runs on, as GPT-2's regex does:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// — written out by hand over Unicode scalars (no regex engine, same categories).
public enum PreTokenizer: Sendable, Equatable, CustomStringConvertible {
    /// GPT-2 / GPT-NeoX (HF `ByteLevel` with `use_regex`, llama.cpp `gpt2`).
    case gpt2
    /// llama.cpp `smollm`: every digit on its own first (`\p{N}`), then the GPT-2 split.
    case digitsThenGPT2

    public var description: String {
        switch self {
        case .gpt2: return "gpt2"
        case .digitsThenGPT2: return "smollm (digits split, then gpt2)"
        }
    }

    public func split(_ text: String) -> [Substring.UnicodeScalarView] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [Substring.UnicodeScalarView] = []
        let view = text.unicodeScalars
        let pieceSource = Substring(text).unicodeScalars
        var indices: [String.UnicodeScalarView.Index] = []
        indices.reserveCapacity(scalars.count + 1)
        var index = view.startIndex
        while index != view.endIndex {
            indices.append(index)
            index = view.index(after: index)
        }
        indices.append(view.endIndex)
        let classes = scalars.map(CharacterClass.init)
        func emit(_ start: Int, _ end: Int) { pieces.append(pieceSource[indices[start]..<indices[end]]) }

        switch self {
        case .gpt2:
            PreTokenizer.gpt2Split(scalars, classes, 0, scalars.count, emit)
        case .digitsThenGPT2:
            var start = 0
            for position in 0..<scalars.count where classes[position] == .number {
                if start < position { PreTokenizer.gpt2Split(scalars, classes, start, position, emit) }
                emit(position, position + 1)
                start = position + 1
            }
            if start < scalars.count { PreTokenizer.gpt2Split(scalars, classes, start, scalars.count, emit) }
        }
        return pieces
    }

    enum CharacterClass: Equatable {
        case letter, number, space, other

        init(_ scalar: Unicode.Scalar) {
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
                self = .letter
            case .decimalNumber, .letterNumber, .otherNumber:
                self = .number
            default:
                self = scalar.properties.isWhitespace ? .space : .other
            }
        }
    }

    /// The GPT-2 alternatives, tried in order at each position of `start..<end`.
    static func gpt2Split(
        _ s: [Unicode.Scalar], _ c: [CharacterClass], _ start: Int, _ end: Int, _ emit: (Int, Int) -> Void
    ) {
        var i = start
        func run(from j: Int, while cls: CharacterClass) -> Int {
            var k = j
            while k < end && c[k] == cls { k += 1 }
            return k
        }
        while i < end {
            // Contractions: 's 't 're 've 'm 'll 'd (lower case only, as in the regex).
            if s[i] == "'" && i + 1 < end {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { emit(i, i + 2); i += 2; continue }
                if i + 2 < end {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        emit(i, i + 3); i += 3; continue
                    }
                }
            }
            // ` ?X+` for letters, numbers, and anything that is neither nor whitespace.
            let body = s[i] == " " && i + 1 < end && c[i + 1] != .space ? i + 1 : i
            if c[body] != .space {
                let stop = run(from: body, while: c[body])
                emit(i, stop)
                i = stop
                continue
            }
            // `\s+(?!\S)`: a whitespace run, leaving its last character to the next piece
            // when a non-space follows; `\s+` takes a lone one.
            let stop = run(from: i, while: .space)
            if stop == end || stop - i == 1 {
                emit(i, stop)
                i = stop
            } else {
                emit(i, stop - 1)
                i = stop - 1
            }
        }
    }
}
