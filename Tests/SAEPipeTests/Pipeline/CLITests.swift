import Foundation
import SAEPipe
import SAEPipeCore
import XCTest

/// The command line as a newcomer meets it: help with examples, stage ids listed, shell
/// completion scripts, and an error printed once with its location.
final class CLITests: XCTestCase {
    /// Runs the built saepipe; returns exit status, stdout and stderr.
    func saepipe(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let result = try Subprocess.run(builtProductsDirectory().appendingPathComponent("saepipe").path, arguments, in: directory)
        return (result.status, result.output, result.error)
    }

    func testEveryCommandsHelpHasExamples() throws {
        for command in [["run"], ["runs"], ["status"], ["dag"], ["validate"], ["config-reference"], ["export"], ["sweep"],
                        ["tokenize"], ["forward"], ["model", "info"], ["bench"]] {
            let help = try saepipe(command + ["--help"])
            XCTAssertEqual(help.status, 0, "\(command)")
            XCTAssertTrue(help.out.contains("Examples:"), "\(command): \(help.out)")
        }
        let run = try saepipe(["run", "--help"]).out
        XCTAssertTrue(run.contains("<run_name>-<hash>") && run.contains("collect.A, train.A"), run)
        XCTAssertTrue(run.contains("--only <stage>") && run.contains("interpret.B, eval, viz"), "valid stage ids are listed: \(run)")
        XCTAssertTrue(try saepipe(["export", "--help"]).out.contains("sweep"))
    }

    func testCompletionScriptsCompleteConfigsStagesAndKeys() throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try saepipe(["--generate-completion-script", shell])
            XCTAssertEqual(script.status, 0, shell)
            XCTAssertTrue(script.out.contains("interpret.B"), "\(shell): stage ids after --only/--from/--until/--force")
            XCTAssertTrue(script.out.contains("yaml"), "\(shell): config files")
        }
        let keys = ExperimentSchema.schema.keyPaths()
        for key in ["train.l1_coefficient", "datasets.B.path", "model.layer", "sweep.name"] { XCTAssertTrue(keys.contains(key), key) }
        // --set values are completed by the binary itself, from the schema.
        // The shells call `saepipe ---completion SUBCOMMAND -- OPTION WORD-INDEX CURSOR WORDS…`.
        let completed = try saepipe(["---completion", "run", "--", "--set", "4", "8", "saepipe", "run", "c.yaml", "--set", "train.l1"])
        XCTAssertTrue(completed.out.contains("train.l1_coefficient="), "\(completed)")
    }

    func testREADMEHoldsTheCurrentConfigReference() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../README.md").standardized
        let text = try String(contentsOf: readme, encoding: .utf8)
        XCTAssertTrue(text.contains(ExperimentSchema.schema.markdownReference()),
                      "README.md's config reference is stale: paste `saepipe config-reference` into its Configs section")
    }

    func testAnErrorIsPrintedOnceWithItsLocation() throws {
        let (directory, config) = try makeTinyProject(self)
        let result = try saepipe(["run", config, "--set", "model.layer=99"], in: directory)
        XCTAssertEqual(result.status, 2, result.err)
        XCTAssertEqual(result.err.components(separatedBy: "layer 99 does not exist").count, 2, "printed once:\n\(result.err)")
        XCTAssertTrue(result.err.contains("--set[1] 'model.layer=99':1:13: error: model.layer:"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/artifacts/cache/collect"), "nothing ran")
    }
}
