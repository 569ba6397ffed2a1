import Foundation
import SAEPipeCore
import XCTest

/// Settings structs decode strictly from the resolved config, and what they read is the slice.
final class ConfigReaderTests: XCTestCase {
    struct Settings: Decodable, Equatable {
        var rate: Double
        var name: String?
        var sizes: [Int]
        var filter: [String: [String]]
    }

    let config = ConfigValue.map([
        "seed": .int(4),
        "train": .map([
            "rate": .double(0.5), "name": .null, "sizes": .list([.int(1), .int(2)]), "filter": .map([:]),
            "unread": .string("not part of the slice"),
        ]),
        "other": .map(["x": .int(1)]),
    ])

    func testTheSliceHoldsExactlyTheKeysRead() throws {
        let reader = ConfigReader(config)
        let settings = try reader.decode(Settings.self, at: "train")
        XCTAssertEqual(settings, Settings(rate: 0.5, name: nil, sizes: [1, 2], filter: [:]))
        XCTAssertEqual(try reader.decode(UInt64.self, at: "seed"), 4)
        // Null optionals and empty mappings stay in the slice: they are values the stage saw.
        XCTAssertEqual(reader.slice.canonicalJSON, #"{"seed":4,"train":{"filter":{},"name":null,"rate":0.5,"sizes":[1,2]}}"#)
    }

    func testDecodingFromTheSliceGivesTheSameSettings() throws {
        let reader = ConfigReader(config)
        let settings = try reader.decode(Settings.self, at: "train")
        XCTAssertEqual(try ConfigReader(reader.slice).decode(Settings.self, at: "train"), settings)
    }

    func testAKeyMissingFromTheConfigIsAnErrorNotADefault() {
        let slice = ConfigValue.map(["train": .map(["rate": .double(1), "sizes": .list([]), "filter": .map([:])])])
        XCTAssertThrowsError(try ConfigReader(slice).decode(Settings.self, at: "train")) { error in
            XCTAssertTrue("\(error)".contains("name"), "\(error)")
        }
        XCTAssertThrowsError(try ConfigReader(slice).decode(Int.self, at: "eval.sequences")) { error in
            XCTAssertTrue("\(error)".contains("eval"), "\(error)")
        }
    }

    func testTypeMismatchesNameTheKey() {
        let wrong = ConfigValue.map(["train": .map([
            "rate": .string("fast"), "name": .null, "sizes": .list([]), "filter": .map([:]),
        ])])
        XCTAssertThrowsError(try ConfigReader(wrong).decode(Settings.self, at: "train")) { error in
            XCTAssertTrue("\(error)".contains("train.rate"), "\(error)")
        }
    }

    func testOneUntypedReadingOfScalars() throws {
        let node = try YAMLParser.parse("{a: yes, b: 1_000, c: NULL, d: \"on\", e: 2.5, f: off, g: text}", sourceName: "t")
        XCTAssertEqual(ConfigValue(untyped: node), .map([
            "a": .bool(true), "b": .int(1000), "c": .null, "d": .string("on"), "e": .double(2.5), "f": .bool(false), "g": .string("text"),
        ]))
    }

    struct Record: Codable, Equatable {
        var name: String
        var lambda: Double
        var steps: Int
        var note: String?
        var items: [Item]
        struct Item: Codable, Equatable { var id: Int; var error: String? }
    }

    func testOrderedFilesKeepKeyOrderAndDoublesApartFromIntegers() throws {
        let record = Record(name: "run", lambda: 3, steps: 3, note: nil, items: [.init(id: 1, error: nil), .init(id: 2, error: "x")])
        let text = try ConfigValueEncoding.json(record)
        XCTAssertEqual(text, """
            {
              "name": "run",
              "lambda": 3.0,
              "steps": 3,
              "items": [
                {
                  "id": 1
                },
                {
                  "id": 2,
                  "error": "x"
                }
              ]
            }

            """)
        // Optional keys a file leaves out read back as nil.
        XCTAssertEqual(try ConfigValueEncoding.decode(Record.self, fromJSON: text), record)
    }
}
