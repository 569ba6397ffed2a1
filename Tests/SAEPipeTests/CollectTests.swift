import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// The collect stage end to end on the tiny GPT-NeoX fixture and its tokenizer.
final class CollectTests: XCTestCase {
    func makeProject(extra: String = "") throws -> (directory: String, config: String) {
        try makeTinyProject(self, collectExtra: extra)
    }

    func run(_ config: String, until: String? = "collect", overrides: [String] = []) throws -> RunManifestSummary {
        let experiment = try Experiment.load(configPath: config, overrides: overrides)
        let report = try experiment.runner().run(RunOptions(selection: RunSelection(until: until)))
        return RunManifestSummary(ran: report.ranStages.map(\.rawValue))
    }

    struct RunManifestSummary { var ran: [String] }

    func testCollectWritesActivationsThatMatchTheModel() throws {
        let (directory, config) = try makeProject()
        XCTAssertEqual(try run(config).ran.sorted(), ["collect.A", "collect.B"])
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/manifest.json"))) as! [String: Any]
        let activations = manifest["activations"] as! [String: String]
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let tokenizer = try Tokenizer.load(model: fixturePath("tiny-neox"))
        for side in ["A", "B"] {
            let entry = activations[side]!
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(entry)/meta.json"))) as! [String: Any]
            XCTAssertEqual(meta["shape"] as? [Int], [700, 64])
            XCTAssertEqual(meta["hook"] as? String, "layers.1.mlp_out")
            XCTAssertEqual(meta["dtype"] as? String, "float32")
            let acts = try Data(contentsOf: URL(fileURLWithPath: "\(entry)/acts.mmap"))
            XCTAssertEqual(acts.count, 700 * 64 * 4)
            let tokens = try ActivationStore.readInt32("\(entry)/tokens.mmap")
            let positions = try ActivationStore.readInt32("\(entry)/positions.mmap")
            let offsets = meta["sequence_offsets"] as! [Int]
            XCTAssertEqual(positions.count, 700)
            // Specials (EOS separators) are in the context but not in the activation set.
            for position in positions { XCTAssertNotEqual(Int(tokens[Int(position)]), tokenizer.eosTokenId) }
            // Rows of the first window equal a fresh forward pass over it (up to BLAS blocking,
            // which differs with the batch size).
            let window = Array(tokens[offsets[0]..<offsets[1]])
            let hook = HookPoint(layer: 1, site: .mlpOut)
            let fresh = try model.forward(TokenBatch(ids: window, batch: 1, seqLen: window.count), ForwardRequest(capture: [hook]))
            let stored = acts.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for (row, position) in positions.enumerated() where Int(position) < offsets[1] {
                let expected = fresh.captured[hook]![(Int(position) * 64)..<((Int(position) + 1) * 64)]
                let difference = zip(stored[(row * 64)..<((row + 1) * 64)], expected).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(difference, 1e-5)
            }
            // Training holds out whole windows: no window has rows on both sides.
            let dataset = try SAEPipeSAE.ActivationDataset(directory: entry, validationFraction: 0.1, maxValidationRows: 1000, seed: 4)
            let windowOf = { (row: Int) in offsets.lastIndex { $0 <= Int(positions[row]) }! }
            let heldWindows = Set(dataset.validation.map(windowOf)), trainWindows = Set(dataset.training.map(windowOf))
            XCTAssertTrue(heldWindows.isDisjoint(with: trainWindows))
            XCTAssertEqual(heldWindows, Set(dataset.validationWindows))
            XCTAssertEqual(dataset.validation.count + dataset.training.count, 700)
            XCTAssertGreaterThan(dataset.validation.count, 40)
            if side == "B" {
                let text = tokenizer.decode(tokens.map(Int.init))
                XCTAssertFalse(text.contains("Go"), "filtered rows never reach the windows")
            }
        }
    }

    func testSameConfigTwiceGivesIdenticalBytesAndSecondRunIsCached() throws {
        let (directory, config) = try makeProject(extra: ", dtype: float16")
        _ = try run(config)
        let first = try snapshot(directory)
        XCTAssertEqual(try run(config).ran, [], "a second identical run does no work")
        try FileManager.default.removeItem(atPath: "\(directory)/artifacts")
        _ = try run(config)
        XCTAssertEqual(try snapshot(directory), first)
        XCTAssertTrue(first.keys.contains { $0.hasSuffix("acts.mmap") })
        let meta = first.first { $0.key.hasSuffix("meta.json") }!.value
        XCTAssertTrue(String(decoding: meta, as: UTF8.self).contains("\"float16\""))
    }

