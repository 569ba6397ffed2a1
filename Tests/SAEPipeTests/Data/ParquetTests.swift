import Foundation
import SAEPipeCore
import SAEPipeData
import XCTest

/// Every Parquet fixture (pyarrow: snappy, zstd, gzip, none; PLAIN and dictionary; data
/// page v1 and v2; several row groups; nulls) reads back exactly as its expected JSONL.
final class ParquetTests: XCTestCase {
    func testEveryFixtureReadsBackExactly() throws {
        let directory = fixturePath("parquet")
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/manifest.json"))) as! [[String: Any]]
        XCTAssertEqual(manifest.count, 7)
        for entry in manifest {
            let name = entry["file"] as! String
            let file = try ParquetFile(path: "\(directory)/\(name)")
            XCTAssertEqual(file.rowCount, entry["rows"] as? Int, name)
            XCTAssertEqual(file.columns.map(\.name), entry["columns"] as? [String], name)
            let expectedPath = "\(directory)/\(name.replacingOccurrences(of: ".parquet", with: ".expected.jsonl"))"
            let lines = try String(contentsOfFile: expectedPath, encoding: .utf8).split(separator: "\n")
            let rows = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) as! [String: Any] }
            let column = rows[0].keys.first!
            let expected = rows.map { $0[column] as? String }
            let actual = try file.strings(column: column)
            XCTAssertEqual(actual.count, expected.count, name)
            XCTAssertEqual(actual, expected, name)
        }
    }

    func testOtherColumnsAndRowGroups() throws {
        let code = try ParquetFile(path: fixturePath("parquet/code-snappy.parquet"))
        XCTAssertEqual(code.rowGroupSizes, [16, 16, 8])
        XCTAssertEqual(Set(try code.strings(column: "language")), ["Python"])
        let sizes = try (0..<3).flatMap { try code.read(column: "size", rowGroup: $0) }
        let codes = try code.strings(column: "code")
        XCTAssertEqual(sizes.count, 40)
        for (size, text) in zip(sizes, codes) { XCTAssertEqual(size, .int(Int64(text!.utf8.count))) }
        let nullable = try ParquetFile(path: fixturePath("parquet/nullable-zstd.parquet"))
        XCTAssertTrue(nullable.columns[0].optional)
        let numbers = try nullable.read(column: "n", rowGroup: 0)
        XCTAssertEqual(numbers.count, 300)
        XCTAssertThrowsError(try nullable.strings(column: "txt")) { error in
            XCTAssertTrue("\(error)".contains("columns here: text, n"), "\(error)")
        }
    }

    func testTruncatedFilesAreRefused() throws {
        let directory = try temporaryDirectory(self)
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("parquet/wikitext-zstd.parquet")))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: "\(directory)/cut.parquet"))
        XCTAssertThrowsError(try ParquetFile(path: "\(directory)/cut.parquet")) { error in
            XCTAssertEqual((error as? SAEPipeError)?.file, "\(directory)/cut.parquet")
        }
    }
}
