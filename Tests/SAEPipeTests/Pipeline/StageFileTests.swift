import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeSAE
import XCTest

/// The typed seams: each stage's config slice is what its settings read, and the files stages
/// hand each other round-trip through their one Codable type with the keys docs/formats.md names.
final class StageFileTests: XCTestCase {
    func testStageSlicesHoldWhatEachStageReads() throws {
        let (_, config) = try makeTinyProject(self)
        let experiment = try Experiment.load(configPath: config)
        let slice = { (id: StageID) in experiment.graph.stage(id)!.config }
        let collect = slice(.collect(.A))
        XCTAssertEqual(Set(collect.mapValue!.keys), ["seed", "model", "collect", "datasets"])
        XCTAssertEqual(Set(collect["datasets"].mapValue!.keys), ["A"], "collect.A reads only its own dataset")
        XCTAssertNil(collect[path: "datasets.A"].mapValue!["label"], "the display label does not change activations")
        XCTAssertEqual(Set(slice(.train(.B)).mapValue!.keys), ["seed", "sae", "train"])
        XCTAssertEqual(Set(slice(.eval)[path: "train"].mapValue!.keys), ["validation_fraction", "max_validation_rows"])
        // Interpret shows labels, and whether B is there decides what it compares.
        XCTAssertEqual(Set(slice(.interpret(.A))[path: "datasets.B"].mapValue!.keys), ["label", "path", "hub"])
        XCTAssertEqual(Set(slice(.viz).mapValue!.keys), ["viz", "datasets", "sae", "train", "seed"], "the subtitles name the SAE and its budget; the feature map is seeded")

        // A label change reaches the stages that show labels, not collect or train.
        let relabelled = try Experiment.load(configPath: config, overrides: ["datasets.A.label=novels"])
        let keys = { (experiment: Experiment) in Dictionary(uniqueKeysWithValues: try experiment.runner().plan().map { ($0.stage.id, $0.key) }) }
        let (before, after) = (try keys(experiment), try keys(relabelled))
        for id in [StageID.collect(.A), .train(.A), .collect(.B), .eval] { XCTAssertEqual(before[id], after[id], "\(id)") }
        for id in [StageID.interpret(.A), .interpret(.B), .viz] { XCTAssertNotEqual(before[id], after[id], "\(id)") }
    }

    func testResultsRoundTripWithTheirKeys() throws {
        var unit = ReconstructionSums(d: 2, features: 3)
        (unit.rows, unit.squaredError, unit.squares, unit.sum) = (4, 1, 10, [1, 1])
        (unit.cosine, unit.l2Ratio, unit.reconstructionSquares, unit.dot, unit.l0, unit.l1, unit.fired) = (3.6, 3.2, 8, 8.5, 6, 9, [4, 1, 0])
        let reconstruction = ReconstructionMetrics([unit], denseThreshold: 0.5)
        XCTAssertEqual(reconstruction.deadFraction, 1.0 / 3)
        XCTAssertEqual(reconstruction.denseFraction, 1.0 / 3)
        let counts = EvalResults.Counts(windows: 3, tokens: 381, rows: 4, rowWindows: 1)
        var eval: [SAEPair: EvalResults.PairMetrics] = [:]
        for pair in SAEPair.all {
            // A->B's zero-ablation effect is not measurable: CE recovered must be null with a note.
            let measurable = pair != SAEPair(.A, .B)
            let losses = EvalResults.LossSummary(
                ceClean: 3, ceSAE: 3.5, ceZero: 4, klSAE: 0.1, klZero: 0.4, ceRecovered: measurable ? 0.5 : nil,
                ceRecoveredNote: measurable ? nil : "too small", klScore: 0.75, klScoreNote: nil)
            eval[pair] = EvalResults.PairMetrics(reconstruction: reconstruction, losses: losses, l0Histogram: [1, 2],
                                                 intervals: ["fve": [0.8, 0.95]], counts: counts)
        }
        let transfer = EvalResults.Transfer(fveDrop: 0.1, fveRetained: 0.9, mseRatio: nil, ceRecoveredDrop: nil, ceLossDifference: 0.2,
                                            baseline: SAEPair(.B, .B), intervals: ["fve_drop": [0.05, 0.15]])
        let results = EvalResults(
            model: "m", hook: "layers.3.mlp_out", eval: eval, crossDomain: [SAEPair(.A, .B): transfer],
            generalization: [.A: .init(trainFVE: 0.8, heldoutFVE: 0.7, trainL0: 30, heldoutL0: 31, passes: 3, intervals: [:])],
            health: [HealthIssue(code: "overfitting", severity: .warning, message: "m", pairOrSide: "A")], datasetRows: [.A: 100, .B: 90],
            bootstrap: .init(resamples: 1000, unit: "held-out window", level: 0.95))
        let text = String(decoding: try JSONFile.encode(results), as: UTF8.self)
        for key in ["\"A->B\"", "\"cross_domain\"", "\"ce_recovered\" : null", "\"ce_recovered_note\" : \"too small\"",
                    "\"dead_fraction\"", "\"l0_histogram\"", "\"baseline\" : \"B->B\"", "\"ce_recovered_drop\" : null",
                    "\"cosine_similarity\"", "\"l2_ratio\"", "\"relative_reconstruction_bias\"", "\"frac_firing_gt_1pct\"",
                    "\"frac_firing_gt_10pct\"", "\"kl_div_sae\"", "\"kl_div_zero\"", "\"kl_score\"", "\"intervals\"",
                    "\"counts\"", "\"generalization\"", "\"heldout_fve\"", "\"health\"", "\"pair_or_side\""] {
            XCTAssertTrue(text.contains(key), "results.json has \(key)")
        }
        XCTAssertEqual(eval[SAEPair(.A, .A)]!.withInterval("fve", 0.875), "0.875 ± 0.075")
        let directory = try temporaryDirectory(self)
        try JSONFile.write(results, to: "\(directory)/\(EvalResults.fileName)")
        XCTAssertEqual(try EvalResults.read(runDirectory: directory), results)
    }

    func testActivationMetaOfASyntheticSetHasNoWindows() throws {
        let directory = try temporaryDirectory(self)
        try TrainBenchmark.writeSyntheticActivations(rows: 10, d: 4, atoms: 3, perRow: 1, seed: 1, to: directory)
        let meta = try ActivationSetMeta.read(directory: directory)
        XCTAssertEqual(meta.shape, [10, 4])
        XCTAssertNil(meta.windows)
        XCTAssertNil(meta.provenance)
        try "{\"dtype\": \"int8\", \"shape\": [10, 4]}".write(toFile: "\(directory)/meta.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ActivationSetMeta.read(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("meta.json"), "\(error)")
        }
    }

    func testTrainingMetricsRefuseAnotherHeader() throws {
        let directory = try temporaryDirectory(self)
        let metrics = TrainingMetrics(lines: [TrainingMetrics.line(
            step: 10, tokens: 1000, loss: 1.5, mse: 0.2, l1: 3, l0: 20, fve: 0.6, deadFraction: 0, lr: 1e-3, lambda: 3, tokensPerSecond: 999)])
        try metrics.csv().write(toFile: "\(directory)/m.csv", atomically: true, encoding: .utf8)
        let rows = try TrainingMetrics.read("\(directory)/m.csv")
        XCTAssertEqual(rows.first?[.fve], 0.6)
        XCTAssertEqual(rows.first?[.tokensPerSecond], 999)
        try "step,tokens,fve\n1,2,3\n".write(toFile: "\(directory)/old.csv", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingMetrics.read("\(directory)/old.csv"))
    }
}
