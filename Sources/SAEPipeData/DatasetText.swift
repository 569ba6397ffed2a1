import Foundation
import SAEPipeCore

/// Turns a dataset file's bytes into text the way a careful reader would: binary files are
/// refused, invalid UTF-8 is an error naming the byte offset (or replaced, if asked), and
/// line ends are universal (`\r\n` and lone `\r` become `\n`), as Python and HF datasets read text.
public enum DatasetText {
    public enum InvalidUTF8: String, Sendable, Decodable { case error, replace }
    public enum Newlines: String, Sendable, Decodable { case universal, keep }

    /// How much of a file is sampled to tell text from binary.
    static let sniffBytes = 1 << 16
    /// More control characters than this fraction of the sample means binary, not text.
    static let controlFraction = 0.05

    public static func decode(
        _ data: Data, file: String, key: String, invalidUTF8: InvalidUTF8, newlines: Newlines
    ) throws -> String {
        let text = try data.withUnsafeBytes { bytes -> String in
            try refuseBinary(bytes, file: file, key: key)
            if let offset = firstInvalidUTF8(bytes) {
                guard invalidUTF8 == .replace else {
                    throw SAEPipeError.input(
                        "the dataset file is not valid UTF-8 (first bad byte 0x\(String(bytes[offset], radix: 16)) at byte offset \(offset))",
                        key: key, file: file,
                        hint: "convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or set `\(key).invalid_utf8: replace` to read bad bytes as U+FFFD")
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return newlines == .universal ? universalNewlines(text) : text
    }

    /// One text cell (a Parquet value): UTF-8 checked the same way, newlines left as stored.
    public static func decodeCell(
        _ bytes: [UInt8], file: String, key: String, row: String, invalidUTF8: InvalidUTF8
    ) throws -> String {
        try bytes.withUnsafeBytes { buffer in
            if invalidUTF8 == .error, let offset = firstInvalidUTF8(buffer) {
                throw SAEPipeError.input(
                    "\(row) is not valid UTF-8 (first bad byte at offset \(offset) of the value)", key: key, file: file,
                    hint: "set `\(key).invalid_utf8: replace` to read bad bytes as U+FFFD")
            }
            return String(decoding: buffer, as: UTF8.self)
        }
    }

    /// NUL bytes never occur in text; many other control bytes mean an executable, image or archive.
    static func refuseBinary(_ bytes: UnsafeRawBufferPointer, file: String, key: String) throws {
        if let offset = bytes.firstIndex(of: 0) {
            throw SAEPipeError.input(
                "the dataset file looks binary (a NUL byte at offset \(offset)), not text", key: key, file: file,
                hint: "point `\(key).path` at text, JSONL or Parquet files")
        }
        let sample = UnsafeRawBufferPointer(rebasing: bytes[..<min(bytes.count, sniffBytes)])
        // Tab, newline, vertical tab, form feed, carriage return and escape occur in real text.
        let controls = sample.reduce(0) { $0 + ($1 < 0x20 && ![0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B].contains($1) ? 1 : 0) }
        if sample.count > 0, Double(controls) > controlFraction * Double(sample.count) {
            throw SAEPipeError.input(
                "the dataset file looks binary (\(controls) control bytes in its first \(sample.count)), not text",
                key: key, file: file, hint: "point `\(key).path` at text, JSONL or Parquet files")
        }
    }

    /// The offset of the first byte that does not start or continue a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    /// `\r\n` → `\n`, then a lone `\r` → `\n` (Python's universal newlines).
    public static func universalNewlines(_ text: String) -> String {
        guard text.utf8.contains(0x0D) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var previousWasReturn = false
        for byte in text.utf8 {
            if byte == 0x0A && previousWasReturn {
                previousWasReturn = false
                continue  // the \r already became \n
            }
            previousWasReturn = byte == 0x0D
            bytes.append(previousWasReturn ? 0x0A : byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
