import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeFormats
@testable import SAEPipeSAE
import XCTest

/// `sae.load`: an SAE trained elsewhere, in SAELens format, takes the train stage's place; the
/// importer folds SAELens' encoding options into saepipe's form and refuses what it cannot read.
final class LoadedSAETests: XCTestCase {
    func validation(_ entry: String) throws -> SAEEvaluation {
        try JSONFile.read(ValidationSummary.self, from: "\(entry)/\(ValidationSummary.fileName)", hint: "").evaluation
    }

    func saes(_ directory: String, run: String = "tiny") throws -> [String: String] {
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/\(run)/manifest.json"))) as! [String: Any]
        guard let saes = manifest["saes"] as? [String: String] else { XCTFail("no saes in \(manifest.keys)"); return [:] }
        return saes
    }

    /// A saepipe SAE loaded back gives the metrics it was trained to, keyed by its files' hash.
    func testALoadedSAEReplacesTrainingAndRunsThrough() throws {
        let (directory, config) = try makeTinyProject(self)
        _ = try runTinyProject(config, until: "train.A")
        _ = try runTinyProject(config, until: "train.B")
        let trained = try saes(directory)
        XCTAssertEqual(trained.keys.sorted(), ["A", "B"], "\(trained)")
        guard trained.count == 2 else { return }
        let sparsity = try SafetensorsFile(path: "\(trained["A"]!)/\(SAECheckpoint.sparsityFile)")
        XCTAssertEqual(sparsity.tensors["sparsity"]?.shape.count, 1, "sparsity.safetensors beside the checkpoint")
        XCTAssertTrue(try sparsity.tensors["sparsity"]!.floats().allSatisfy { $0 <= 0 && $0 >= -10 }, "log10 frequencies")

        // sae-metrics scores a checkpoint on the held-out rows exactly as training did.
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/manifest.json"))) as! [String: Any]
        let activations = (manifest["activations"] as! [String: String])["A"]!
        let measured = try SAEMetrics.measure(sae: trained["A"]!, activations: activations, rows: .heldOut, seed: 3)
        let recorded = try validation(trained["A"]!)
        XCTAssertEqual(measured.fve, recorded.fve)
        XCTAssertEqual(measured.l0, recorded.l0)
        XCTAssertEqual(measured.rows, recorded.rows)
        XCTAssertGreaterThan(try SAEMetrics.measure(sae: trained["A"]!, activations: activations, rows: .all, seed: 3).rows, recorded.rows)

        // Another SAE directory elsewhere, loaded for side A only.
        let foreign = "\(directory)/elsewhere/sae"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        for file in ["cfg.json", "sae_weights.safetensors"] {
            try FileManager.default.copyItem(atPath: "\(trained["A"]!)/\(file)", toPath: "\(foreign)/\(file)")
        }
        let ran = try runTinyProject(config, until: "eval", overrides: ["sae.load.A=\(foreign)", "run_name=loaded"])
        XCTAssertTrue(ran.ran.contains("train.A"), "\(ran.ran)")
        XCTAssertFalse(ran.ran.contains("train.B"), "side B's config is unchanged: \(ran.ran)")
        let loaded = try saes(directory, run: "loaded")
        XCTAssertEqual(try validation(loaded["A"]!), try validation(trained["A"]!), "the same SAE on the same held-out rows")
        XCTAssertEqual(loaded["B"], trained["B"])
        let metrics = try String(contentsOfFile: "\(loaded["A"]!)/metrics.csv", encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").count, 1, "no training curve, only the header")
        XCTAssertTrue(FileSystem.exists("\(directory)/outputs/loaded/results.json"))

        // Changing the loaded file's bytes reruns the stage; the same bytes do not.
        XCTAssertEqual(try runTinyProject(config, until: "train.A", overrides: ["sae.load.A=\(foreign)", "run_name=loaded"]).ran, [])
        var weights = try Data(contentsOf: URL(fileURLWithPath: "\(foreign)/sae_weights.safetensors"))
        weights[weights.count - 1] ^= 0x01
        try weights.write(to: URL(fileURLWithPath: "\(foreign)/sae_weights.safetensors"))
        XCTAssertEqual(try runTinyProject(config, until: "train.A", overrides: ["sae.load.A=\(foreign)", "run_name=loaded"]).ran, ["train.A"])
    }

    func testAWrongDirectorySaysWhatToFixBeforeAnythingRuns() throws {
        let (directory, config) = try makeTinyProject(self)
        try FileManager.default.createDirectory(atPath: "\(directory)/pickled", withIntermediateDirectories: true)
        try Data([0x80, 0x04]).write(to: URL(fileURLWithPath: "\(directory)/pickled/sae.pt"))
        XCTAssertThrowsError(try runTinyProject(config, until: "train.A", overrides: ["sae.load.A=\(directory)/pickled"])) { error in
            XCTAssertTrue("\(error)".contains("does not load pickled weights (sae.pt)"), "\(error)")
        }
        XCTAssertFalse(FileSystem.exists("\(directory)/artifacts/cache/collect"), "nothing ran")
    }

    /// Writes a SAELens-format directory by hand, as SAELens would.
    func writeForeign(_ p: SAEParameters, config: [String: Any], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var writer = SafetensorsWriter()
        writer.add("W_enc", float32: p.wEnc, shape: [p.d, p.features])
        writer.add("W_dec", float32: p.wDec, shape: [p.features, p.d])
        writer.add("b_enc", float32: p.bEnc, shape: [p.features])
        writer.add("b_dec", float32: p.bDec, shape: [p.d])
        if !p.threshold.isEmpty { writer.add("threshold", float32: p.threshold, shape: [p.features]) }
        try writer.write(to: "\(directory)/sae_weights.safetensors")
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: "\(directory)/cfg.json"))
    }

    /// SAELens' encodings, computed here the way SAELens defines them, against the imported SAE's.
    func testTheImporterFoldsSAELensEncodingOptions() throws {
        let directory = try temporaryDirectory(self)
        let (d, features, rows) = (6, 12, 9)
        var generator = SplitMix64(seed: 5)
        var p = SAEParameters.initialized(d: d, features: features, seed: 3, decoderNorm: 1)
        p.bEnc = (0..<features).map { _ in Float(generator.nextUnit() - 0.5) }
        p.bDec = (0..<d).map { _ in Float(generator.nextUnit() - 0.5) }
        for i in p.wDec.indices { p.wDec[i] *= Float(0.5 + generator.nextUnit()) }
        let x = (0..<(rows * d)).map { _ in Float(generator.nextUnit() * 2 - 1) }

        /// SAELens: pre = (x − b_dec·[apply]) W_enc + b_enc, × ‖W_dec,i‖ when rescaling; x̂ = (f / ‖W_dec,i‖ when rescaling) W_dec + b_dec.
        func reference(applyBDec: Bool, rescale: Bool, k: Int?) -> [Float] {
            let norms = p.decoderNorms()
            var out = [Float]()
            for r in 0..<rows {
                var pre = (0..<features).map { i in
                    p.bEnc[i] + (0..<d).reduce(Float(0)) { $0 + (x[r * d + $1] - (applyBDec ? p.bDec[$1] : 0)) * p.wEnc[$1 * features + i] }
                }
                if rescale { pre = pre.enumerated().map { $0.element * norms[$0.offset] } }
                var f = pre.map { max($0, 0) }
                if let k {
                    let kept = Set(pre.enumerated().sorted { $0.element > $1.element }.prefix(k).map(\.offset))
                    f = f.enumerated().map { kept.contains($0.offset) ? $0.element : 0 }
                }
                if rescale { f = f.enumerated().map { $0.element / norms[$0.offset] } }
                out += (0..<d).map { j in p.bDec[j] + (0..<features).reduce(Float(0)) { $0 + f[$1] * p.wDec[$1 * d + j] } }
            }
            return out
        }
        for (applyBDec, rescale, k) in [(true, false, nil), (false, false, nil), (true, true, 3), (false, true, 4)] as [(Bool, Bool, Int?)] {
            var config: [String: Any] = ["architecture": k == nil ? "standard" : "topk", "d_in": d, "d_sae": features,
                                         "apply_b_dec_to_input": applyBDec, "normalize_activations": "none", "dtype": "float32"]
            if let k { config["k"] = k; config["rescale_acts_by_decoder_norm"] = rescale }
            let path = "\(directory)/sae-\(applyBDec)-\(rescale)"
            try writeForeign(p, config: config, to: path)
            let imported = try SAELensImport.read(path)
            var reconstruction = x
            _ = reconstruction.withUnsafeMutableBufferPointer {
                SAEMath.reconstructInPlace(imported.parameters, activation: imported.activation, $0.baseAddress!, rows: rows)
            }
            let expected = reference(applyBDec: applyBDec, rescale: rescale, k: k)
            for index in expected.indices {
                XCTAssertEqual(reconstruction[index], expected[index], accuracy: 1e-4, "b_dec applied \(applyBDec), rescaled \(rescale)")
            }
        }
    }

    func testMalformedCheckpointsAreClearErrors() throws {
        let directory = try temporaryDirectory(self)
        let p = SAEParameters.initialized(d: 4, features: 8, seed: 1)
        let cases: [(String, [String: Any], String)] = [
            ("norm", ["architecture": "standard", "d_in": 4, "d_sae": 8, "normalize_activations": "expected_average_only_in"], "normalize_activations"),
            ("gated", ["architecture": "gated", "d_in": 4, "d_sae": 8], "architecture \"gated\""),
            ("shape", ["architecture": "standard", "d_in": 5, "d_sae": 8], "shape"),
            ("huge", ["architecture": "standard", "d_in": Int.max / 2, "d_sae": 8], "d_in"),
            ("topk", ["architecture": "topk", "d_in": 4, "d_sae": 8], "needs a whole k"),
            ("jump", ["architecture": "jumprelu", "d_in": 4, "d_sae": 8], "lacks threshold"),
        ]
        for (name, config, message) in cases {
            try writeForeign(p, config: config, to: "\(directory)/\(name)")
            XCTAssertThrowsError(try SAELensImport.read("\(directory)/\(name)"), name) { error in
                XCTAssertTrue("\(error)".contains(message), "\(name): \(error)")
                XCTAssertEqual((error as? SAEPipeError)?.exitCode, 2, name)
            }
        }
    }

    /// The fuzz target's seeds are valid imports, so the fuzzer starts deep inside the checks.
    func testTheFuzzSeedsImport() throws {
        let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Fuzz/seeds/saeimport").standardized.path
        let names = try FileManager.default.contentsOfDirectory(atPath: seeds)
        XCTAssertEqual(names.count, 3)
        let target = try XCTUnwrap(FuzzTarget.named("saeimport"))
        for name in names {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(seeds)/\(name)"))
            XCTAssertNoThrow(try bytes.withUnsafeBytes { try target.run($0) }, name)
        }
    }
}
