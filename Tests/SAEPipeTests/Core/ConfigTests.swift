import EngineTestSupport
import Foundation
import SAEPipeCore
import XCTest

final class ConfigTests: XCTestCase {
    let loader = ConfigLoader(schema: TestPipeline.schema)

    func testYAMLAndJSONResolveToTheSameConfig() throws {
        let yaml = try loader.load(path: fixturePath("configs/full.yaml"))
        let json = try loader.load(path: fixturePath("configs/full.json"))
        XCTAssertEqual(yaml.value, json.value)
        XCTAssertEqual(yaml.value.canonicalJSON, json.value.canonicalJSON)
        XCTAssertEqual(yaml[path: "collect.tokens"], .int(80_000))
        XCTAssertEqual(yaml[path: "train.l1_coefficient"], .double(0.005))
        XCTAssertEqual(yaml[path: "train.layers"], .list([.int(1), .int(2), .int(3)]))
        XCTAssertEqual(yaml[path: "datasets.B.field"], .string("code"))
        // Defaults are filled in where the file is silent.
        XCTAssertEqual(yaml[path: "datasets.A.field"], .string("text"))
        XCTAssertEqual(yaml[path: "interpret.top_k"], .int(5))
        XCTAssertEqual(yaml[path: "paths.artifacts"], .string("artifacts"))
        // A quoted "yes" stays a string.
        XCTAssertEqual(yaml[path: "notes"], .string("yes"))
    }

    func testRunNameDefaultsToTheConfigFileName() throws {
        let directory = try temporaryDirectory(self)
        try write("seed: 3\n", to: "\(directory)/my-experiment.yaml")
        let config = try loader.load(path: "\(directory)/my-experiment.yaml")
        XCTAssertEqual(config[path: "run_name"], .string("my-experiment"))
    }

    func testRunNameMustBeOneSafePathComponent() throws {
        for (name, problem) in [("../../escape", "`/` would put it"), ("/etc/x", "`/` would put it"), ("..", "`.` and `..`"),
                                (".hidden", "hidden"), ("", "empty"), ("a b", "` ` is not allowed")] {
            let error = try loadError("seed: 1\nrun_name: \"\(name)\"\n")
            XCTAssertEqual(error.location?.line, 2, name)
            XCTAssertEqual(error.location?.column, 11, name)
            XCTAssertTrue(error.message.contains(problem), "\(name): \(error.message)")
        }
        XCTAssertEqual(try loader.load(path: try {
            let directory = try temporaryDirectory(self)
            try write("run_name: lr=3e-4,width-2\n", to: "\(directory)/c.yaml")
            return "\(directory)/c.yaml"
        }())[path: "run_name"], .string("lr=3e-4,width-2"))
    }

    func testUnknownKeyNamesLineColumnAndSuggestion() throws {
        let error = try loadError("train:\n  steps: 3\n  l1_coefficent: 4\n")
        XCTAssertEqual(error.location?.line, 3)
        XCTAssertEqual(error.location?.column, 3)
        XCTAssertEqual(error.keyPath, "train.l1_coefficent")
        XCTAssertTrue(error.message.contains("unknown key `train.l1_coefficent` — did you mean `l1_coefficient`?"), error.message)
        XCTAssertEqual(error.exitCode, 2)
    }

    func testUnknownKeyWithNoNearNameListsTheValidOnes() throws {
        let error = try loadError("interpret:\n  zzzzzz: 1\n")
        XCTAssertEqual(error.location?.line, 2)
        XCTAssertTrue(error.hint?.contains("top_k") ?? false)
    }

    func testYAMLSyntaxErrorNamesLineAndColumn() throws {
        let error = try loadError("seed: 1\ntrain:\n  steps: [1, 2\n  fail: true\n")
        XCTAssertNotNil(error.location)
        XCTAssertTrue(error.message.hasPrefix("syntax error"), error.message)
        XCTAssertTrue(error.location!.file.hasSuffix("config.yaml"))
        XCTAssertGreaterThanOrEqual(error.location!.line, 3)
    }

    func testJSONSyntaxErrorNamesLineAndColumn() throws {
        let error = try loadError("{\n  \"seed\": 1,\n  \"train\": {\"steps\": 2\n  \"fail\": true}\n}\n", name: "config.json")
        XCTAssertTrue(error.message.hasPrefix("syntax error"), error.message)
        XCTAssertTrue(error.location!.file.hasSuffix("config.json"))
        XCTAssertGreaterThanOrEqual(error.location!.line, 3)
    }

    func testTrailingContentAfterTheDocumentIsAnError() throws {
        let error = try loadError("{\"seed\": 1}\n}\n", name: "config.json")
        XCTAssertEqual(error.location?.line, 2)
        let second = try loadError("seed: 1\n---\nseed: 2\n")
        XCTAssertTrue(second.message.contains("one document"), second.message)
    }

