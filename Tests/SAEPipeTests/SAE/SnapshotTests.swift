import Foundation
import SAEPipe
import SAEPipeCore
@testable import SAEPipeSAE
import XCTest

/// `train.snapshots`: checkpoints with held-out metrics at token milestones, each feature's
/// emergence, and the figures drawn from them.
final class SnapshotTests: XCTestCase {
    func testEmergenceIsTheFirstSnapshotAliveAndTheFirstWithinTheCosine() {
        // Three features in 2-D; their final directions are the axes and (1, 1).
        let final = SAEParameters(d: 2, features: 3, wEnc: [Float](repeating: 0, count: 6), bEnc: [0, 0, 0],
                                  wDec: [1, 0, 0, 1, 1, 1], bDec: [0, 0])
        func snapshot(_ milestone: Int, _ wDec: [Float], _ frequencies: [Double]) -> FeatureEmergence.Input {
            var p = final
            p.wDec = wDec
            return FeatureEmergence.Input(milestone: milestone, parameters: p, frequencies: frequencies)
        }
        let features = FeatureEmergence.compute(final: final, finalFrequencies: [0.1, 0.2, 0.3], snapshots: [
            snapshot(200, [2, 0.1, 1, 0, 0, 1], [0.1, 0, 0]),      // feature 0 settled (cos ≈ 0.999) and alive; 1 orthogonal; 2 at 45°
            snapshot(100, [0, 1, 1, 0, 1, 0], [0, 0, 0]),          // unsorted input: 100 comes first
            snapshot(300, [1, 0, 0.3, 1, 1, 0.9], [0.2, 0.5, 0]),  // 1 at cos 0.958, 2 at cos 0.999
        ])
        XCTAssertEqual(features[0], FeatureEmergence.Feature(aliveAt: 200, settledAt: 200))
        XCTAssertEqual(features[1], FeatureEmergence.Feature(aliveAt: 300, settledAt: 300))
        XCTAssertEqual(features[2], FeatureEmergence.Feature(aliveAt: nil, settledAt: 300), "cos 0.707 at 100 and 200 is not settled")
        XCTAssertEqual(FeatureEmergence.csv(features), "feature,alive_at,settled_at\n0,200,200\n1,300,300\n2,,300\n")
        let silentAtTheEnd = FeatureEmergence.compute(final: final, finalFrequencies: [0.1, 0, 0.3], snapshots: [snapshot(100, [1, 0, 0, 1, 1, 1], [0, 0, 0])])
        XCTAssertEqual(silentAtTheEnd[1].settledAt, nil, "a feature silent at the end never counts as settled")
        XCTAssertEqual(silentAtTheEnd[0].settledAt, 100)
    }

    func testTrainingKeepsSnapshotsAndVizDrawsEmergence() throws {
        let (directory, config) = try makeTinyProject(self, extraConfig: "train: {tokens: 20000, batch_size: 256, snapshots: [5000, 10000, 20000]}\n")
        _ = try runTinyProject(config, until: "viz")
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/outputs/tiny/manifest.json"))) as! [String: Any]
        let entry = (manifest["saes"] as! [String: String])["A"]!
        let file = try SnapshotsFile.read("\(entry)/\(SnapshotsFile.fileName)")
        XCTAssertEqual(file.snapshots.map(\.milestone), [5000, 10000, 20000])
        XCTAssertEqual(file.snapshots.map(\.trainedTokens), [5120, 10240, 20224], "whole batches of 256; the last is the final step")
        let final = try JSONFile.read(ValidationSummary.self, from: "\(entry)/\(ValidationSummary.fileName)", hint: "")
        XCTAssertEqual(file.snapshots.last!.evaluation, final.evaluation, "the last snapshot is the final SAE")
        let firing = try SAECheckpoint.readSparsity(entry).filter { $0 > 0 }.count
        XCTAssertEqual(file.snapshots.last!.settled, firing, "every feature that fires is at its final direction at the end")
        XCTAssertEqual(file.snapshots.map(\.settled), file.snapshots.map(\.settled).sorted())
        for milestone in [5000, 10000, 20000] {
            let (parameters, _) = try SAECheckpoint.readSAELens("\(entry)/snapshots/\(milestone)")
            XCTAssertEqual(parameters.features, file.features)
        }
        let emergence = try String(contentsOfFile: "\(entry)/\(FeatureEmergence.fileName)", encoding: .utf8)
        XCTAssertEqual(emergence.split(separator: "\n").count, file.features + 1)
        for name in ["snapshot_fve", "emergence", "snapshot_frequencies_A", "snapshot_frequencies_B"] {
            XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/figures/\(name).png"), name)
        }
        XCTAssertTrue(FileSystem.exists("\(directory)/outputs/tiny/tables/snapshots.csv"))

        // A milestone past the budget is an error that names the key.
        XCTAssertThrowsError(try runTinyProject(config, until: "train.A", overrides: ["train.snapshots=[5000, 999999]"])) { error in
            XCTAssertTrue("\(error)".contains("train.snapshots: 999999 is past the 20224 tokens"), "\(error)")
        }
    }
}
