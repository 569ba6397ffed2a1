import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// Multi-layer SAEs (`sae.layers`): SAELens' layer_norm input normalization, the stacked
/// dataset, and the mlsae stage's per-layer evaluation, checked against direct computations.
final class MultiLayerTests: XCTestCase {
    /// Rows with different offsets and scales, as residual streams of different layers have.
    func rows(_ count: Int, d: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).flatMap { r in (0..<d).map { _ in Float(generator.nextUnit() * 2 - 1) * Float(r + 1) * 3 + Float(r) } }
    }

    /// torch's convention, in Double: x − mean over the row, divided by its std (Bessel) + 1e-5.
    func standardizedDirectly(_ row: ArraySlice<Float>) -> (values: [Double], mean: Double, std: Double) {
        let values = row.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
        return (values.map { ($0 - mean) / (std + 1e-5) }, mean, std)
    }

    func testLayerNormMatchesTorchConvention() {
        let d = 24
        var x = rows(5, d: d, seed: 1)
        let original = x
        let statistics = x.withUnsafeMutableBufferPointer { InputNormalization.standardize($0.baseAddress!, rows: 5, d: d) }
        for r in 0..<5 {
            let direct = standardizedDirectly(original[(r * d)..<((r + 1) * d)])
            XCTAssertEqual(Double(statistics[r].mean), direct.mean, accuracy: 1e-4 * max(1, abs(direct.mean)))
            XCTAssertEqual(Double(statistics[r].std), direct.std, accuracy: 1e-4 * direct.std)
            for j in 0..<d { XCTAssertEqual(Double(x[r * d + j]), direct.values[j], accuracy: 1e-4) }
        }
    }

    /// A layer_norm SAE spliced in: standardize, encode, decode, then × std + mean — computed by hand.
    func testReconstructInPlaceGoesThroughTheNormalization() {
        let (d, features, n) = (16, 40, 6)
        var sae = SAEParameters.initialized(d: d, features: features, seed: 5, decoderNorm: 1)
        var generator = SplitMix64(seed: 9)
        sae.bEnc = (0..<features).map { _ in Float(generator.nextUnit() - 0.3) }
        sae.bDec = (0..<d).map { _ in Float(generator.nextUnit() - 0.5) }
        sae.inputNormalization = .layerNorm
        let x = rows(n, d: d, seed: 2)
        var spliced = x
        _ = spliced.withUnsafeMutableBufferPointer { SAEMath.reconstructInPlace(sae, activation: .relu, $0.baseAddress!, rows: n) }
        for r in 0..<n {
            let (standardized, mean, std) = standardizedDirectly(x[(r * d)..<((r + 1) * d)])
            let f = (0..<features).map { i in
                max(0, (0..<d).reduce(Double(sae.bEnc[i])) { $0 + (standardized[$1] - Double(sae.bDec[$1])) * Double(sae.wEnc[$1 * features + i]) })
            }
            XCTAssertTrue(f.contains { $0 > 0 })
            for j in 0..<d {
                let decoded = (0..<features).reduce(Double(sae.bDec[j])) { $0 + f[$1] * Double(sae.wDec[$1 * d + j]) }
                XCTAssertEqual(Double(spliced[r * d + j]), decoded * std + mean, accuracy: 1e-3 * max(1, std), "row \(r), \(j)")
            }
        }
        // A raw-activation SAE is untouched by it.
        sae.inputNormalization = .none
        var raw = x
        _ = raw.withUnsafeMutableBufferPointer { SAEMath.reconstructInPlace(sae, activation: .relu, $0.baseAddress!, rows: n) }
        XCTAssertNotEqual(raw, spliced)
    }

    func testLayerDistributionMoments() {
        // Latent 0 only at layer 4, latent 1 evenly at layers 2 and 6, latent 2 never.
        let distribution = LayerDistribution(layers: [2, 4, 6], totals: [[0, 1.5, 0], [3, 0, 0], [0, 1.5, 0]], counts: [[0, 1, 0], [2, 0, 0], [0, 1, 0]])
        XCTAssertEqual(distribution.moments(0)!.mean, 4)
        XCTAssertEqual(distribution.moments(0)!.std, 0)
        XCTAssertEqual(distribution.moments(1)!.mean, 4)
        XCTAssertEqual(distribution.moments(1)!.std, 2, accuracy: 1e-12)
        XCTAssertNil(distribution.moments(2))
        XCTAssertEqual(distribution.shares(1)!, [0.5, 0, 0.5])
        XCTAssertEqual(distribution.orderByMeanLayer(), [0, 1])
    }

    static let overrides = [
        "model.stream=resid_post", "sae.layers=all", "sae.activation=topk", "sae.k=6", "sae.expansion=2", "train.tokens=12000",
        "train.batch_size=100", "train.lr=0.003", "train.lr_warmup_steps=5", "mlsae.sequences=5", "eval.sequences=5",
        "eval.bootstrap_resamples=100",
    ]

    func testMultiLayerSAEIsEvaluatedAtEveryLayer() throws {
        let (directory, config) = try makeTinyProject(self)
        let ran = try runTinyProject(config, until: nil, overrides: Self.overrides).ran
        XCTAssertTrue(ran.contains("mlsae"), "\(ran)")
        let run = "\(directory)/outputs/tiny"
        let file = try MultiLayerFile.read("\(run)/\(MultiLayerFile.fileName)")
        let manifest = try RunManifest.read(runDirectory: run)
        let collectEntry = FileSystem.parent(of: FileSystem.parent(of: try XCTUnwrap(manifest.entries("activations")["A"])))
        let saeEntry = try XCTUnwrap(manifest.entries("saes")["A"])
        let (mlsae, activation) = try SAECheckpoint.readSAELens(saeEntry)
        XCTAssertEqual(mlsae.inputNormalization, .layerNorm)
        XCTAssertEqual(try SAELensImport.read(saeEntry).parameters.inputNormalization, .layerNorm, "sae.load takes it back")
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(saeEntry)/cfg.json"))) as! [String: Any]
        XCTAssertEqual(cfg["normalize_activations"] as? String, "layer_norm")
        XCTAssertEqual(cfg["hook_name"] as? String, "layers.0.resid_post,layers.1.resid_post")

        let sae = try XCTUnwrap(file.saes["A"])
        XCTAssertEqual(sae.layers, [0, 1])
        XCTAssertEqual(sae.features, 128)
        XCTAssertEqual(sae.perLayerFeatures, 64, "two per-layer SAEs together as wide as the MLSAE")
        for (index, layer) in sae.byLayer.enumerated() {
            // FVE and L0 at a layer: the SAE on that layer's set alone, opened afresh.
            let single = try ActivationDataset(directory: "\(collectEntry)/layers/\(layer.layer)", split: TrainSettings.defaults.validation,
                                               seed: 3, normalization: .layerNorm)
            let direct = SAEEvaluator.evaluate(mlsae, activation: activation, dataset: single, rows: single.validation, batchSize: 1024)
            // Summed per window there, per batch here: equal up to float rounding.
            XCTAssertEqual(layer.mlsae.fve, direct.fve, accuracy: 1e-6, "layer \(layer.layer)")
            XCTAssertEqual(layer.mlsae.l0, direct.l0, accuracy: 1e-6)
            XCTAssertEqual(layer.mlsae.rows, single.validation.count)
            XCTAssertNotNil(layer.perLayer)
            XCTAssertNotNil(layer.mmcsPerLayerToMLSAE)
            XCTAssertEqual(layer.mmcsPerLayerToPrevious == nil, index == 0)
        }
        // `saepipe sae-metrics` measures a layer_norm SAE on the standardized vectors too.
        let metrics = try SAEMetrics.measure(sae: saeEntry, activations: "\(collectEntry)/layers/1", rows: .heldOut, seed: 3)
        XCTAssertEqual(metrics.fve, sae.byLayer[1].mlsae.fve, accuracy: 1e-6)
        XCTAssertEqual(metrics.l0, sae.byLayer[1].mlsae.l0, accuracy: 1e-6)
        // Spliced at model.layer (1), the eval stage's numbers on the same windows are the mlsae stage's.
        let results = try XCTUnwrap(try EvalResults.read(runDirectory: run))
        let pair = try XCTUnwrap(results.eval[SAEPair(.A, .A)])
        let atLayer = try XCTUnwrap(sae.byLayer.first { $0.layer == 1 })
        XCTAssertEqual(pair.fve, atLayer.mlsae.fve, accuracy: 1e-9)
        XCTAssertEqual(pair.ceLossSAE, atLayer.mlsae.ceLossSAE, accuracy: 1e-6)
        XCTAssertEqual(pair.ceLossClean, atLayer.mlsae.ceLossClean, accuracy: 1e-6)

        // Each live latent's moments follow from its shares.
        XCTAssertGreaterThan(sae.liveLatents, 0)
        for latent in sae.latents {
            guard let shares = latent.shares else { XCTAssertEqual(latent.fired, 0); continue }
            XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 1e-9)
            let mean = zip(sae.layers, shares).reduce(0) { $0 + Double($1.0) * $1.1 }
            XCTAssertEqual(latent.meanLayer!, mean, accuracy: 1e-9)
            let variance = zip(sae.layers, shares).reduce(0) { $0 + (Double($1.0) - mean) * (Double($1.0) - mean) * $1.1 }
            XCTAssertEqual(latent.layerStd!, variance.squareRoot(), accuracy: 1e-6)
        }
        for name in ["mlsae_layers_A", "mlsae_per_layer_saes_A", "mlsae_latent_layers_A", "mlsae_vs_per_layer_A", "mlsae_layer_std_B"] {
            XCTAssertTrue(FileSystem.exists("\(run)/figures/\(name).png"), name)
        }
        for name in ["mlsae_layers.csv", "mlsae_layers.md", "mlsae_latents_A.csv"] {
            XCTAssertTrue(FileSystem.exists("\(run)/tables/\(name)"), name)
        }
        // The write-up states the per-layer comparison, and its counts are the file's.
        try BlogExport.export(run: run, to: "\(directory)/bundle", artifacts: "\(directory)/artifacts")
        let report = try String(contentsOfFile: "\(directory)/bundle/report.md", encoding: .utf8)
        let compared = sae.byLayer.compactMap(\.comparison)
        let better = compared.filter { ($0.fveInterval?[0] ?? 0) > 0 }.count, worse = compared.filter { ($0.fveInterval?[1] ?? 0) < 0 }.count
        XCTAssertTrue(report.contains("it reconstructs better at \(better) of 2 layers, worse at \(worse) and indistinguishably at \(2 - better - worse)"), report)
        let l0s = Set(sae.byLayer.map { NumberFormat.fixed($0.mlsae.l0, digits: 1) })
        XCTAssertTrue(report.contains(l0s.count == 1 ? "its L0 is \(l0s.first!) at every layer" : "its L0 runs from"), "\(l0s)")
        XCTAssertTrue(report.contains("one multi-layer SAE per dataset on the `resid_post` vectors of every layer"), report)
        XCTAssertTrue(report.contains("figures/mlsae_vs_per_layer_A.png"))
        XCTAssertTrue(FileSystem.exists("\(directory)/bundle/figures/mlsae_latent_layers_B.png"))
        XCTAssertEqual(Table.parseCSV(try String(contentsOfFile: "\(run)/tables/mlsae_layers.csv", encoding: .utf8))?.rows.count, 4, "two SAEs × two layers")
    }

    func testMultiLayerConfigMistakesNameTheKey() throws {
        let (_, config) = try makeTinyProject(self)
        XCTAssertThrowsError(try runTinyProject(config, until: "collect", overrides: ["sae.layers=all"])) { error in
            XCTAssertTrue("\(error)".contains("sae.layers") && "\(error)".contains("model.stream: resid_post"), "\(error)")
        }
        XCTAssertThrowsError(try runTinyProject(config, until: "collect", overrides: ["model.stream=resid_post", "sae.layers=[1]"])) { error in
            XCTAssertTrue("\(error)".contains("two or more"), "\(error)")
        }
        XCTAssertThrowsError(try runTinyProject(config, until: "collect", overrides: ["model.stream=resid_post", "sae.layers=[0, 5]", "model.layer=0"])) { error in
            XCTAssertTrue("\(error)".contains("layer 5") && "\(error)".contains("sae.layers"), "\(error)")
        }
    }
}
