import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeHub
import SAEPipeModels
import XCTest

/// Documents from local files and from Hub datasets (a local server with the Hub's URL shapes).
final class DatasetSourceTests: XCTestCase {
    func documents(_ reader: DocumentReader, limit: Int = .max) throws -> [String] {
        var result: [String] = []
        try reader.forEach { text in
            result.append(text)
            return result.count < limit
        }
        return result
    }

    func testLocalTextJSONLAndParquet() throws {
        let directory = try temporaryDirectory(self)
        try write("one\ntwo\n\nthree\n\n\n", to: "\(directory)/a.txt")
        try write("four\n", to: "\(directory)/b.txt")
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: "\(directory)/*.txt"))), ["one\ntwo\n\nthree\n\n\n", "four\n"])
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: "\(directory)/a.txt", textSplit: .blankLines))),
                       ["one\ntwo", "three", "\n"].filter { !$0.allSatisfy(\.isWhitespace) })
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: "\(directory)/a.txt", textSplit: .lines))),
                       ["one\n", "two\n", "three\n"])
        try write("{\"code\": \"x = 1\", \"language\": \"Python\"}\n{\"code\": \"y := 2\", \"language\": \"Go\"}\n\n", to: "\(directory)/c.jsonl")
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: "\(directory)/c.jsonl", field: "code",
                                                                      filters: ["language": ["Python"]]))), ["x = 1"])
        XCTAssertThrowsError(try documents(DocumentReader(spec: DatasetSpec(path: "\(directory)/c.jsonl", field: "text")))) { error in
            XCTAssertEqual((error as? SAEPipeError)?.location?.line, 1)
        }
        let parquet = fixturePath("parquet/code-snappy.parquet")
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: parquet, field: "code"))).count, 40)
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: parquet, field: "code", filters: ["language": ["Go"]]))), [])
        XCTAssertEqual(try documents(DocumentReader(spec: DatasetSpec(path: parquet, field: "code")), limit: 3).count, 3)
    }

    func testHubParquetConversionDownloadsOnlyTheShardsNeeded() throws {
        let server = LocalHubServer()
        let repo = "datasets/Salesforce/wikitext@refs/convert/parquet"
        for (index, name) in ["wikitext-snappy", "wikitext-zstd"].enumerated() {
            server.host(repo: repo, path: "wikitext-2-raw-v1/train/000\(index).parquet",
                        content: try Data(contentsOf: URL(fileURLWithPath: fixturePath("parquet/\(name).parquet"))), lfs: true)
        }
        server.host(repo: repo, path: "wikitext-2-raw-v1/test/0000.parquet",
                    content: try Data(contentsOf: URL(fileURLWithPath: fixturePath("parquet/wikitext-gzip.parquet"))), lfs: true)
        try server.start()
        defer { server.stop() }
        let cache = try temporaryDirectory(self)
        let hub = HubClient(cache: HubCache(root: cache), endpoint: server.endpoint, console: Console(verbosity: .quiet))
        let spec = DatasetSpec(hub: "Salesforce/wikitext", hubConfig: "wikitext-2-raw-v1", split: "train")
        let reader = DocumentReader(spec: spec, hub: hub, datasetsServer: server.endpoint)
        let expected = try ParquetFile(path: fixturePath("parquet/wikitext-snappy.parquet")).strings(column: "text")
            .compactMap { $0 }.filter { !$0.isEmpty }
        XCTAssertEqual(try documents(reader, limit: 100), Array(expected.prefix(100)))
        XCTAssertFalse(server.requests.contains { $0.contains("0001.parquet") }, "the second shard is not needed")
        XCTAssertEqual(try documents(reader).count, 2 * expected.count)
        XCTAssertTrue(FileSystem.exists("\(cache)/datasets--Salesforce--wikitext/snapshots"))

        // Offline, the remembered listing and the cached shards are enough.
        let offline = HubClient(cache: HubCache(root: cache), endpoint: server.endpoint, offline: true, console: Console(verbosity: .quiet))
        XCTAssertEqual(try documents(DocumentReader(spec: spec, hub: offline, datasetsServer: server.endpoint)).count, 2 * expected.count)
        let missing = DatasetSpec(hub: "Salesforce/wikitext", hubConfig: "wikitext-2-raw-v1", split: "validation")
        XCTAssertThrowsError(try documents(DocumentReader(spec: missing, hub: hub, datasetsServer: server.endpoint))) { error in
            XCTAssertTrue("\(error)".contains("splits there: test, train"), "\(error)")
        }
    }

    func testHubRepoFilesWithGlobAndFilter() throws {
        let server = LocalHubServer()
        let code = try Data(contentsOf: URL(fileURLWithPath: fixturePath("parquet/code-snappy.parquet")))
        server.host(repo: "datasets/codeparrot/github-code-clean@main", path: "data/train-00000-of-00002.parquet", content: code, lfs: true)
        server.host(repo: "datasets/codeparrot/github-code-clean@main", path: "data/train-00001-of-00002.parquet", content: code, lfs: true)
        server.host(repo: "datasets/codeparrot/github-code-clean@main", path: "README.md", content: Data("hi".utf8), lfs: false)
        try server.start()
        defer { server.stop() }
        let cache = try temporaryDirectory(self)
        let hub = HubClient(cache: HubCache(root: cache), endpoint: server.endpoint, console: Console(verbosity: .quiet))
        let spec = DatasetSpec(hub: "codeparrot/github-code-clean", files: "data/train-*.parquet", field: "code",
                               filters: ["language": ["Python"]])
        let texts = try documents(DocumentReader(spec: spec, hub: hub, datasetsServer: server.endpoint))
        XCTAssertEqual(texts.count, 80)
        XCTAssertEqual(Array(texts[0..<40]), try ParquetFile(path: fixturePath("parquet/code-snappy.parquet")).strings(column: "code").compactMap { $0 })
    }

    /// Long documents are tokenized in pieces cut after a newline; the ids must not change.
    func testPiecewiseEncodingEqualsWholeText() throws {
        var text = ""
        for i in 0..<400 {
            text += " = Section \(i) = \n\n The café's 12,345 visitors — naïve? \r\n\tdef f(x):\n    return x  \n\n\n"
        }
        // Real WikiText: every line starts with a space.
        let wikitext = try String(contentsOfFile: fixturePath("parquet/wikitext-snappy.expected.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(200).map { line in
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["text"] as! String
            }.joined()
        text += wikitext
        for model in ["smollm2-tokenizer/tokenizer.gguf", "neox-tokenizer", "tiny-neox"] {
            let path = fixturePath(model)
            let tokenizer = model.hasSuffix(".gguf") ? try Tokenizer.load(model: path)
                : try Tokenizer.load(tokenizerJSON: "\(path)/tokenizer.json")
            let whole = tokenizer.encode(text).map { Int32($0) }
            XCTAssertEqual(TokenWindows.encodeInPieces(text, tokenizer, pieceBytes: 1000), whole, model)
            XCTAssertEqual(TokenWindows.encodeInPieces(text, tokenizer, pieceBytes: 37), whole, model)
            var pieces = 0
            TokenWindows.encodeInPieces(wikitext, tokenizer, pieceBytes: 1000) { _ in pieces += 1; return true }
            XCTAssertGreaterThan(pieces, wikitext.utf8.count / 2000, "WikiText is cut into pieces")
        }
    }
}
