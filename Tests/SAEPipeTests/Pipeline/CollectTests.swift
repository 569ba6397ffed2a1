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
