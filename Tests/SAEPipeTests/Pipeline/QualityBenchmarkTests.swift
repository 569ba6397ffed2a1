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

    /// Runs start from the schema's defaults, or a config's sae and train sections, with --set on top;
    /// without --lr they use the base settings' learning rate.
    func testBaseSettingsComeFromTheConfigAndOverrides() throws {
        let directory = try temporaryDirectory(self)
        let defaults = try QualityBenchmark.baseSettings(config: nil, overrides: [])
        XCTAssertEqual(defaults, TrainSettings.defaults)
        let overridden = try QualityBenchmark.baseSettings(config: nil, overrides: ["train.lr_decay_fraction=0.5", "sae.expansion=4"])
        XCTAssertEqual(overridden.lrDecayFraction, 0.5)
        XCTAssertEqual(overridden.expansion, 4)
        XCTAssertThrowsError(try QualityBenchmark.baseSettings(config: nil, overrides: ["train.lr_decay_fraction=2"]), "out of range")
        XCTAssertThrowsError(try QualityBenchmark.baseSettings(config: nil, overrides: ["train.no_such_key=1"]), "unknown key")
        try """
            model: {name: gpt2, layer: 0}
            datasets: {A: {path: a.txt}, B: {path: b.txt}}
            train: {lr: 0.002, batch_size: 256}
            """.write(toFile: "\(directory)/c.yaml", atomically: true, encoding: .utf8)
        let fromConfig = try QualityBenchmark.baseSettings(config: "\(directory)/c.yaml", overrides: ["train.batch_size=128"])
        XCTAssertEqual(fromConfig.lr, 0.002)
        XCTAssertEqual(fromConfig.batchSize, 128, "--set wins over the file")
        let plan = QualityBenchmark.Plan(recipes: [.batchtopk], kValues: [8], l1Values: [], learningRates: [], tokens: 1000, features: nil,
                                         batchSize: nil, seed: 0)
        XCTAssertEqual(plan.runs(base: fromConfig).map(\.lr), [Double(Float(0.002))])
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

    func run(_ recipe: String, _ l0: Double, _ fve: Double, speed: Double = 1) -> QualityBenchmark.Run {
        QualityBenchmark.Run(recipe: recipe, level: l0, lr: 1e-3, l0: l0, fve: fve, mse: 0, deadFraction: 0, seconds: 1,
                             tokensPerSecond: speed, features: 8, trainingTokens: 8)
    }

    func testMarginsInterpolateSaepipesFrontierInLogL0AtTheAnchorsBestPoints() throws {
        let ours = [run("batchtopk", 10, 0.5), run("batchtopk", 100, 0.8), run("relu", 50, 0.6)]
        // The anchors' frontier pools every tool: sparsify's L0 40 point is beaten by SAELens' L0 30 one.
        let anchors = [run("saelens", 10, 0.45), run("saelens", 30, 0.62), run("sparsify", 40, 0.55), run("sparsify", 200, 0.9)]
        let margins = QualityBenchmark.margins(ours: ours, anchors: anchors)
        XCTAssertEqual(margins.map(\.anchor.l0), [10, 30, 200])
        XCTAssertEqual(try XCTUnwrap(margins[0].margin), 0.05, accuracy: 1e-12)
        // Between (10, 0.5) and (50, 0.6) — relu's point is on saepipe's pooled frontier — at log-position log(3)/log(5).
        let expected = 0.5 + 0.1 * log(3.0) / log(5.0)
        XCTAssertEqual(try XCTUnwrap(margins[1].saepipeFVE), expected, accuracy: 1e-12)
        XCTAssertNil(margins[2].saepipeFVE, "L0 200 is beyond saepipe's runs: not covered, not extrapolated")
        XCTAssertEqual(margins[2].nearest?.l0, 100, "to read directly: saepipe's frontier point nearest in L0")
        XCTAssertNil(margins[1].nearest)
        // Speed compares the fastest runs at a level both sides ran (k 10), never across levels: the
        // fastest anchor run overall (sparsify at k 40, 9 tok/s) is not in it.
        let timed = [run("sparsify", 40, 0.55, speed: 9), run("saelens", 30, 0.62, speed: 2), run("sparsify", 10, 0.3, speed: 4),
                     run("saelens", 10, 0.25, speed: 5)]
        let text = QualityBenchmark.comparisonText(ours: ours, anchors: timed)
        XCTAssertTrue(text.contains(String(format: "%+.3f", expected - 0.62)), text)
        let speedLines = text.split(separator: "\n").filter { $0.contains("×") }
        XCTAssertEqual(speedLines.count, 1, text)
        XCTAssertTrue(speedLines[0].hasPrefix("k 10"), text)
        XCTAssertTrue(speedLines[0].contains("saelens") && speedLines[0].contains("0.20×"), text)
        let unmatched = QualityBenchmark.comparisonText(ours: ours, anchors: [run("sparsify", 40, 0.55, speed: 9)])
        XCTAssertTrue(unmatched.contains("no level in common"), unmatched)
        XCTAssertFalse(unmatched.contains("×"), unmatched)
    }

    /// A run of one seed; runs of one configuration share `level` (else their L0).
    func seeded(_ recipe: String, _ l0: Double, _ fve: Double, seed: UInt64, level: Double? = nil) -> QualityBenchmark.Run {
        var r = run(recipe, l0, fve)
        (r.seed, r.level) = (seed, level ?? l0)
        return r
    }

    /// Several training seeds of one configuration are one point: their mean, with the sample
    /// standard deviation and the standard error; a seed listed twice counts once.
    func testSeedsOfOneConfigurationAverageWithTheirSpread() throws {
        let runs = [seeded("batchtopk", 10, 0.80, seed: 0, level: 8), seeded("batchtopk", 12, 0.82, seed: 1, level: 8),
                    seeded("batchtopk", 14, 0.84, seed: 2, level: 8), seeded("batchtopk", 14, 0.84, seed: 2, level: 8),
                    seeded("batchtopk", 100, 0.9, seed: 0)]
        let groups = QualityBenchmark.repeated(runs)
        XCTAssertEqual(groups.map(\.seeds), [3, 1])
        XCTAssertEqual(groups[0].mean.fve, 0.82, accuracy: 1e-12)
        XCTAssertEqual(groups[0].mean.l0, 12, accuracy: 1e-12)
        XCTAssertNil(groups[0].mean.seed)
        XCTAssertEqual(try XCTUnwrap(groups[0].fveDeviation), 0.02, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(groups[0].fveStandardError), 0.02 / 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertNil(groups[1].fveStandardError, "one seed: no spread")
        XCTAssertEqual(QualityBenchmark.frontier(runs)["batchtopk"]?.map(\.l0), [12, 100], "the frontier runs through means")

        // Anchors with two seeds at L0 12; saepipe's interpolation leans wholly on its L0-12 mean there.
        let anchors = [seeded("saelens", 12, 0.78, seed: 0), seeded("saelens", 12, 0.80, seed: 1)]
        let margin = try XCTUnwrap(QualityBenchmark.margins(ours: Array(runs.prefix(3)) + [seeded("batchtopk", 100, 0.9, seed: 0), seeded("batchtopk", 100, 0.92, seed: 1)],
                                                           anchors: anchors).first)
        XCTAssertEqual(margin.anchorSeeds, 2)
        XCTAssertEqual(try XCTUnwrap(margin.margin), 0.03, accuracy: 1e-12)
        let anchorSE = (0.0002 / 2).squareRoot()  // sd of {0.78, 0.80} is √0.0002, over √2
        XCTAssertEqual(try XCTUnwrap(margin.anchorStandardError), anchorSE, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(margin.marginStandardError), (anchorSE * anchorSE + 0.0004 / 3).squareRoot(), accuracy: 1e-12)
        // Between L0 12 and 100 both points' errors add in, weighted by the interpolation.
        let between = try XCTUnwrap(QualityBenchmark.margins(ours: Array(runs.prefix(3)) + [seeded("batchtopk", 100, 0.9, seed: 0), seeded("batchtopk", 100, 0.92, seed: 1)],
                                                            anchors: [seeded("saelens", 30, 0.8, seed: 0), seeded("saelens", 30, 0.8, seed: 1)]).first)
        let t = log(30.0 / 12) / log(100.0 / 12)
        let expected = ((1 - t) * (1 - t) * 0.0004 / 3 + t * t * 0.0002 / 2).squareRoot()
        XCTAssertEqual(try XCTUnwrap(between.saepipeStandardError), expected, accuracy: 1e-12)
        let single = try XCTUnwrap(QualityBenchmark.margins(ours: runs, anchors: anchors).first)
        XCTAssertNotNil(single.saepipeStandardError, "L0 12 is the three-seed mean itself")
        let text = QualityBenchmark.comparisonText(ours: Array(runs.prefix(3)), anchors: anchors)
        XCTAssertTrue(text.contains(String(format: "%+.3f", 0.03)) && text.contains(String(format: "%.4f", margin.marginStandardError!)), text)
    }

    func testTheCommandRepeatsEachConfigurationPerSeedOnOneSplit() throws {
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: 2000, d: 8, atoms: 16, perRow: 2, seed: 1, to: "\(directory)/acts")
        let plan = { (seeds: [UInt64]) -> QualityBenchmark.Plan in
            var plan = QualityBenchmark.Plan(recipes: [.batchtopk], kValues: [2, 4], l1Values: [], learningRates: [], tokens: 1000,
                                             features: nil, batchSize: nil, seed: 5)
            plan.trainingSeeds = seeds
            return plan
        }
        XCTAssertEqual(plan([]).runs(base: .defaults).map(\.settings.seed), [5, 5])
        XCTAssertEqual(plan([1, 2]).runs(base: .defaults).map(\.settings.seed), [1, 2, 1, 2])
        let result = try saepipe(["bench", "quality", "--acts", "acts", "--tokens", "8000", "--features", "16", "--batch", "64",
                                  "--recipes", "batchtopk", "--k", "2", "--seeds", "3,4", "--json", "runs.json", "--png", "f.png",
                                  "--split-out", "split.json"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        let runs = try JSONFile.read([QualityBenchmark.Run].self, from: "\(directory)/runs.json")
        XCTAssertEqual(runs.map(\.seed), [3, 4])
        XCTAssertNotEqual(runs[0].fve, runs[1].fve, "another seed, another initialization")
        XCTAssertEqual(try JSONFile.read(QualityBenchmark.Split.self, from: "\(directory)/split.json").seed, 0, "the split keeps --seed")
        XCTAssertTrue(result.out.contains("means over training seeds"), result.out)
        let repeatedSeed = try saepipe(["bench", "quality", "--acts", "acts", "--seeds", "1,1"], in: directory)
        XCTAssertNotEqual(repeatedSeed.status, 0)
        XCTAssertTrue(repeatedSeed.err.contains("--seeds"), repeatedSeed.err)
    }

    func testTheSplitFileListsExactlyTheHeldOutRowsAsRanges() throws {
        XCTAssertEqual(QualityBenchmark.Split.ranges(of: [0, 1, 2, 5, 7, 8]), [[0, 3], [5, 6], [7, 9]])
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: 2000, d: 8, atoms: 16, perRow: 2, seed: 1, to: "\(directory)/acts")
        try QualityBenchmark.writeSplit(activations: "\(directory)/acts", seed: 3, to: "\(directory)/split.json")
        let split = try JSONFile.read(QualityBenchmark.Split.self, from: "\(directory)/split.json")
        let dataset = try ActivationDataset(directory: "\(directory)/acts", split: TrainSettings.defaults.validation, seed: 3)
        XCTAssertEqual(split.heldOutRows, dataset.validation)
        XCTAssertEqual([split.rows, split.width], [2000, 8])
        XCTAssertEqual(split.format, "saepipe-split/1")
    }

    func testComparingWithAnotherToolsRunsNeedsNoRetraining() throws {
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: 2000, d: 8, atoms: 16, perRow: 2, seed: 1, to: "\(directory)/acts")
        try JSONFile.write([run("batchtopk", 8, 0.7), run("batchtopk", 32, 0.9)], to: "\(directory)/ours.json")
        // What scripts/bench-anchors.py writes: the same keys, plus level_name.
        let anchors = #"[{"recipe": "sparsify-topk", "level": 16.0, "level_name": "k", "lr": 0.01, "l0": 16.0, "fve": 0.75, "mse": 0.1,"# +
            #" "dead_fraction": 0.01, "seconds": 9.5, "tokens_per_s": 1000.0, "features": 8, "training_tokens": 8}]"#
        try anchors.write(toFile: "\(directory)/anchors.json", atomically: true, encoding: .utf8)
        let result = try saepipe(["bench", "quality", "--acts", "acts", "--runs", "ours.json", "--compare", "anchors.json",
                                  "--split-out", "split.json", "--png", "f.png"], in: directory)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("sparsify-topk  k 16"), result.out)
        let expected = 0.7 + 0.2 * 0.5  // L0 16 is halfway between 8 and 32 in log L0
        XCTAssertTrue(result.out.contains(String(format: "%+.3f", expected - 0.75)), result.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/split.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/f.png"))

        // Without --png or --json nothing is drawn: no figure appears in the working directory.
        let bare = try saepipe(["bench", "quality", "--acts", "acts", "--runs", "ours.json"], in: directory)
        XCTAssertEqual(bare.status, 0, bare.err)
        XCTAssertTrue(bare.out.contains("figure: none"), bare.out)
        let pngs = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".png") }
        XCTAssertEqual(pngs, ["f.png"])
    }

    func testTheFigureGoesBesideTheJSONUnlessPNGIsGiven() {
        XCTAssertEqual(QualityBenchmark.figurePath(png: "x/f.png", json: "runs.json"), "x/f.png")
        XCTAssertEqual(QualityBenchmark.figurePath(png: nil, json: "out/runs.json"), "out/runs.png")
        XCTAssertEqual(QualityBenchmark.figurePath(png: nil, json: "runs"), "runs.png")
        XCTAssertNil(QualityBenchmark.figurePath(png: nil, json: nil))
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
