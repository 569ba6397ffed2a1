import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeData
import SAEPipeModels
import SAEPipeSAE
import XCTest

/// `saepipe ablate`: per-feature loss effects, checked against a direct computation (whole
/// forward passes, no cached residual) on the tiny model.
final class AblateTests: XCTestCase {
    func testEffectsMatchADirectComputation() throws {
        let (directory, config) = try makeTinyProject(self)
        _ = try runTinyProject(config, until: "train.A")
        _ = try runTinyProject(config, until: "train.B")
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        let path = try AblateRun.run("tiny", overrides: try AblateRun.overrides(features: ["A:5"], top: 2, sequences: 6))
        let file = try JSONDecoder().decode(AblationFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(file.features.filter { $0.sae == "A" }.first?.feature, 5, "listed features first")
        XCTAssertEqual(file.features.filter { $0.sae == "A" }.count, 3, "feature 5 and the two most frequent")
        XCTAssertEqual(file.features.filter { $0.sae == "B" }.count, 2)
        for name in ["tables/ablation.csv", "tables/ablation.md", "figures/ablation.png"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/\(name)"), name)
        }

        // Directly: full forward passes over the same held-out windows, SAE A spliced with and without each feature.
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/manifest.json"))) as! [String: Any]
        let activations = (manifest["activations"] as! [String: String])
        let (sae, activation) = try SAECheckpoint.readSAELens((manifest["saes"] as! [String: String])["A"]!)
        let model = try LanguageModel.load(fixturePath("tiny-neox"))
        let hook = HookPoint(layer: 1, site: .mlpOut)
        for feature in file.features where feature.sae == "A" {
            for effect in feature.effects {
                let set = try ActivationDataset(directory: activations[effect.dataset]!, split: TrainSettings.defaults.validation, seed: 3)
                let windows = try SplicedLoss.heldOutWindows(activations[effect.dataset]!, count: 6, seed: 3, heldOut: set.validationWindows)
                func nll(removing: Int?) throws -> [Float] {
                    try model.forward(windows, ForwardRequest(intervene: [hook], intervention: { _, _, buffer in
                        _ = SAEMath.reconstructInPlace(sae, activation: activation, buffer.baseAddress!, rows: buffer.count / sae.d, removing: removing)
                    }, outputs: [.tokenNLL])).tokenNLL!
                }
                let (with, without) = (try nll(removing: nil), try nll(removing: feature.feature))
                let perWindow = (0..<windows.batch).map { w in
                    (0..<(windows.seqLen - 1)).reduce(0.0) { $0 + Double(without[w * (windows.seqLen - 1) + $1]) - Double(with[w * (windows.seqLen - 1) + $1]) }
                        / Double(windows.seqLen - 1)
                }
                let expected = perWindow.reduce(0, +) / Double(perWindow.count)
                XCTAssertEqual(effect.meanLossChange, expected, accuracy: 1e-5, "A\(feature.feature) on \(effect.dataset)")
                XCTAssertEqual(effect.predictions, windows.batch * (windows.seqLen - 1))
                XCTAssertTrue(effect.topTokens.allSatisfy { $0.lossChange > 0 })
                XCTAssertEqual(effect.topTokens.map(\.lossChange), effect.topTokens.map(\.lossChange).sorted(by: >))
            }
        }
        XCTAssertTrue(file.features.contains { $0.effects.contains { $0.meanLossChange != 0 } }, "some ablation changes the loss")

        // A later request is only what it says, not the earlier one's settings recorded in the run.
        let second = try AblateRun.run("tiny", overrides: try AblateRun.overrides(features: ["B:3"], top: nil, sequences: 6))
        let only = try JSONDecoder().decode(AblationFile.self, from: Data(contentsOf: URL(fileURLWithPath: second)))
        XCTAssertEqual(only.features.map { "\($0.sae)\($0.feature)" }, ["B3"])
        // A feature past the dictionary is an error naming the key.
        XCTAssertThrowsError(try AblateRun.run("tiny", overrides: try AblateRun.overrides(features: ["B:99999"], top: nil, sequences: nil))) {
            XCTAssertTrue("\($0)".contains("ablate.features.B: SAE B has 512 features, so 99999 is not one of them"), "\($0)")
        }
        XCTAssertThrowsError(try AblateRun.overrides(features: ["C:1"], top: nil, sequences: nil))
    }
}
