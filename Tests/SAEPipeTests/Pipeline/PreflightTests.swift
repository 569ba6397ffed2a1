import EngineTestSupport
import Foundation
import SAEPipe
import SAEPipeCore
import XCTest

/// What `validate`, `status`, `--dry-run` and `run` catch before any work: every problem of a
/// config at once, in file order, each with file:line:col, the key and a suggestion.
final class PreflightTests: XCTestCase {
    func loadError(_ config: String, overrides: [String] = []) -> SAEPipeError? {
        do {
            _ = try Experiment.load(configPath: config, overrides: overrides)
            return nil
        } catch let error as SAEPipeError {
            return error
        } catch {
            XCTFail("not a SAEPipeError: \(error)")
            return nil
        }
    }

    func line(_ text: String, containing needle: String) -> Int {
        text.components(separatedBy: "\n").firstIndex { $0.contains(needle) }! + 1
    }

    func testLayerPastTheModelIsCaughtWithItsLocation() throws {
        let (directory, config) = try makeTinyProject(self)
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let error = try XCTUnwrap(loadError(config, overrides: ["model.layer=99"]))
        XCTAssertEqual(error.keyPath, "model.layer")
        XCTAssertEqual(error.location?.file, "--set[1] 'model.layer=99'")
        XCTAssertTrue(error.message.contains("the model has 2 layers (0…1)"), error.message)
        XCTAssertEqual(error.hint, "use a layer from 0 to 1")
        // Written in the file, the error points at the file's line and column.
        try write(text.replacingOccurrences(of: "layer: 1,", with: "layer: 99,"), to: config)
        let inFile = try XCTUnwrap(loadError(config))
        XCTAssertEqual(inFile.location?.file, config)
        XCTAssertEqual(inFile.location?.line, line(text, containing: "model:"))
        XCTAssertTrue("\(inFile)".hasPrefix("\(config):\(line(text, containing: "model:")):"), "\(inFile)")
        XCTAssertTrue(FileSystem.listFiles(in: "\(directory)/artifacts").isEmpty, "nothing ran")
    }

    func testAMissingModelAndDatasetAreReportedTogetherInFileOrder() throws {
        let (directory, config) = try makeTinyProject(self)
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: fixturePath("tiny-neox"), with: fixturePath("tiny-neoxx"))
            .replacingOccurrences(of: "\(directory)/prose.txt", with: "\(directory)/pros.txt")
        try write(text, to: config)
        let error = try XCTUnwrap(loadError(config))
        let all = error.all
        XCTAssertEqual(all.map(\.keyPath), ["model.name", "datasets.A.path"], "\(error)")
        XCTAssertEqual(all.map { $0.location?.line }, [line(text, containing: "model:"), line(text, containing: "A: {path")])
        XCTAssertEqual(all[0].hint, "did you mean \(fixturePath("tiny-neox"))?")
        XCTAssertEqual(all[1].hint, "did you mean \(directory)/prose.txt?")
        XCTAssertTrue("\(error)".hasSuffix("2 problems"), "\(error)")
        XCTAssertEqual(error.exitCode, 2)
    }

    func testSchemaErrorsAreAllReportedWithUsefulSuggestions() throws {
        let (_, config) = try makeTinyProject(self, extraConfig: """
            train:
              tokens: "lots"
              l1: 3
            sae:
              expansoin: 4
              activation: "relu"
              d_sae: "64"

            """)
        let error = try XCTUnwrap(loadError(config))
        let all = error.all
        XCTAssertEqual(all.map(\.keyPath), ["train.tokens", "train.l1", "sae.expansoin", "sae.d_sae"], "\(error)")
        XCTAssertEqual(all[0].hint, "use an integer in 1...10000000000", "no \"remove the quotes\" for text that is not a number")
        XCTAssertTrue(all[1].message.contains("did you mean `l1_coefficient` or `l1_warmup_fraction`?"), all[1].message)
        XCTAssertTrue(all[2].message.contains("did you mean `expansion`?"), all[2].message)
        XCTAssertEqual(all[3].hint, "remove the quotes", "a quoted number gets the hint that fixes it")
        XCTAssertEqual(all.map { $0.location!.line }, all.map { $0.location!.line }.sorted())
    }

    func testHalfWrittenDatasetBIsNotAOneDatasetRun() throws {
        let (_, config) = try makeTinyProject(self)
        let error = try XCTUnwrap(loadError(config, overrides: ["datasets.B.path=null"]))
        XCTAssertEqual(error.keyPath, "datasets.B")
        XCTAssertTrue(error.message.contains("`field`") && error.hint!.contains("remove `datasets.B`"), "\(error)")
        XCTAssertNil(loadError(config, overrides: ["datasets.B=null"]), "no B at all is a one-dataset run")
    }

    func testOutputPathsMustBeDirectoriesSaepipeCanWrite() throws {
        let (directory, config) = try makeTinyProject(self)
        try write("a file\n", to: "\(directory)/occupied")
        let error = try XCTUnwrap(loadError(config, overrides: ["paths.outputs=\(directory)/occupied/runs"]))
        XCTAssertEqual(error.keyPath, "paths.outputs")
        XCTAssertTrue(error.message.contains("is a regular file"), error.message)
    }

    func testMissingConfigFilesAndDatasetAGetLocationsAndSuggestions() throws {
        let (directory, config) = try makeTinyProject(self)
        let misspelt = (config as NSString).deletingPathExtension + "s.yaml"
        let missing = try XCTUnwrap(loadError(misspelt))
        XCTAssertEqual(missing.hint, "did you mean \(config)?", "\(missing)")
        let noA = try XCTUnwrap(loadError(config, overrides: ["datasets.A=null"]))
        XCTAssertEqual(noA.keyPath, "datasets.A")
        XCTAssertEqual(noA.location?.file, "--set[1] 'datasets.A=null'", "\(noA)")
        XCTAssertTrue(FileSystem.listFiles(in: "\(directory)/artifacts").isEmpty)
    }
}