    func testWrongTypesAreRejectedWhereTheyStand() throws {
        var error = try loadError("train:\n  steps: \"200\"\n")
        XCTAssertEqual(error.location?.line, 2)
        XCTAssertEqual(error.location?.column, 10)
        XCTAssertEqual(error.hint, "remove the quotes")
        error = try loadError("train:\n  steps: lots\n")
        XCTAssertTrue(error.message.contains("expected an integer"), error.message)
        error = try loadError("train:\n  steps: 0\n")
        XCTAssertTrue(error.message.contains("out of range"), error.message)
        error = try loadError("collect:\n  stream: mlp_outptu\n")
        XCTAssertTrue(error.message.contains("did you mean `mlp_output`"), error.message)
        error = try loadError("train: 3\n")
        XCTAssertTrue(error.message.contains("expected a mapping for `train`"), error.message)
        error = try loadError("datasets:\n  A: {field: x}\n")
        XCTAssertTrue(error.message.contains("missing required key `datasets.A.path`"), error.message)
        XCTAssertEqual(error.location?.line, 2)
        error = try loadError("seed: 1\nseed: 2\n")
        XCTAssertTrue(error.message.contains("duplicate key"), error.message)
        XCTAssertEqual(error.location?.line, 2)
    }

    func testOverridesAreTypedByTheSchema() throws {
        let path = fixturePath("configs/full.yaml")
        let config = try loader.load(path: path, overrides: ["train.l1_coefficient=9", "train.layers=[4, 5]", "datasets.C.path=x"])
        XCTAssertEqual(config[path: "train.l1_coefficient"], .double(9))
        XCTAssertEqual(config[path: "train.layers"], .list([.int(4), .int(5)]))
        XCTAssertEqual(config[path: "datasets.C.field"], .string("text"))

        XCTAssertThrowsError(try loader.load(path: path, overrides: ["train.l1_coefficent=9"])) { error in
            let error = error as! SAEPipeError
            XCTAssertTrue(error.location!.file.hasPrefix("--set[1]"))
            XCTAssertTrue(error.message.contains("did you mean `l1_coefficient`"), error.message)
        }
        XCTAssertThrowsError(try loader.load(path: path, overrides: ["seed=1", "train.steps=many"])) { error in
            let error = error as! SAEPipeError
            XCTAssertTrue(error.location!.file.hasPrefix("--set[2]"))
            XCTAssertEqual(error.location?.column, 13)
            XCTAssertEqual(error.keyPath, "train.steps")
        }
        XCTAssertThrowsError(try loader.load(path: path, overrides: ["novalue"]))
    }

    func testExtendsMergesSectionsAndKeepsTheChildsValues() throws {
        let config = try loader.load(path: fixturePath("configs/variant.yaml"))
        XCTAssertEqual(config[path: "seed"], .int(1))
        XCTAssertEqual(config[path: "train.l1_coefficient"], .double(2))
        XCTAssertEqual(config[path: "train.steps"], .int(75))
        XCTAssertEqual(config.sourceFiles.map { ($0 as NSString).lastPathComponent }, ["base.yaml", "variant.yaml"])
    }

    func testExtendsCycleAndMissingParentAreErrors() throws {
        let directory = try temporaryDirectory(self)
        try write("extends: b.yaml\n", to: "\(directory)/a.yaml")
        try write("extends: a.yaml\n", to: "\(directory)/b.yaml")
        XCTAssertThrowsError(try loader.load(path: "\(directory)/a.yaml")) { error in
            XCTAssertTrue((error as! SAEPipeError).message.contains("cycle"))
        }
        try write("seed: 2\nextends: nowhere.yaml\n", to: "\(directory)/c.yaml")
        XCTAssertThrowsError(try loader.load(path: "\(directory)/c.yaml")) { error in
            let error = error as! SAEPipeError
            XCTAssertEqual(error.location?.line, 2)
            XCTAssertEqual(error.location?.column, 10)
        }
    }

    func testResolvedConfigPrintsAsYAMLThatReadsBackTheSame() throws {
        let config = try loader.load(path: fixturePath("configs/full.yaml"))
        let directory = try temporaryDirectory(self)
        try write(config.value.yaml(docs: TestPipeline.schema.docs()), to: "\(directory)/resolved.yaml")
        let again = try loader.load(path: "\(directory)/resolved.yaml")
        XCTAssertEqual(again.value, config.value)
        try write(config.value.prettyJSON(), to: "\(directory)/resolved.json")
        XCTAssertEqual(try loader.load(path: "\(directory)/resolved.json").value, config.value)
    }

    func testSuggestionsUseEditDistance() {
        XCTAssertEqual(ConfigSchema.closest(to: "expanson", in: ["expansion", "d_sae"]), "expansion")
        XCTAssertNil(ConfigSchema.closest(to: "banana", in: ["expansion", "d_sae"]))
    }

    private func loadError(_ text: String, name: String = "config.yaml") throws -> SAEPipeError {
        let directory = try temporaryDirectory(self)
        try write(text, to: "\(directory)/\(name)")
        do {
            _ = try loader.load(path: "\(directory)/\(name)")
        } catch let error as SAEPipeError {
            return error
        }
        XCTFail("expected an error for:\n\(text)")
        throw SAEPipeError.runtime("no error")
    }
}
