import EngineTestSupport
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine
import SAEPipeSAE
import XCTest

/// `saepipe sweep` on the tiny GPT-NeoX project: variants, the shared cache, the summary,
/// resume after a kill, failures, random search and errors.
final class SweepTests: XCTestCase {
    static let training = "sae: {expansion: 2}\ntrain: {tokens: 2000, batch_size: 100, lr_warmup_steps: 2}\neval: {sequences: 2}\n"

    func project(sweep: String) throws -> (directory: String, config: String) {
        try makeTinyProject(self, extraConfig: SweepTests.training + sweep)
    }

    static let twoKeys = """
        sweep:
          name: grid
          until: eval
          grid:
            train.l1_coefficient: [1, 4]
            sae.expansion: [2, 3]
        """

    func entries(_ directory: String, _ kind: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/artifacts/cache/\(kind)")) ?? [])
            .filter { !$0.hasSuffix(".lock") && !$0.hasPrefix(".") }
    }

    func summary(_ directory: String, _ name: String) throws -> Table {
        try XCTUnwrap(Table.parseCSV(try String(contentsOfFile: "\(directory)/outputs/sweeps/\(name)/summary.csv", encoding: .utf8)))
    }

    func testGridOverTwoKeysSharesUpstreamAndSummarizesEachVariant() throws {
        let (directory, config) = try project(sweep: SweepTests.twoKeys)
        let definition = try SweepDefinition.load(configPath: config)
        XCTAssertEqual(definition.variants.map(\.name), ["l1_coefficient=1,expansion=2", "l1_coefficient=1,expansion=3",
                                                        "l1_coefficient=4,expansion=2", "l1_coefficient=4,expansion=3"])
        let outcomes = try SweepRunner(definition).run()
        XCTAssertEqual(outcomes.map(\.status), Array(repeating: .finished, count: 4))
        // Collect ran once for the whole sweep; training ran per variant; nothing after eval.
        let ran = outcomes.flatMap(\.ranStages)
        XCTAssertEqual(ran.filter { $0.rawValue.hasPrefix("collect.") }.sorted(), ["collect.A", "collect.B"])
        XCTAssertEqual(ran.filter { $0.rawValue.hasPrefix("train.") }.count, 8)
        XCTAssertFalse(ran.contains("viz"))
        XCTAssertEqual(entries(directory, "collect").count, 2)
        XCTAssertEqual(entries(directory, "train").count, 8)

        let table = try summary(directory, "grid")
        XCTAssertEqual(table.rows.count, 4)
        let column = { (name: String) in try XCTUnwrap(table.header.firstIndex(of: name), name) }
        for (row, variant) in zip(table.rows, definition.variants) {
            XCTAssertEqual(row[try column("variant")], variant.name)
            XCTAssertEqual(row[try column("status")], "complete")
            let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
                "\(directory)/outputs/sweeps/grid/\(variant.name)/results.json"))) as! [String: Any]
            let eval = results["eval"] as! [String: [String: Any]]
            let metric = { (pair: String, name: String) in try XCTUnwrap(eval[pair]?[name] as? Double, "\(pair) \(name)") }
            XCTAssertEqual(Double(row[try column("A.fve")])!, try metric("A->A", "fve"), accuracy: 1e-4)
            XCTAssertEqual(Double(row[try column("B.l0")])!, try metric("B->B", "l0"), accuracy: 1e-2)
            XCTAssertEqual(Double(row[try column("A->B.fve")])!, try metric("A->B", "fve"), accuracy: 1e-4)
            // The variant ran with its own values.
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
                "\(directory)/outputs/sweeps/grid/\(variant.name)/manifest.json"))) as! [String: Any]
            let resolved = manifest["config"] as! [String: Any]
            XCTAssertEqual((resolved["sae"] as! [String: Any])["expansion"] as? Int, variant.value(of: "sae.expansion").intValue)
            XCTAssertEqual(Int(row[try column("sae.expansion")]), variant.value(of: "sae.expansion").intValue)
        }
        // Wider dictionaries at the same λ reconstruct at least as well here; λ = 4 is sparser than λ = 1.
        let l0 = try table.rows.map { Double($0[try column("A.l0")])! }
        XCTAssertLessThan(l0[2], l0[0])
        for figure in ["frontier_l0_fve", "frontier_l0_ce_recovered", "fve_vs_train.l1_coefficient", "l0_vs_sae.expansion"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/sweeps/grid/figures/\(figure).png"), figure)
        }

        // A rerun does no work and writes the same summary.
        let before = try String(contentsOfFile: "\(directory)/outputs/sweeps/grid/summary.csv", encoding: .utf8)
        let again = try SweepRunner(try SweepDefinition.load(configPath: config)).run()
        XCTAssertEqual(again.map(\.status), Array(repeating: .done, count: 4))
        XCTAssertEqual(try String(contentsOfFile: "\(directory)/outputs/sweeps/grid/summary.csv", encoding: .utf8), before)

        // Export: report, summary, figures and one bundle per variant.
        let bundle = "\(directory)/bundle"
        try BlogExport.export(run: "\(directory)/outputs/sweeps/grid", to: bundle, artifacts: "\(directory)/artifacts")
        let report = try String(contentsOfFile: "\(bundle)/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("| l1_coefficient=4,expansion=3 | complete |"), report)
        XCTAssertTrue(report.contains("](figures/frontier_l0_fve.png)"))
        XCTAssertTrue(report.contains("L0–FVE frontier"))
        for variant in definition.variants {
            XCTAssertTrue(FileSystem.exists("\(bundle)/variants/\(variant.name)/report.md"), variant.name)
        }
        let html = try String(contentsOfFile: "\(bundle)/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data:image/png;base64,"))
    }

    /// A sweep over every layer writes a per-layer table and heatmaps; the MMCS between adjacent
    /// layers is the one FeatureMatching computes from the two variants' checkpoints.
    func testASweepOverLayersSummarizesEachLayerAndAdjacentLayersMMCS() throws {
        let (directory, config) = try project(sweep: "sweep: {name: layers, until: eval, grid: {model.layer: all}}")
        let definition = try SweepDefinition.load(configPath: config)
        XCTAssertEqual(try SweepRunner(definition).run().map(\.status), [.finished, .finished])
        XCTAssertEqual(entries(directory, "collect").count, 2, "one forward pass per dataset wrote both layers")
        let sweep = "\(directory)/outputs/sweeps/layers"
        let table = try XCTUnwrap(Table.parseCSV(try String(contentsOfFile: "\(sweep)/layers.csv", encoding: .utf8)))
        let column = { (name: String) in try XCTUnwrap(table.header.firstIndex(of: name), name) }
        XCTAssertEqual(table.rows.map { $0[0] }, ["0", "1"])
        for (row, variant) in zip(table.rows, definition.variants) {
            let results = try XCTUnwrap(try EvalResults.read(runDirectory: "\(sweep)/\(variant.name)"))
            XCTAssertEqual(Double(row[try column("A.fve")])!, results.eval[SAEPair(.A, .A)]!.fve, accuracy: 1e-4)
            XCTAssertEqual(Double(row[try column("B.l0")])!, results.eval[SAEPair(.B, .B)]!.l0, accuracy: 1e-2)
        }
        XCTAssertEqual(table.rows[0][try column("A.mmcs_to_previous")], "", "the first layer has no previous one")
        let saes = try definition.variants.map { try RunManifest.read(runDirectory: "\(sweep)/\($0.name)").entries("saes") }
        let first = try SAECheckpoint.readSAELens(try XCTUnwrap(saes[0]["A"])).0
        let second = try SAECheckpoint.readSAELens(try XCTUnwrap(saes[1]["A"])).0
        let expected = try FeatureMatching(second, first)
        XCTAssertEqual(Double(table.rows[1][try column("A.mmcs_to_previous")])!, expected.mmcsForward, accuracy: 1e-4)
        XCTAssertEqual(Double(table.rows[1][try column("A.mmcs_from_previous")])!, expected.mmcsBackward, accuracy: 1e-4)
        XCTAssertLessThan(expected.mmcsForward, 1, "different layers' SAEs are different dictionaries")
        for side in ["A", "B"] {
            let png = try Data(contentsOf: URL(fileURLWithPath: "\(sweep)/figures/layers_\(side).png"))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], side)
        }
        XCTAssertTrue(try String(contentsOfFile: "\(sweep)/layers.md", encoding: .utf8).contains("| 1 |"))
    }

    /// Two keys; the helper process SIGKILLs itself inside the second variant's train.B, after
    /// the first variant finished; a rerun skips the first, finishes the rest, and never recollects.
    func testRerunAfterAKilledVariantFinishesTheRest() throws {
        let (directory, config) = try project(sweep: """
            sweep:
              name: resume
              until: eval
              grid: {train.l1_coefficient: [1, 4], sae.expansion: [2, 3]}
            """)
        let helper = Process()
        helper.executableURL = builtProductsDirectory().appendingPathComponent("EngineTestHelper")
        helper.arguments = ["sweep", config, "l1_coefficient=1,expansion=3", "train.B"]
        helper.currentDirectoryURL = URL(fileURLWithPath: directory)
        helper.standardOutput = FileHandle.nullDevice
        helper.standardError = FileHandle.nullDevice
        try helper.run()
        helper.waitUntilExit()
        XCTAssertEqual(helper.terminationReason, .uncaughtSignal)
        XCTAssertEqual(helper.terminationStatus, SIGKILL)

        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            "\(directory)/outputs/sweeps/resume/sweep.json"))) as! [String: Any]
        let statuses = (state["variants"] as! [[String: Any]]).map { $0["status"] as! String }
        XCTAssertEqual(statuses, ["finished", "running", "pending", "pending"])
        XCTAssertFalse(FileSystem.exists("\(directory)/outputs/sweeps/resume/l1_coefficient=1,expansion=3/manifest.json"))
        XCTAssertTrue(((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/artifacts/cache/train")) ?? []).contains { $0.hasPrefix(".tmp-") },
                      "the killed stage's output was left uncommitted")

        let outcomes = try SweepRunner(try SweepDefinition.load(configPath: config)).run()
        XCTAssertEqual(outcomes.map(\.status), [.done, .finished, .finished, .finished])
        XCTAssertEqual(outcomes[1].ranStages.sorted(), ["eval", "train.B"], "only the killed stage and what follows it rerun")
        XCTAssertFalse(outcomes.flatMap(\.ranStages).contains { $0.rawValue.hasPrefix("collect.") })
        XCTAssertEqual(entries(directory, "collect").count, 2)
        let table = try summary(directory, "resume")
        XCTAssertEqual(table.rows.map { $0[1] }, ["complete", "complete", "complete", "complete"])
    }

    func testConcurrentVariantsComputeSharedStagesOnce() throws {
        let (directory, config) = try project(sweep: "sweep: {name: jobs, until: train, grid: {train.lr: [0.001, 0.002, 0.004]}}")
        let outcomes = try SweepRunner(try SweepDefinition.load(configPath: config), jobs: 2).run()
        XCTAssertEqual(outcomes.map(\.status), [.finished, .finished, .finished])
        // Two variants start together and need the same collect entries: one computes, the other waits and reuses.
        XCTAssertEqual(outcomes.flatMap(\.ranStages).filter { $0.rawValue.hasPrefix("collect.") }.sorted(), ["collect.A", "collect.B"])
        XCTAssertEqual(outcomes.flatMap(\.ranStages).filter { $0.rawValue.hasPrefix("train.") }.count, 6)
        XCTAssertEqual(entries(directory, "collect").count, 2)
    }

    func testAFailedVariantIsReportedAndTheOthersFinish() throws {
        // Prose with one invalid UTF-8 byte: the variant that refuses it fails when collect reads
        // the text (not checkable before work); the one that replaces it finishes.
        let (directory, config) = try project(sweep: "sweep: {name: utf8, until: train, grid: {datasets.A.invalid_utf8: [error, replace]}}")
        var prose = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/prose.txt"))
        prose.append(contentsOf: [0xFF] + Array(" and more prose.\n".utf8))
        try prose.write(to: URL(fileURLWithPath: "\(directory)/prose.txt"))
        let outcomes = try SweepRunner(try SweepDefinition.load(configPath: config)).run()
        XCTAssertEqual(outcomes.map(\.status), [.failed, .finished])
        XCTAssertTrue(outcomes[0].error?.contains("UTF-8") == true, outcomes[0].error ?? "")
        let table = try summary(directory, "utf8")
        XCTAssertEqual(table.rows.map { $0[0] }, ["invalid_utf8=error", "invalid_utf8=replace"])
        XCTAssertEqual(table.rows.map { $0[1] }, ["failed", "complete (no eval)"])
        let markdown = try String(contentsOfFile: "\(directory)/outputs/sweeps/utf8/summary.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("Failed variants:\n\n- `invalid_utf8=error`:"), markdown)
    }

    func testASweepOfAnotherConfigGetsItsOwnDirectory() throws {
        let (directory, config) = try project(sweep: "sweep: {name: seq, until: collect.A, grid: {collect.seq_len: [8, 16]}}")
        let first = try SweepDefinition.load(configPath: config)
        XCTAssertEqual(first.directory, "\(directory)/outputs/sweeps/seq")
        _ = try SweepRunner(first).run()
        XCTAssertEqual(try SweepDefinition.load(configPath: config).directory, first.directory, "the same sweep reuses its directory")
        XCTAssertEqual(try SweepDefinition.load(configPath: config, arguments: SweepArguments(grid: ["collect.seq_len=8,16,32"])).directory,
                       first.directory, "an extended grid keeps the finished variants")
        let changed = try SweepDefinition.load(configPath: config, overrides: ["collect.tokens=500"])
        XCTAssertTrue(changed.directory.hasPrefix("\(directory)/outputs/sweeps/seq-"), changed.directory)
        XCTAssertTrue(changed.note?.contains("different config") == true, changed.note ?? "")
    }

    func testAVariantThatCannotWorkIsRefusedBeforeAnyWork() throws {
        // tiny-neox has 2 layers: layer 5 is caught when the sweep is planned, naming the variant and the grid value.
        let (directory, config) = try project(sweep: "sweep: {name: layers, until: train, grid: {model.layer: [5, 0]}}")
        XCTAssertThrowsError(try SweepDefinition.load(configPath: config)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("layer=5") && text.contains("config.yaml:") && text.contains("0…1"), text)
        }
        XCTAssertTrue(entries(directory, "collect").isEmpty, "nothing ran")
    }

    func testRandomSearchIsSeededAndTypedBySchema() throws {
        let (_, config) = try project(sweep: """
            sweep:
              random:
                count: 5
                log_range: {train.l1_coefficient: [0.5, 20]}
                range: {sae.expansion: [2, 6]}
                choice: {sae.activation: [relu, topk]}
            """)
        let first = try SweepDefinition.load(configPath: config)
        XCTAssertEqual(first.variants.count, 5)
        for variant in first.variants {
            let l1 = try XCTUnwrap(variant.value(of: "train.l1_coefficient").doubleValue)
            XCTAssertTrue((0.5...20).contains(l1), "\(l1)")
            let expansion = try XCTUnwrap(variant.value(of: "sae.expansion").intValue, "an int key gets whole numbers")
            XCTAssertTrue((2...6).contains(expansion))
            XCTAssertTrue(["relu", "topk"].contains(variant.value(of: "sae.activation").stringValue ?? ""))
        }
        XCTAssertEqual(try SweepDefinition.load(configPath: config).variants.map(\.name), first.variants.map(\.name))
        let reseeded = try SweepDefinition.load(configPath: config, arguments: SweepArguments(seed: 99))
        XCTAssertNotEqual(reseeded.variants.map(\.name), first.variants.map(\.name))
        // A grid combines with every draw.
        let combined = try SweepDefinition.load(configPath: config, arguments: SweepArguments(grid: ["train.lr=1e-3,2e-3"]))
        XCTAssertEqual(combined.variants.count, 10)
    }

    func testCommandLineAxesSpansAndEveryLayer() throws {
        let (_, config) = try project(sweep: "")
        let spans = try SweepDefinition.load(configPath: config, arguments: SweepArguments(grid: ["model.layer=0..1", "train.l1_coefficient=[2, 5]"], name: "cli"))
        XCTAssertEqual(spans.variants.map(\.name), ["layer=0,l1_coefficient=2", "layer=0,l1_coefficient=5",
                                                   "layer=1,l1_coefficient=2", "layer=1,l1_coefficient=5"])
        XCTAssertEqual(spans.directory.hasSuffix("/outputs/sweeps/cli"), true)
        XCTAssertEqual(spans.variants[3].experiment.config[path: "run_name"].stringValue, "layer=1,l1_coefficient=5")
        let every = try SweepDefinition.load(configPath: config, arguments: SweepArguments(grid: ["model.layer=all"]))
        XCTAssertEqual(every.variants.map { $0.value(of: "model.layer").intValue }, [0, 1])
        // Every variant shares one collect per dataset, which writes both swept layers; the
        // stages after it differ by layer.
        let plans = try spans.variants.map { try $0.experiment.runner().plan() }
        let key = { (index: Int, id: String) in plans[index].first { $0.stage.id.rawValue == id }!.key }
        XCTAssertEqual(spans.variants[2].experiment.config[path: "model.layers"], .list([.int(0), .int(1)]))
        XCTAssertEqual(key(0, "collect.A"), key(1, "collect.A"))
        XCTAssertEqual(key(0, "collect.A"), key(2, "collect.A"))
        XCTAssertNotEqual(key(0, "train.A"), key(1, "train.A"))
        XCTAssertNotEqual(key(0, "train.A"), key(2, "train.A"), "layer 0's and layer 1's SAEs train on different sets")
    }

    func testSweepErrorsNameTheFileLineAndKey() throws {
        let (_, typo) = try project(sweep: "sweep:\n  grid:\n    train.l1_coeff: [1, 2]\n")
        XCTAssertThrowsError(try SweepDefinition.load(configPath: typo)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("config.yaml:14:5"), text)
            XCTAssertTrue(text.contains("did you mean `l1_coefficient`"), text)
            XCTAssertEqual((error as? SAEPipeError)?.exitCode, 2)
        }
        let (_, badValue) = try project(sweep: "sweep:\n  grid:\n    sae.expansion: [4, wide]\n")
        XCTAssertThrowsError(try SweepDefinition.load(configPath: badValue)) { error in
            XCTAssertTrue("\(error)".contains("config.yaml:14:24: error: expected an integer"), "\(error)")
        }
        let (_, none) = try project(sweep: "")
        XCTAssertThrowsError(try SweepDefinition.load(configPath: none)) { error in
            XCTAssertTrue("\(error)".contains("varies no key"), "\(error)")
        }
        XCTAssertThrowsError(try SweepDefinition.load(configPath: none, arguments: SweepArguments(grid: ["sae.expansion=2,x"]))) { error in
            XCTAssertTrue("\(error)".contains("--grid[1] 'sae.expansion=2,x':1:17"), "\(error)")
        }
        XCTAssertThrowsError(try SweepDefinition.load(configPath: none, arguments: SweepArguments(random: 2, ranges: ["sae.activation=1,2"]))) { error in
            XCTAssertTrue("\(error)".contains("not a numeric key"), "\(error)")
        }
        XCTAssertThrowsError(try SweepDefinition.load(configPath: none, arguments: SweepArguments(ranges: ["train.lr=1e-4,1e-3"]))) { error in
            XCTAssertTrue("\(error)".contains("no draws are asked for"), "\(error)")
        }
    }

    func testParetoOptimalPoints() {
        // (L0, FVE): lower L0 and higher FVE are better.
        let points: [(x: Double, y: Double)] = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (5, 0.2), (20, 0.7)]
        XCTAssertEqual(SweepSummary.paretoOptimal(points), [true, true, false, false, true, true])
    }

    func testCSVRoundTripsQuotedFields() {
        let table = Table(header: ["variant", "value"], rows: [["a=1,b=2", "say \"hi\""], ["line\nbreak", ""]])
        XCTAssertEqual(Table.parseCSV(table.csv()), table)
    }
}
