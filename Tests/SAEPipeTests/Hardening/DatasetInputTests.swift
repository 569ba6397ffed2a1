import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import XCTest

/// Dataset files are read as text only when they are text: binary files, invalid UTF-8,
/// non-string columns and special files are refused with the key and file named.
final class DatasetInputTests: XCTestCase {
    func documents(_ spec: DatasetSpec) throws -> [String] {
        var texts: [String] = []
        try DocumentReader(spec: spec).forEach { texts.append($0); return true }
        return texts
    }

    func spec(_ path: String, _ configure: (inout DatasetSpec) -> Void = { _ in }) -> DatasetSpec {
        var spec = DatasetSpec(path: path, configKey: "datasets.A")
        configure(&spec)
        return spec
    }

    func assertRefused(_ spec: DatasetSpec, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try documents(spec), file: file, line: line) { error in
            let described = "\(error)"
            for part in parts { XCTAssertTrue(described.contains(part), "\(described) lacks \(part)", file: file, line: line) }
        }
    }

    func testBinaryFilesAreRefused() throws {
        let directory = try temporaryDirectory(self)
        let executable = "\(directory)/ls.txt"
        try FileManager.default.copyItem(atPath: "/bin/ls", toPath: executable)
        assertRefused(spec(executable), mentioning: ["looks binary", "NUL byte", "datasets.A", executable])
        let controls = "\(directory)/controls.txt"
        try Data((0..<4000).map { UInt8($0 % 2 == 0 ? 0x41 : 0x01) }).write(to: URL(fileURLWithPath: controls))
        assertRefused(spec(controls), mentioning: ["looks binary", "control bytes"])
    }

    func testInvalidUTF8NamesTheOffsetOrIsReplacedWhenAsked() throws {
        let directory = try temporaryDirectory(self)
        let path = "\(directory)/latin1.txt"
        try Data(Array("café ".utf8) + [0x63, 0x61, 0x66, 0xE9, 0x20, 0x21]).write(to: URL(fileURLWithPath: path))
        assertRefused(spec(path), mentioning: ["not valid UTF-8", "0xe9 at byte offset 9", "datasets.A.invalid_utf8: replace"])
        XCTAssertEqual(try documents(spec(path) { $0.invalidUTF8 = .replace }), ["café caf\u{FFFD} !"])
    }

    func testTextFilesReadWithUniversalNewlinesUnlessKept() throws {
        let directory = try temporaryDirectory(self)
        let path = "\(directory)/crlf.txt"
        try Data("one\r\ntwo\rthree\n\r\nfour".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try documents(spec(path)), ["one\ntwo\nthree\n\nfour"])
        XCTAssertEqual(try documents(spec(path) { $0.newlines = .keep }), ["one\r\ntwo\rthree\n\r\nfour"])
        XCTAssertEqual(try documents(spec(path) { $0.textSplit = .blankLines }), ["one\ntwo\nthree", "four"])
    }

    func testSpecialFilesAreRefusedBeforeAnyRead() throws {
        let directory = try temporaryDirectory(self)
        let fifo = "\(directory)/pipe.txt"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let started = Date()
        XCTAssertThrowsError(try spec(fifo).localFiles()) { error in
            XCTAssertTrue("\(error)".contains("a FIFO, not a regular file") && "\(error)".contains("datasets.A.path"), "\(error)")
        }
        XCTAssertThrowsError(try FileHashCache(storePath: "\(directory)/hashes.json").hash(of: fifo)) { error in
            XCTAssertTrue("\(error)".contains("a FIFO"), "\(error)")
        }
        XCTAssertThrowsError(try spec("/dev/zero").localFiles()) { error in
            XCTAssertTrue("\(error)".contains("a character device"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }

    func testNonStringParquetColumnsAreRefusedWithTheirType() throws {
        let path = fixturePath("parquet/nullable-zstd.parquet")
        assertRefused(spec(path) { $0.field = "n" }, mentioning: ["column `n` holds INT", "not text", "datasets.A.field"])
    }

    func testAnEmptyCorpusNamesTheDatasetKeyAndFile() throws {
        let directory = try temporaryDirectory(self)
        let path = "\(directory)/short.txt"
        try Data("too short".utf8).write(to: URL(fileURLWithPath: path))
        let tokenizer = try Tokenizer.load(tokenizerJSON: fixturePath("tiny-tokenizer/tokenizer.json"))
        let options = TokenWindows.Options(
            seqLen: 64, documents: .concatenate, prependBOS: false, tokenBudget: 1000, excludeSpecial: true, shuffle: false,
            poolFactor: 1, seed: 0)
        XCTAssertThrowsError(try TokenWindows.build(reader: DocumentReader(spec: spec(path)), tokenizer: tokenizer, options: options)) { error in
            let described = "\(error)"
            XCTAssertTrue(described.contains("datasets.A") && described.contains(path) && described.contains("fewer than 64 tokens"), described)
        }
    }
}