    /// collect → train through the graph: SAELens checkpoints published as `saes`, a training
    /// key change reruns only the train stages.
    func testTrainStageOnCollectedActivations() throws {
        let (directory, config) = try makeProject()
        let settings = ["sae.expansion=2", "train.tokens=3000", "train.batch_size=100", "train.lr_warmup_steps=2"]
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3"]).ran.sorted(),
                       ["collect.A", "collect.B", "eval", "interpret.A", "interpret.B", "train.A", "train.B", "viz"])
        for figure in ["training_loss", "training_fve", "feature_density_A", "selectivity_B", "fve_matrix", "ce_recovered_matrix"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/figures/\(figure).png"), figure)
        }
        for name in ["A_on_A", "A_on_B", "B_on_A", "B_on_B"] {
            let path = "\(directory)/outputs/tiny/features/\(name)"
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(path).json"))) as! [String: Any]
            let features = document["features"] as! [[String: Any]]
            XCTAssertEqual(features.count, 128)
            for key in ["frequency", "mean_activation", "max_activation", "selectivity", "selectivity_normalized", "label",
                        "top_contexts", "quantile_examples", "top_tokens", "promoted_tokens", "suppressed_tokens"] {
                XCTAssertNotNil(features[0][key], key)
            }
            let firing = features.first { ($0["frequency"] as! Double) > 0 }!
            XCTAssertTrue(((firing["top_contexts"] as! [[String: Any]])[0]["context"] as! String).contains("«"))
            XCTAssertTrue(try String(contentsOfFile: "\(path).md", encoding: .utf8).contains("## Most frequent features"))
        }
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/manifest.json"))) as! [String: Any]
        let saes = manifest["saes"] as! [String: String]
        for side in ["A", "B"] {
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(saes[side]!)/cfg.json"))) as! [String: Any]
            XCTAssertEqual(config["d_in"] as? Int, 64)
            XCTAssertEqual(config["d_sae"] as? Int, 128)
            XCTAssertEqual(config["hook_name"] as? String, "layers.1.mlp_out")
            XCTAssertTrue(FileSystem.exists("\(saes[side]!)/sae_weights.safetensors"))
            let metrics = try String(contentsOfFile: "\(directory)/outputs/tiny/train/\(side)/metrics.csv", encoding: .utf8)
            XCTAssertTrue(metrics.hasPrefix("step,tokens,loss,mse,l1,l0,fve,dead_fraction,lr,lambda,tokens_per_s\n"))
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/train/\(side)/validation.json"))
        }
        // results.json: every pair with the keys docs/formats.md fixes, and the cross-domain figures derived from them.
        let results = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/results.json"))) as! [String: Any]
        let eval = results["eval"] as! [String: [String: Any]]
        XCTAssertEqual(Set(eval.keys), ["A->A", "A->B", "B->A", "B->B"])
        for (_, pair) in eval {
            for key in ["mse", "fve", "l0", "l1", "dead_fraction", "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_recovered"] {
                XCTAssertNotNil(pair[key], key)
            }
            let (clean, sae, zero) = (pair["ce_loss_clean"] as! Double, pair["ce_loss_sae"] as! Double, pair["ce_loss_zero"] as! Double)
            XCTAssertEqual(pair["ce_recovered"] as! Double, (zero - sae) / (zero - clean), accuracy: 1e-12)
        }
        let cross = results["cross_domain"] as! [String: [String: Any]]
        XCTAssertEqual(cross["A->B"]!["fve_drop"] as! Double, (eval["B->B"]!["fve"] as! Double) - (eval["A->B"]!["fve"] as! Double), accuracy: 1e-12)
        XCTAssertEqual(cross["B->A"]!["mse_ratio"] as! Double, (eval["B->A"]!["mse"] as! Double) / (eval["A->A"]!["mse"] as! Double), accuracy: 1e-12)
        for table in ["eval", "fve_matrix", "ce_recovered_matrix", "cross_domain"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/tables/\(table).csv"), table)
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/tables/\(table).md"), table)
        }
        // The blog bundle: every number from results.json, figures embedded, nothing fetched from elsewhere.
        let bundle = "\(directory)/bundle"
        let current = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer { FileManager.default.changeCurrentDirectoryPath(current) }
        try BlogExport.export(run: "\(directory)/outputs/tiny", to: bundle, artifacts: "\(directory)/artifacts")
        let report = try String(contentsOfFile: "\(bundle)/report.md", encoding: .utf8)
        for heading in ["## Research question and hypothesis", "## Method", "## Evaluation", "## Key results", "## Failure modes",
                        "## Limitations and next steps"] {
            XCTAssertTrue(report.contains(heading), heading)
        }
        XCTAssertTrue(report.contains(String(format: "%.3f", eval["A->A"]!["fve"] as! Double)))
        XCTAssertTrue(report.contains("![") && FileSystem.exists("\(bundle)/figures/fve_matrix.png"))
        let html = try String(contentsOfFile: "\(bundle)/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data:image/png;base64,"))
        XCTAssertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "the page opens offline")
        XCTAssertTrue(html.contains("class=\"tok max\""), "the feature browser marks the top token")
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3"]).ran, [])
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3", "train.l1_coefficient=1"]).ran.sorted(),
                       ["eval", "interpret.A", "interpret.B", "train.A", "train.B", "viz"])
    }

    func testDatasetErrorsNameTheKey() throws {
        let (directory, _) = try makeProject()
        try write("""
            paths: {artifacts: \(directory)/artifacts}
            model: {name: \(fixturePath("tiny-neox"))}
            datasets:
              A: {path: \(directory)/missing-*.txt}
              B: {path: \(directory)/code.jsonl, hub: x/y}
            """, to: "\(directory)/bad.yaml")
        XCTAssertThrowsError(try Experiment.load(configPath: "\(directory)/bad.yaml")) { error in
            XCTAssertTrue("\(error)".contains("no file matches"), "\(error)")
        }
    }

    /// Every stage output file's bytes, keyed by path below artifacts/cache (manifests hold timings, so they are skipped).
    func snapshot(_ directory: String) throws -> [String: Data] {
        let cache = "\(directory)/artifacts/cache/collect"
        var files: [String: Data] = [:]
        for entry in try FileManager.default.contentsOfDirectory(atPath: cache) where !entry.hasPrefix(".") && !entry.hasSuffix(".lock") {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(cache)/\(entry)") where name != "manifest.json" {
                files["\(entry)/\(name)"] = try Data(contentsOf: URL(fileURLWithPath: "\(cache)/\(entry)/\(name)"))
            }
        }
        return files
    }
}
