import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeFormats
import SAEPipeModels
import XCTest

/// Crafted files of each format that once crashed, hung or allocated without bound: each must
/// now be refused with an error that names the file, quickly.
final class MalformedFileTests: XCTestCase {
    func parse(_ target: String, _ bytes: [UInt8]) -> Error? {
        do {
            try bytes.withUnsafeBytes { try FuzzTarget.named(target)!.run($0) }
            return nil
        } catch { return error }
    }

    func assertRefused(_ target: String, _ bytes: [UInt8], mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
        let started = Date()
        guard let error = parse(target, bytes) else { return XCTFail("accepted", file: file, line: line) }
        XCTAssertTrue(error is SAEPipeError, "\(error)", file: file, line: line)
        XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, file: file, line: line)
    }

    // MARK: GGUF

    func gguf(tensorDims: [UInt64], offset: UInt64, kv: [UInt8] = [], kvCount: UInt64 = 0) -> [UInt8] {
        var bytes = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(1)) + le(kvCount) + kv
        bytes += le(UInt64(1)) + Array("t".utf8) + le(UInt32(tensorDims.count))
        for dim in tensorDims { bytes += le(dim) }
        bytes += le(UInt32(0)) + le(offset)
        return bytes + [UInt8](repeating: 0, count: 64)
    }

    func testGGUFHugeDimensionsAndOffsetsAreRefused() {
        assertRefused("gguf", gguf(tensorDims: [1 << 63], offset: 0), mentioning: "dimension")
        assertRefused("gguf", gguf(tensorDims: [1 << 20, 1 << 20, 1 << 20], offset: 0), mentioning: "outside the file")
        assertRefused("gguf", gguf(tensorDims: [4], offset: 1 << 63), mentioning: "past the end")
        assertRefused("gguf", gguf(tensorDims: [4], offset: 0, kvCount: 1 << 23), mentioning: "implausible")
        // An array nested past the limit (each level one element of type array).
        var nested = le(UInt64(1)) + Array("k".utf8) + le(UInt32(9))
        for _ in 0..<10 { nested += le(UInt32(9)) + le(UInt64(1)) }
        assertRefused("gguf", gguf(tensorDims: [4], offset: 0, kv: nested, kvCount: 1), mentioning: "nest")
    }

    // MARK: safetensors

    func safetensors(_ header: String, data: Int) -> [UInt8] {
        le(UInt64(header.utf8.count)) + Array(header.utf8) + [UInt8](repeating: 0, count: data)
    }

    func testSafetensorsShapesAndOffsetsMustBeExactIntegers() {
        XCTAssertNil(parse("safetensors", safetensors(#"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: 8)))
        assertRefused("safetensors", safetensors(#"{"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}"#, data: 8),
                      mentioning: "lacks dtype, shape or data_offsets")
        assertRefused("safetensors", safetensors(#"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1e300]}}"#, data: 8),
                      mentioning: "lacks dtype, shape or data_offsets")
        assertRefused("safetensors", safetensors(#"{"t": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}"#, data: 8),
                      mentioning: "overflows")
        assertRefused("safetensors", le(UInt64(1) << 63) + [1, 2, 3], mentioning: "header length")
    }

    // MARK: Parquet / Thrift

    func parquet(footer: [UInt8]) -> [UInt8] {
        Array("PAR1".utf8) + footer + le(UInt32(footer.count)) + Array("PAR1".utf8)
    }

    func testThriftHugeLengthsAndDeepNestingAreRefused() {
        // Field 1 of type binary with a length of 2^63.
        assertRefused("parquet", parquet(footer: [0x18] + varint(1 << 63) + [0, 0]), mentioning: "runs past the metadata")
        // A list of 2^62 elements.
        assertRefused("parquet", parquet(footer: [0x19, 0xF5] + varint(1 << 62) + [0]), mentioning: "runs past the metadata")
        // Structs nested 10,000 deep.
        assertRefused("parquet", parquet(footer: [UInt8](repeating: 0x1C, count: 10_000)), mentioning: "nest deeper")
        // Lists of lists 10,000 deep (each header: one element of type list), and maps of maps:
        // the CI fuzz run found the first one overflowing the stack.
        assertRefused("parquet", parquet(footer: [0x19] + [UInt8](repeating: 0x19, count: 10_000)), mentioning: "nest deeper")
        assertRefused("parquet", parquet(footer: [0x1B] + Array([[UInt8]](repeating: [0x01, 0xBB], count: 10_000).joined())),
                      mentioning: "nest deeper")
        // A map of bools: each element must consume input.
        assertRefused("parquet", parquet(footer: [0x1B] + varint(1 << 40) + [0x11]), mentioning: "runs past the metadata")
    }

    func testParquetPageSizesPastTheLimitAreRefused() throws {
        // Rewrite the first page header's uncompressed size (field 2) of a real file to 2^62.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: fixturePath("parquet/nullable-zstd.parquet"))))
        // Page headers start right after the magic: field 1 (type, i32) then field 2 (uncompressed size, i32).
        XCTAssertEqual(bytes[4], 0x15)
        let typeEnd = 5 + (bytes[5...].firstIndex { $0 & 0x80 == 0 }! - 5) + 1
        XCTAssertEqual(bytes[typeEnd], 0x15)
        let sizeStart = typeEnd + 1
        let sizeEnd = bytes[sizeStart...].firstIndex { $0 & 0x80 == 0 }! + 1
        bytes.replaceSubrange(sizeStart..<sizeEnd, with: varint(UInt64(1) << 63))  // zigzag of 2^62
        let directory = try temporaryDirectory(self)
        let path = "\(directory)/big-page.parquet"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = try ParquetFile(path: path)
        XCTAssertThrowsError(try file.read(column: "n", rowGroup: 0)) { error in
            XCTAssertTrue("\(error)".contains("uncompressed bytes"), "\(error)")
            XCTAssertEqual((error as? SAEPipeError)?.file, path)
        }
    }

    // MARK: Tokenizers

    func tokenizerJSON(vocab: [String: Any], merges: [String] = []) throws -> [UInt8] {
        var full: [String: Any] = [:]
        for byte in 0..<256 { full[String(ByteLevel.byteToCharacter[byte])] = byte }
        full.merge(vocab) { _, new in new }
        let json: [String: Any] = [
            "model": ["type": "BPE", "vocab": full, "merges": merges],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false],
        ]
        return Array(try JSONSerialization.data(withJSONObject: json))
    }

    func testTokenizerIdsAndMergesAreChecked() throws {
        XCTAssertNil(parse("tokenizer", try tokenizerJSON(vocab: ["ab": 256], merges: ["a b"])))
        assertRefused("tokenizer", try tokenizerJSON(vocab: ["ab": -5]), mentioning: "has id -5")
        assertRefused("tokenizer", try tokenizerJSON(vocab: ["ab": 1 << 31]), mentioning: "has id 2147483648")
        assertRefused("tokenizer", try tokenizerJSON(vocab: ["ab": 1.5]), mentioning: "not an integer")
        assertRefused("tokenizer", try tokenizerJSON(vocab: ["ab": 256], merges: ["a zz"]), mentioning: "`zz`, which is not in the vocabulary")
        let empty: [String: Any] = ["model": ["type": "BPE", "vocab": [String: Int](), "merges": []],
                                    "pre_tokenizer": ["type": "ByteLevel"]]
        assertRefused("tokenizer", Array(try JSONSerialization.data(withJSONObject: empty)), mentioning: "vocabulary is empty")
    }

    // MARK: Model configs

    func testAbsurdModelConfigValuesNameTheirField() throws {
        let directory = try temporaryDirectory(self)
        for (key, value) in [("rotary_emb_base", "0"), ("layer_norm_eps", "-1"), ("hidden_size", "1e12"), ("vocab_size", "0")] {
            let model = "\(directory)/\(key)"
            try FileManager.default.copyItem(atPath: fixturePath("tiny-neox"), toPath: model)
            let configPath = "\(model)/config.json"
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
            config[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
            XCTAssertThrowsError(try LanguageModel.load(model), key) { error in
                let described = "\(error)"
                XCTAssertTrue(described.contains(key) && described.contains("config.json"), described)
            }
        }
    }

    // MARK: Configs

    func testYAMLAliasBombIsRefusedQuicklyNamingTheAnchor() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        let started = Date()
        XCTAssertThrowsError(try YAMLParser.parse(text, sourceName: "bomb.yaml")) { error in
            XCTAssertTrue("\(error)".contains("node limit") && "\(error)".contains("&a"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }

    func testDeepNestingAndHugeDocumentsAreRefusedQuickly() throws {
        let started = Date()
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertThrowsError(try YAMLParser.parse(deep, sourceName: "deep.yaml")) { error in
            XCTAssertTrue("\(error)".contains("nests deeper than 64"), "\(error)")
        }
        let block = (0..<100).map { String(repeating: " ", count: $0 * 2) + "k\($0):" }.joined(separator: "\n") + " 1\n"
        XCTAssertThrowsError(try YAMLParser.parse(block, sourceName: "deep-block.yaml"))
        XCTAssertThrowsError(try YAMLParser.parse(String(repeating: "# padding\n", count: 500_000), sourceName: "big.yaml")) { error in
            XCTAssertTrue("\(error)".contains("byte limit"), "\(error)")
        }
        XCTAssertThrowsError(try YAMLParser.parse("a: &a [1, *a]", sourceName: "self.yaml")) { error in
            XCTAssertTrue("\(error)".contains("contains it"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        // Anchors and aliases within budget still work.
        let node = try YAMLParser.parse("base: &b {lr: 1}\ntrain: *b\n", sourceName: "ok.yaml")
        XCTAssertEqual(node.value(forKey: "train")?.value(forKey: "lr")?.scalarText, "1")
    }

    // MARK: Fuzz findings

    /// A hidden size whose default intermediate size (4 × hidden) overflows is refused, not a trap.
    func testAHugeHiddenSizeWithoutIntermediateSizeIsRefused() {
        let json = #"{"model_type": "gpt_neox", "hidden_size": 3233333333333333333, "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 2}"#
        XCTAssertThrowsError(try JSONDecoder().decode(GPTNeoXConfiguration.self, from: Data(json.utf8)))
    }

    /// Every input the fuzz targets ever crashed on (Fixtures/fuzz-regressions/TARGET/) replays
    /// through the same target without a crash; the seeds replay too.
    func testFuzzRegressionsReplayWithoutCrashing() throws {
        let root = fixturePath("fuzz-regressions")
        var replayed = 0
        for target in FuzzTarget.all {
            let directory = "\(root)/\(target.name)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
                _ = parse(target.name, bytes)
                replayed += 1
            }
        }
        XCTAssertGreaterThan(replayed, 0)
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

func varint(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    repeat {
        bytes.append(UInt8(value & 0x7F) | (value >= 0x80 ? 0x80 : 0))
        value >>= 7
    } while value > 0
    return bytes
}
