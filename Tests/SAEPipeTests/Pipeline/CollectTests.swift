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

    func run(_ config: String, until: String? = "collect", overrides: [String] = []) throws -> TinyRun {
        try runTinyProject(config, until: until, overrides: overrides)
    }

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

    /// `model.layers` writes every listed layer in one pass, each set byte-identical to collecting
    /// that layer alone, sharing the token files; stages read `model.layer`'s set.
    func testMultiLayerCollectWritesEachLayerAsCollectingItAlone() throws {
        let (directory, config) = try makeProject()
        XCTAssertEqual(try run(config, overrides: ["model.layers=[0, 1]", "model.layer=0"]).ran.sorted(), ["collect.A", "collect.B"])
        let manifest = try RunManifest.read(runDirectory: "\(directory)/outputs/tiny")
        let multi = try XCTUnwrap(manifest.entries("activations")["A"])
        XCTAssertTrue(multi.hasSuffix("/layers/0"), multi)
        let entry = FileSystem.parent(of: FileSystem.parent(of: multi))
        XCTAssertEqual(try run(config, overrides: ["model.layers=[0, 1]", "model.layer=1"]).ran, [], "another model.layer reuses the pass")
        for layer in [0, 1] {
            XCTAssertEqual(try run(config, overrides: ["model.layer=\(layer)"]).ran.sorted(), ["collect.A", "collect.B"])
            // A config that differs from outputs/tiny's gets a sibling run directory.
            let location = try Experiment.load(configPath: config, overrides: ["model.layer=\(layer)"]).location()
            let single = try XCTUnwrap(try RunManifest.read(runDirectory: location.path).entries("activations")["A"])
            for file in ["tokens.mmap", "positions.mmap"] {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(entry)/layers/\(layer)/\(file)")),
                               try Data(contentsOf: URL(fileURLWithPath: "\(single)/\(file)")), "layer \(layer) \(file)")
            }
            // The same rows, equal up to the summation order BLAS picks for a different pass.
            let floats = { (path: String) in try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
            let (together, alone) = (try floats("\(entry)/layers/\(layer)/acts.mmap"), try floats("\(single)/acts.mmap"))
            XCTAssertEqual(together.count, alone.count)
            let scale = alone.map(abs).max()!
            XCTAssertLessThan(zip(together, alone).map { abs($0 - $1) }.max()! / scale, 1e-5, "layer \(layer)")
            let meta = try ActivationSetMeta.read(directory: "\(entry)/layers/\(layer)")
            XCTAssertEqual(meta.provenance?.hook, "layers.\(layer).mlp_out")
            let shared = try FileManager.default.attributesOfItem(atPath: "\(entry)/layers/\(layer)/tokens.mmap")[.systemFileNumber] as? Int
            XCTAssertEqual(shared, try FileManager.default.attributesOfItem(atPath: "\(entry)/tokens.mmap")[.systemFileNumber] as? Int,
                           "the layers share one tokens file")
        }
        // Training reads model.layer's set; a layer the pass did not write is refused when planned.
        XCTAssertEqual(try run(config, until: "train", overrides: ["model.layers=[0, 1]", "model.layer=1", "sae.expansion=2", "train.tokens=600",
                                                                    "train.batch_size=100", "train.lr_warmup_steps=2"]).ran.sorted(), ["train.A", "train.B"])
        XCTAssertThrowsError(try run(config, overrides: ["model.layers=[0]", "model.layer=1"])) { error in
            XCTAssertTrue("\(error)".contains("model.layer 1 is not among the layers collected ([0])"), "\(error)")
        }
        XCTAssertThrowsError(try run(config, overrides: ["model.layers=[0, 7]", "model.layer=0"])) { error in
            XCTAssertTrue("\(error)".contains("layer 7") && "\(error)".contains("has 2"), "\(error)")
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
