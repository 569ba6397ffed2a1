import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeSAE
import XCTest

/// `saepipe bench quality`: every recipe × level trains on the same held-out split, the table
/// marks each recipe's frontier, and the JSON, figure and errors are what the README says.
final class QualityBenchmarkTests: XCTestCase {
    func saepipe(_ arguments: [String], in directory: String) throws -> (status: Int32, out: String, err: String) {
        let result = try Subprocess.run(builtProductsDirectory().appendingPathComponent("saepipe").path, arguments, in: directory)
        return (result.status, result.output, result.error)
    }

    func testTheFrontierKeepsOnlyUndominatedRunsPerRecipe() {
        func run(_ recipe: String, _ l0: Double, _ fve: Double) -> QualityBenchmark.Run {
            QualityBenchmark.Run(recipe: recipe, level: l0, lr: 1e-3, l0: l0, fve: fve, mse: 0, deadFraction: 0, seconds: 1,
                                 tokensPerSecond: 1, features: 8, trainingTokens: 8)
        }
        let runs = [run("relu", 10, 0.5), run("relu", 20, 0.4), run("relu", 30, 0.7), run("topk", 20, 0.1)]
        let frontier = QualityBenchmark.frontier(runs)
        XCTAssertEqual(frontier["relu"]?.map(\.l0), [10, 30], "L0 20 at FVE 0.4 is beaten by L0 10 at 0.5")
        XCTAssertEqual(frontier["topk"]?.map(\.l0), [20], "recipes are compared only with themselves")
    }

    func testTheCommandTrainsEveryRecipeAndWritesJSONAndAFigure() throws {
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: 3000, d: 16, atoms: 48, perRow: 3, seed: 4, to: "\(directory)/acts")
        let result = try saepipe(["bench", "quality", "--acts", "acts", "--tokens", "40000", "--features", "64", "--batch", "64",
                                  "--recipes", "relu,topk,batchtopk,jumprelu", "--k", "4,8", "--l1", "0.5", "--l0", "0.1", "--lr", "3e-3",
                                  "--json", "runs.json", "--png", "frontier.png"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        let runs = try JSONDecoder().decode([QualityBenchmark.Run].self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/runs.json")))
        XCTAssertEqual(runs.map(\.recipe), ["relu", "topk", "topk", "batchtopk", "batchtopk", "jumprelu"])
        XCTAssertEqual(runs.map(\.level), [0.5, 4, 8, 4, 8, 0.1])
        for run in runs {
            XCTAssertGreaterThan(run.fve, 0.3, "\(run.recipe) \(run.levelText) learned")
            XCTAssertEqual(run.features, 64)
            XCTAssertEqual(run.lr, 3e-3)
            XCTAssertGreaterThan(run.seconds, 0)
        }
        XCTAssertEqual(runs[1].l0, 4, accuracy: 1e-9, "topk's held-out L0 is k")
        XCTAssertLessThan(runs[1].fve, runs[2].fve, "more features per token, more variance explained")
        let keys = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/runs.json"))) as! [[String: Any]]
        for key in ["recipe", "l0", "fve", "dead_fraction", "seconds"] { XCTAssertNotNil(keys[0][key], key) }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/frontier.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(result.out.contains("recipe"), result.out)
        XCTAssertEqual(result.out.split(separator: "\n").filter { $0.hasPrefix("topk ") }.count, 2, result.out)
    }

    func testBadOptionsSayWhatToFix() throws {
        let directory = try temporaryDirectory(self)
        let recipe = try saepipe(["bench", "quality", "--acts", "acts", "--recipes", "relu,gated"], in: directory)
        XCTAssertNotEqual(recipe.status, 0)
        XCTAssertTrue(recipe.err.contains("--recipes"), recipe.err)
        let missing = try saepipe(["bench", "quality", "--acts", "nowhere"], in: directory)
        XCTAssertEqual(missing.status, 2, missing.err)
        XCTAssertTrue(missing.err.contains("nowhere"), missing.err)
    }
}
