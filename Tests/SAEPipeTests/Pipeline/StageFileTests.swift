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
        XCTAssertEqual(Set(slice(.interpret(.A))[path: "datasets.B"].mapValue!.keys), ["label"])
        XCTAssertEqual(Set(slice(.viz).mapValue!.keys), ["viz", "datasets"])

        // A label change reaches the stages that show labels, not collect or train.
        let relabelled = try Experiment.load(configPath: config, overrides: ["datasets.A.label=novels"])
        let keys = { (experiment: Experiment) in Dictionary(uniqueKeysWithValues: try experiment.runner().plan().map { ($0.stage.id, $0.key) }) }
        let (before, after) = (try keys(experiment), try keys(relabelled))
        for id in [StageID.collect(.A), .train(.A), .collect(.B), .eval] { XCTAssertEqual(before[id], after[id], "\(id)") }
        for id in [StageID.interpret(.A), .interpret(.B), .viz] { XCTAssertNotEqual(before[id], after[id], "\(id)") }
    }

    func testResultsRoundTripWithTheirKeys() throws {
        let evaluation = SAEEvaluation(mse: 0.25, fve: 0.75, l0: 12.5, l1: 3, deadFraction: 0.125, rows: 40)
        var eval: [SAEPair: EvalResults.PairMetrics] = [:]
        for pair in SAEPair.all {
            // Zeroing leaves A->B's loss unchanged: CE recovered is undefined there and must be null.
            let zero = pair == SAEPair(.A, .B) ? 3.0 : 4.0
            eval[pair] = EvalResults.PairMetrics(reconstruction: evaluation, denseFraction: 0, ceClean: 3, ceSAE: 3.5, ceZero: zero,
                                                 l0Histogram: [1, 2])
        }
        let results = EvalResults(model: "m", hook: "layers.3.mlp_out", eval: eval)
        XCTAssertEqual(results.eval[SAEPair(.A, .A)]?.ceRecovered, 0.5)
        XCTAssertNil(results.eval[SAEPair(.A, .B)]?.ceRecovered)
        let text = String(decoding: try JSONFile.encode(results), as: UTF8.self)
        for key in ["\"A->B\"", "\"cross_domain\"", "\"ce_recovered\" : null", "\"dead_fraction\"", "\"l0_histogram\"", "\"baseline\" : \"B->B\"", "\"ce_recovered_drop\" : null"] {
            XCTAssertTrue(text.contains(key), "results.json has \(key)")
        }
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
