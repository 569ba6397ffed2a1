/// GPT-2's reversible map between bytes and printable characters, so BPE can work
/// on strings: printable Latin-1 bytes stand for themselves, the rest move to U+0100+.
public enum ByteLevel {
    public static let byteToCharacter: [Character] = {
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var mapping = [Character](repeating: " ", count: 256)
        for byte in printable { mapping[byte] = Character(Unicode.Scalar(UInt32(byte))!) }
        var next: UInt32 = 256
        for byte in 0..<256 where !printable.contains(byte) {
            mapping[byte] = Character(Unicode.Scalar(next)!)
            next += 1
            printable.append(byte)
        }
        return mapping
    }()

    public static let characterToByte: [Character: UInt8] = {
        var reverse: [Character: UInt8] = [:]
        for (byte, character) in byteToCharacter.enumerated() { reverse[character] = UInt8(byte) }
        return reverse
    }()

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        String(bytes.map { byteToCharacter[Int($0)] })
    }

    /// Bytes of a byte-level token; characters outside the table (added tokens) pass as UTF-8.
    public static func decode(_ token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for character in token {
            if let byte = characterToByte[character] { bytes.append(byte) } else { bytes += Array(String(character).utf8) }
        }
        return bytes
    }
}
