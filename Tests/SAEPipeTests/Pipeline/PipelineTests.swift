import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// The whole pipeline end to end on the tiny GPT-NeoX fixture: collect → train → interpret →
/// eval → viz through the graph, then export.
final class PipelineTests: XCTestCase {
    func run(_ config: String, until: String?, overrides: [String] = []) throws -> TinyRun {
        try runTinyProject(config, until: until, overrides: overrides)
    }

    /// collect → train through the graph: SAELens checkpoints published as `saes`, a training
    /// key change reruns only the train stages.
    func testEveryStageThenExport() throws {
        let (directory, config) = try makeTinyProject(self)
        let settings = ["sae.expansion=2", "train.tokens=3000", "train.batch_size=100", "train.lr_warmup_steps=2"]
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3"]).ran.sorted(),
                       ["collect.A", "collect.B", "eval", "interpret.A", "interpret.B", "train.A", "train.B", "viz"])
        for figure in ["training_loss", "training_fve", "feature_density_A", "selectivity_B", "fve_matrix", "ce_recovered_matrix"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/figures/\(figure).png"), figure)
        }
        // Blog size at 1×, read from each PNG's header: line charts ≥ 1200 px wide, heatmaps ≥ 900.
        let figures = FileSystem.listFiles(in: "\(directory)/outputs/tiny/figures")
        XCTAssertEqual(figures.count, 16, "\(figures)")
        for figure in figures {
            let (width, height) = try pngSize("\(directory)/outputs/tiny/figures/\(figure)")
            XCTAssertGreaterThanOrEqual(width, figure.hasSuffix("_matrix.png") ? 900 : 1200, figure)
            XCTAssertGreaterThanOrEqual(height, 600, figure)
            if figure.hasPrefix("selectivity_") { XCTAssertGreaterThanOrEqual(height, 1000, "a square plot: \(figure)") }
        }
        for name in ["A_on_A", "A_on_B", "B_on_A", "B_on_B"] {
            let path = "\(directory)/outputs/tiny/features/\(name)"
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(path).json"))) as! [String: Any]
            let features = document["features"] as! [[String: Any]]
            XCTAssertEqual(features.count, 128)
            for key in ["frequency", "mean_activation", "max_activation", "selectivity", "selectivity_normalized", "label",
                        "top_tokens"] {
                XCTAssertNotNil(features[0][key], key)
            }
            XCTAssertNil(features[0]["top_contexts"], "contexts live in the feature store")
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
            XCTAssertTrue(metrics.hasPrefix("step,tokens,loss,mse,l1,l0,fve,dead_fraction,lr,lambda,heldout_mse,heldout_l0,heldout_fve,tokens_per_s\n"))
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/train/\(side)/validation.json"))
        }
        // results.json: every pair with the keys docs/formats.md fixes, and the cross-domain figures derived from them.
        let results = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/results.json"))) as! [String: Any]
        let eval = results["eval"] as! [String: [String: Any]]
        XCTAssertEqual(Set(eval.keys), ["A->A", "A->B", "B->A", "B->B"])
        for (_, pair) in eval {
            for key in ["mse", "fve", "l0", "l1", "dead_fraction", "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_recovered",
                        "cosine_similarity", "l2_ratio", "relative_reconstruction_bias", "frac_firing_gt_1pct", "frac_firing_gt_10pct",
                        "kl_div_sae", "kl_div_zero", "kl_score", "intervals", "counts"] {
                XCTAssertNotNil(pair[key], key)
            }
            let (clean, sae, zero) = (pair["ce_loss_clean"] as! Double, pair["ce_loss_sae"] as! Double, pair["ce_loss_zero"] as! Double)
            // Three windows on a random tiny model: CE recovered is reported only with a measurable denominator.
            if let recovered = pair["ce_recovered"] as? Double {
                XCTAssertEqual(recovered, (zero - sae) / (zero - clean), accuracy: 1e-12)
            } else {
                XCTAssertNotNil(pair["ce_recovered_note"] as? String)
            }
            let counts = pair["counts"] as! [String: Int]
            XCTAssertEqual(counts["windows"], 3, "the windows actually evaluated")
            let interval = (pair["intervals"] as! [String: [Double]])["fve"]!
            XCTAssertLessThanOrEqual(interval[0], pair["fve"] as! Double)
            XCTAssertGreaterThanOrEqual(interval[1], pair["fve"] as! Double)
        }
        let cross = results["cross_domain"] as! [String: [String: Any]]
        XCTAssertEqual(cross["A->B"]!["fve_drop"] as! Double, (eval["B->B"]!["fve"] as! Double) - (eval["A->B"]!["fve"] as! Double), accuracy: 1e-12)
        XCTAssertEqual(cross["B->A"]!["mse_ratio"] as! Double, (eval["B->A"]!["mse"] as! Double) / (eval["A->A"]!["mse"] as! Double), accuracy: 1e-12)
        // Matching: the decoders' cosines, recomputed here from the checkpoints.
        let matching = try XCTUnwrap(try EvalResults.read("\(directory)/outputs/tiny/results.json").matching)
        let runManifest = try RunManifest.read(runDirectory: "\(directory)/outputs/tiny")
        let checkpoint = { (id: String) in try SAECheckpoint.readSAELens(runManifest.stages.first { $0.id.rawValue == id }!.entry).0 }
        let direct = try FeatureMatching(try checkpoint("train.A"), try checkpoint("train.B"))
        XCTAssertEqual(matching.mmcsAToB, direct.mmcsForward, accuracy: 1e-12)
        XCTAssertEqual(matching.pairs, direct.pairs.count)
        XCTAssertEqual(matching.threshold, 0.7)
        let perFeature = try MatchingFile.read("\(directory)/outputs/tiny/\(MatchingFile.fileName)")
        XCTAssertEqual(perFeature.a.count, 128)
        XCTAssertEqual(perFeature.a.map(\.bestCosine).reduce(0, +) / 128, matching.mmcsAToB, accuracy: 1e-6)
        XCTAssertEqual(perFeature.b.filter { ($0.matchedCosine ?? 0) >= 0.7 }.count, matching.shared)
        for feature in perFeature.a { XCTAssertEqual(feature.best, direct.bestForward[feature.feature].feature) }
        let byClass = try XCTUnwrap(Table.parseCSV(try String(contentsOfFile: "\(directory)/outputs/tiny/tables/matching_by_class.csv", encoding: .utf8)))
        XCTAssertEqual(byClass.rows.count, 6, "three classes for each SAE")
        let sharedInClasses = byClass.rows.filter { $0[0] == "B" }.map { Int($0[3])! }.reduce(0, +)
        XCTAssertLessThanOrEqual(sharedInClasses, matching.shared, "dead features may be matched too; no class counts more")
        // A label never contradicts the contexts beside it: a single activating token it names is
        // the marked token of most of the feature's top contexts on that dataset.
        var checkedLabels = 0
        let tokenizer = try Tokenizer.load(model: fixturePath("tiny-neox"))
        for sae in Side.allCases {
            let store = try FeatureStore.Reader(path: "\(directory)/outputs/tiny/features/\(FeatureStore.fileName(sae: sae))")
            XCTAssertEqual(store.features, 128)
            for data in Side.allCases {
                for feature in try FeatureSummaryFile.read("\(directory)/outputs/tiny/features/\(sae)_on_\(data).json").features {
                    let label = feature.label, contexts = try XCTUnwrap(store.record(feature.feature).view(on: data)).top
                    guard contexts.count >= 2, let colon = label.range(of: ": \""), !label.contains(" / ") else { continue }
                    let rest = label[colon.upperBound...]
                    guard let close = rest.range(of: "\"") else { continue }
                    let token = String(rest[..<close.lowerBound])
                    guard !token.contains("\\") else { continue }
                    let marked = contexts.filter { tokenizer.decode([Int($0.tokens[$0.center])]) == token }.count
                    XCTAssertGreaterThanOrEqual(2 * marked, contexts.count, "\(sae) on \(data) feature \(feature.feature): \(label)")
                    checkedLabels += 1
                }
            }
        }
        XCTAssertGreaterThan(checkedLabels, 20)
        for table in ["eval", "fve_matrix", "ce_recovered_matrix", "cross_domain", "generalization", "health"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/tables/\(table).csv"), table)
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/tables/\(table).md"), table)
        }
        // The blog bundle: every number from results.json, figures embedded, nothing fetched from elsewhere.
        let bundle = "\(directory)/bundle"
        let current = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer { FileManager.default.changeCurrentDirectoryPath(current) }
        // A directory holding someone else's files is refused, unless forced; a bundle replaces itself.
        let notes = "\(directory)/notes"
        try FileSystem.writeAtomically("mine\n", to: "\(notes)/notes.txt")
        XCTAssertThrowsError(try BlogExport.export(run: "\(directory)/outputs/tiny", to: notes, artifacts: "\(directory)/artifacts")) { error in
            XCTAssertTrue("\(error)".contains("notes.txt") && "\(error)".contains("--force"), "\(error)")
        }
        XCTAssertTrue(FileSystem.exists("\(notes)/notes.txt"), "nothing was deleted")
        for forbidden in ["/", directory, (directory as NSString).deletingLastPathComponent] {
            XCTAssertThrowsError(try BlogExport.export(run: "\(directory)/outputs/tiny", to: forbidden, artifacts: "\(directory)/artifacts", force: true),
                                 "refuses \(forbidden)")
        }
        try BlogExport.export(run: "\(directory)/outputs/tiny", to: bundle, artifacts: "\(directory)/artifacts")
        try BlogExport.export(run: "\(directory)/outputs/tiny", to: bundle, artifacts: "\(directory)/artifacts")
        XCTAssertTrue(FileSystem.exists("\(bundle)/\(BlogExport.bundleMarker)"))
        let report = try String(contentsOfFile: "\(bundle)/report.md", encoding: .utf8)
        XCTAssertTrue(report.contains("pairs of a one-to-one matching between the two SAEs' features"), "the matching finding is in the report")
        XCTAssertTrue(report.contains("SAE: ReLU with an L1 penalty, λ = "), "the method names the recipe's own sparsity setting")
        // An example feature's context shows the token its label names, when the label names one.
        var labelledLines = 0
        for line in report.split(separator: "\n") where line.hasPrefix("- SAE ") && !line.contains("various:") {
            guard let labelStart = line.range(of: "-selective: \"") ?? line.range(of: "shared: \""),
                  let close = line[labelStart.upperBound...].range(of: "\""), let marked = line.range(of: "«") else { continue }
            // Labels escape a newline as \n; contexts show it as ↵.
            let token = line[labelStart.upperBound..<close.lowerBound].replacingOccurrences(of: "\\n", with: "↵")
            XCTAssertTrue(line[marked.upperBound...].hasPrefix(token), "the example marks \(token): \(line)")
            labelledLines += 1
        }
        XCTAssertGreaterThan(labelledLines, 0, report)
        for heading in ["## Research question and hypothesis", "## Method", "## Evaluation", "## Key results", "## Failure modes",
                        "## Limitations and next steps"] {
            XCTAssertTrue(report.contains(heading), heading)
        }
        XCTAssertTrue(report.contains(String(format: "%.3f", eval["A->A"]!["fve"] as! Double)))
        assertEveryNumberTraces(report, results: results, manifestConfig: manifest["config"] as! [String: Any])
        XCTAssertTrue(report.contains("![") && FileSystem.exists("\(bundle)/figures/fve_matrix.png"))
        for figure in FileSystem.listFiles(in: "\(bundle)/figures") {
            XCTAssertTrue(report.contains("](figures/\(figure))\n\n*"), "\(figure) appears in the report with a caption")
        }
        let html = try String(contentsOfFile: "\(bundle)/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data:image/png;base64,"))
        // The feature browser: every feature of both SAEs in its index, each shard the store's records.
        XCTAssertTrue(html.contains("href=\"browser/index.html\""))
        for name in ["index.html", "browser.js", "browser.css", "data/index.js", "data/vocab.js", "data/A/0000.js", "data/B/0001.js"] {
            XCTAssertTrue(FileSystem.exists("\(bundle)/browser/\(name)"), name)
        }
        let indexScript = try String(contentsOfFile: "\(bundle)/browser/data/index.js", encoding: .utf8)
        let indexJSON = indexScript.drop { $0 != "{" }.dropLast(2)
        let index = try JSONSerialization.jsonObject(with: Data(indexJSON.utf8)) as! [String: Any]
        let saeColumns = index["saes"] as! [String: [String: Any]]
        XCTAssertEqual(saeColumns["B"]!["features"] as? Int, 128)
        XCTAssertEqual((saeColumns["A"]!["label"] as! [String]).count, 128)
        XCTAssertEqual((saeColumns["A"]!["match"] as! [Any]).count, 128)
        let mapPoints = ((index["map"] as! [String: Any])["saes"] as! [String: [String: [Double]]])["B"]!
        XCTAssertEqual(mapPoints["umap"]!.count, 256, "x and y per feature")
        XCTAssertEqual(mapPoints["pca"]!.count, 256)
        let shard = try String(contentsOfFile: "\(bundle)/browser/data/B/0001.js", encoding: .utf8)
        XCTAssertTrue(shard.hasPrefix("saepipeShard(\"B\",1,\""))
        let storeB = try FeatureStore.Reader(path: "\(directory)/outputs/tiny/features/B.features")
        let gzipped = try XCTUnwrap(Data(base64Encoded: String(shard.dropFirst("saepipeShard(\"B\",1,\"".count).dropLast(4))))
        let unzipped = try XCTUnwrap(gunzip(gzipped))
        let records = try JSONDecoder().decode([FeatureStore.Record].self, from: unzipped)
        XCTAssertEqual(records.count, 64)
        XCTAssertEqual(records[3], try storeB.record(67))
        XCTAssertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "the page opens offline")
        XCTAssertTrue(html.contains("class=\"tok max\""), "the feature browser marks the top token")
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3"]).ran, [])
        XCTAssertEqual(try run(config, until: nil, overrides: settings + ["eval.sequences=3", "train.l1_coefficient=1"]).ran.sorted(),
                       ["eval", "interpret.A", "interpret.B", "train.A", "train.B", "viz"])
    }

    /// `outputs/<run_name>/` belongs to the config that made it: a `--set` variant goes to a
    /// hash-suffixed sibling, the same variant again reuses it, and `saepipe runs` shows the difference.
    func testAnOverrideNeverReplacesAnotherConfigsRun() throws {
        let (directory, config) = try makeTinyProject(self)
        let outputs = "\(directory)/outputs"
        let base = try Experiment.load(configPath: config)
        XCTAssertEqual(try base.runner().run(RunOptions(selection: RunSelection(until: "collect.A"))).runDirectory, "\(outputs)/tiny")
        let again = try Experiment.load(configPath: config).runner().run(RunOptions(selection: RunSelection(until: "collect.A")))
        XCTAssertEqual(again.runDirectory, "\(outputs)/tiny", "the same config reuses its directory")
        XCTAssertNil(again.runNote)
        // How it runs is not what it is: thread counts and Slurm options keep the directory.
        let executionOnly = try Experiment.load(configPath: config, overrides: ["runtime.blas_threads=1", "slurm.mem=8G", "sweep.executor=slurm"])
        XCTAssertEqual(executionOnly.location().path, "\(outputs)/tiny")
        XCTAssertNil(executionOnly.location().note)
        // A run made before a setting existed (its manifest lacks the key) is still this config's run.
        let manifestPath = "\(outputs)/tiny/manifest.json"
        let text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let older = text.replacingOccurrences(of: #",\s*"match_threshold"\s*:\s*[0-9.]+"#, with: "", options: .regularExpression)
        XCTAssertNotEqual(older, text)
        try older.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        XCTAssertNil(try Experiment.load(configPath: config).location().note)
        // …unless this config sets that key to something other than its default.
        let newSetting = try Experiment.load(configPath: config, overrides: ["eval.match_threshold=0.9"]).location()
        XCTAssertNotEqual(newSetting.path, "\(outputs)/tiny")
        XCTAssertTrue(newSetting.note?.contains("eval.match_threshold: 0.7 → 0.9") == true, newSetting.note ?? "")
        let variant = try Experiment.load(configPath: config, overrides: ["collect.tokens=500"])
        let report = try variant.runner().run(RunOptions(selection: RunSelection(until: "collect.A")))
        let suffixed = try XCTUnwrap(report.runDirectory)
        XCTAssertTrue(suffixed.hasPrefix("\(outputs)/tiny-") && suffixed.count == "\(outputs)/tiny-".count + RunLocation.hashLength, suffixed)
        XCTAssertTrue(report.runNote?.contains("collect.tokens: 700 → 500") == true, report.runNote ?? "")
        XCTAssertEqual(try RunManifest.read(runDirectory: "\(outputs)/tiny").config[path: "collect.tokens"], .int(700), "untouched")
        XCTAssertEqual(try Experiment.load(configPath: config, overrides: ["collect.tokens=500"]).runner()
            .run(RunOptions(selection: RunSelection(until: "collect.A"))).runDirectory, suffixed)
        let listing = RunListing.render(outputs: outputs)
        XCTAssertTrue(listing.contains("\n  - collect.tokens: 700 → 500\n"), listing)
        XCTAssertEqual(RunListing.runs(outputs: outputs).map(\.name), ["tiny", (suffixed as NSString).lastPathComponent])
        // export suggests the run names it knows.
        XCTAssertThrowsError(try BlogExport.runDirectory("tinny", outputs: outputs)) { error in
            XCTAssertTrue("\(error)".contains("did you mean `tiny`"), "\(error)")
        }
    }

    /// Without `datasets.B` the graph has one branch, and no file, table, figure or sentence
    /// speaks of a second dataset or of transfer.
    func testOneDatasetRunHasOneBranchAndNoCrossDomainParts() throws {
        let (directory, config) = try makeTinyProject(self)
        let settings = ["sae.expansion=2", "train.tokens=3000", "train.batch_size=100", "train.lr_warmup_steps=2", "eval.sequences=3",
                        "datasets.B=null"]
        XCTAssertEqual(try run(config, until: nil, overrides: settings).ran.sorted(), ["collect.A", "eval", "interpret.A", "train.A", "viz"])
        let outputs = "\(directory)/outputs/tiny"
        XCTAssertEqual(FileSystem.listFiles(in: "\(outputs)/features").sorted(), ["A.features", "A_on_A.json", "A_on_A.md"])
        let features = try FeatureSummaryFile.read("\(outputs)/features/A_on_A.json").features
        XCTAssertTrue(features.allSatisfy { $0.selectivity == nil && ["active", "dead"].contains($0.featureClass) })
        XCTAssertFalse(try String(contentsOfFile: "\(outputs)/features/A_on_A.md", encoding: .utf8).contains("selective"))
        let results = try EvalResults.read("\(outputs)/results.json")
        XCTAssertEqual(Array(results.eval.keys), [SAEPair(.A, .A)])
        XCTAssertTrue(results.crossDomain.isEmpty)
        XCTAssertNil(results.matching, "one dictionary: nothing to match")
        let tables = FileSystem.listFiles(in: "\(outputs)/tables")
        for absent in ["fve_matrix.csv", "ce_recovered_matrix.csv", "cross_domain.csv"] { XCTAssertFalse(tables.contains(absent), absent) }
        XCTAssertFalse(try String(contentsOfFile: "\(outputs)/tables/eval.csv", encoding: .utf8).contains("n/a,n/a,n/a"))
        let figures = FileSystem.listFiles(in: "\(outputs)/figures")
        XCTAssertTrue(figures.contains("feature_density_A.png") && figures.contains("training_fve.png"), "\(figures)")
        for absent in ["fve_matrix.png", "selectivity_A.png", "feature_density_B.png"] { XCTAssertFalse(figures.contains(absent), absent) }
        let current = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer { FileManager.default.changeCurrentDirectoryPath(current) }
        try BlogExport.export(run: outputs, to: "\(directory)/bundle", artifacts: "\(directory)/artifacts")
        let report = try String(contentsOfFile: "\(directory)/bundle/report.md", encoding: .utf8)
        for phrase in ["A->B", "A → B", "B → A", "transfer", "selective", "SAE B", "dataset B", "nan"] {
            XCTAssertFalse(report.contains(phrase), "the one-dataset report mentions \(phrase):\n\(report)")
        }
        XCTAssertTrue(report.contains(String(format: "%.3f", results.eval[SAEPair(.A, .A)]!.fve)))
        let html = try String(contentsOfFile: "\(directory)/bundle/report.html", encoding: .utf8)
        XCTAssertFalse(html.contains("Cross-domain") || html.contains("selective"), "no caption without its table")
        XCTAssertTrue(html.contains("name=\"viewport\""), "readable on a phone")
    }

    /// A PNG's width and height from its IHDR chunk.
    func pngSize(_ path: String) throws -> (Int, Int) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)).prefix(24))
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], path)
        XCTAssertEqual(String(decoding: bytes[12..<16], as: UTF8.self), "IHDR", path)
        let big = { (range: Range<Int>) in bytes[range].reduce(0) { $0 << 8 | Int($1) } }
        return (big(16..<20), big(20..<24))
    }

    /// Every number in the report's measured sections is a value of results.json (or of the run's
    /// config) as the report prints it: rounded, as a percentage, or as half an interval.
    func assertEveryNumberTraces(_ report: String, results: [String: Any], manifestConfig: [String: Any],
                                 file: StaticString = #filePath, line: UInt = #line) {
        var values: [Double] = []
        func walk(_ node: Any) {
            switch node {
            case let number as NSNumber: values.append(number.doubleValue)
            case let list as [Any]:
                if list.count == 2, let lo = list[0] as? NSNumber, let hi = list[1] as? NSNumber {
                    values.append((hi.doubleValue - lo.doubleValue) / 2)
                }
                list.forEach(walk)
            case let map as [String: Any]: map.values.forEach(walk)
            default: break
            }
        }
        walk(results)
        walk(manifestConfig)
        var candidates = Set<String>()
        for value in values {
            // Signs are dropped from the report's text below, so both signs count.
            for scaled in [value, 100 * value, -value, -100 * value] {
                for digits in 0...6 { candidates.insert(String(format: "%.\(digits)f", scaled)) }
                if scaled == scaled.rounded() { candidates.insert(String(Int(scaled))) }
            }
        }
        // The measured sections and tables; the title and method name the model and config as written.
        let start = report.range(of: "## Evaluation")!.lowerBound
        let end = report.range(of: "### Example features")?.lowerBound ?? report.endIndex
        let failures = report.range(of: "## Failure modes")!.lowerBound, limitations = report.range(of: "## Limitations")!.lowerBound
        let measured = String(report[start..<end] + report[failures..<limitations]).replacingOccurrences(of: "-", with: " ")
            .replacingOccurrences(of: #"!\[[^\]]*\]\([^)]*\)"#, with: "", options: .regularExpression)
        let pattern = try! NSRegularExpression(pattern: #"(?<![A-Za-z_\d.])\d+(\.\d+)?(?![A-Za-z_\d])"#)
        var checked = 0
        for match in pattern.matches(in: measured, range: NSRange(measured.startIndex..., in: measured)) {
            let number = String(measured[Range(match.range, in: measured)!])
            checked += 1
            XCTAssertTrue(candidates.contains(number), "report number \(number) is in neither results.json nor the config", file: file, line: line)
        }
        XCTAssertGreaterThan(checked, 50, file: file, line: line)
    }
}
