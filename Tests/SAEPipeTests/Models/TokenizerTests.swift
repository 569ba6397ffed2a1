import Foundation
import SAEPipeFormats
import SAEPipeModels
import XCTest

final class TokenizerTests: XCTestCase {
    struct Vector: Decodable {
        let text: String
        let ids: [Int]
    }

    func vectors(_ directory: String) throws -> [Vector] {
        let text = try String(contentsOfFile: fixturePath("\(directory)/vectors.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Vector.self, from: Data($0.utf8)) }
    }

    func check(_ tokenizer: Tokenizer, _ directory: String) throws {
        let all = try vectors(directory)
        var failures: [String] = []
        for vector in all {
            let ids = tokenizer.encode(vector.text)
            if ids != vector.ids { failures.append("\(vector.text.debugDescription.prefix(60)): got \(ids.prefix(20)) want \(vector.ids.prefix(20))") }
        }
        XCTAssertEqual(failures.count, 0, "\(failures.count)/\(all.count) mismatches:\n" + failures.prefix(8).joined(separator: "\n"))
        XCTAssertEqual(all.count, 55)
    }

    func testTinyTokenizerVectors() throws {
        try check(try Tokenizer.load(tokenizerJSON: fixturePath("tiny-tokenizer/tokenizer.json")), "tiny-tokenizer")
    }

    func testNeoXTokenizerVectors() throws {
        try check(try Tokenizer.load(tokenizerJSON: fixturePath("neox-tokenizer/tokenizer.json")), "neox-tokenizer")
    }

    func testSmolLM2GGUFTokenizerVectors() throws {
        let gguf = try GGUFFile(path: fixturePath("smollm2-tokenizer/tokenizer.gguf"))
        try check(try Tokenizer.load(gguf: gguf), "smollm2-tokenizer")
    }

    func testDecodeRoundTripsTheVectors() throws {
        let neox = try Tokenizer.load(tokenizerJSON: fixturePath("neox-tokenizer/tokenizer.json"))
        for vector in try vectors("neox-tokenizer") {
            XCTAssertEqual(neox.decode(vector.ids), vector.text.precomposedStringWithCanonicalMapping)
        }
        let smol = try Tokenizer.load(gguf: try GGUFFile(path: fixturePath("smollm2-tokenizer/tokenizer.gguf")))
        for vector in try vectors("smollm2-tokenizer") {
            XCTAssertEqual(smol.decode(vector.ids), vector.text)
        }
    }
}
