import Foundation
import SAEPipeCore
import SAEPipeData
@testable import SAEPipeSAE
import XCTest

/// The training loop on small synthetic activations: it learns, resumes bit for bit,
/// stops on divergence keeping the last good checkpoint, and writes SAELens checkpoints.
final class TrainerTests: XCTestCase {
    func dataset(_ directory: String, rows: Int = 2048, d: Int = 16, atoms: Int = 48, dtype: String = "float32") throws -> ActivationDataset {
        try TrainBenchmark.writeSyntheticActivations(rows: rows, d: d, atoms: atoms, perRow: 3, seed: 4, to: "\(directory)/acts")
        return try ActivationDataset(directory: "\(directory)/acts", validationFraction: 0.1, maxValidationRows: 256, seed: 1)
    }

    func settings(_ activation: SAEActivation = .relu) -> TrainSettings {
        var s = TrainSettings.defaults
        s.dSAE = 64
        s.activation = activation
        s.batchSize = 64
        s.tokens = 64 * 120
        s.lr = 3e-3
        s.lrWarmupSteps = 10
        s.l1Coefficient = 0.5
        s.checkpointEvery = 25
        s.logEvery = 10
        s.deadWindowTokens = 64 * 30
        s.resampleEvery = 50
        s.seed = 9
        return s
    }

    func quiet(_ trainer: Trainer) -> Trainer {
        var trainer = trainer
        trainer.console = Console(verbosity: .quiet)
        return trainer
    }

    func testTrainingReducesTheLossAndKeepsDecoderRowsUnitNorm() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        for activation: SAEActivation in [.relu, .topK(6), .jumpReLU(bandwidth: 0.05)] {
            var s = settings(activation)
            s.jumpReLUInitialThreshold = 0.05
            let result = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train()
            let rows = result.metrics.lines.map { $0.split(separator: ",") }
            let firstFVE = Double(rows.first![6])!, lastFVE = Double(rows.last![6])!
            XCTAssertGreaterThan(lastFVE, firstFVE, activation.name)
            XCTAssertGreaterThan(result.validation.fve, 0.5, activation.name)
            if case .topK(let k) = activation { XCTAssertLessThanOrEqual(result.validation.l0, Double(k)) }
            // Unit-norm rows in the scaled space are 1/scale long once the scale is folded in.
            for norm in result.parameters.decoderNorms() { XCTAssertEqual(norm * result.scale, 1, accuracy: 1e-4) }
        }
    }

    func testTheTrainerStepsTheDecoderAtItsOwnLearningRate() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        func decoder(scale: Float, steps: Int) throws -> SAEParameters {
            var s = settings(.batchTopK(6))
            s.decoderLRScale = scale
            s.tokens = 64 * steps
            return try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train().parameters
        }
        func largestChange(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        // At scale 0 the decoder keeps its starting rows however long it trains (renormalizing a unit row
        // may move its last bit), while the encoder moves.
        let frozenShort = try decoder(scale: 0, steps: 5), frozenLong = try decoder(scale: 0, steps: 40)
        XCTAssertLessThan(largestChange(frozenShort.wDec, frozenLong.wDec), 1e-6)
        XCTAssertGreaterThan(largestChange(frozenShort.wEnc, frozenLong.wEnc), 1e-2)
        let moving = try decoder(scale: 1, steps: 40)
        XCTAssertGreaterThan(largestChange(frozenShort.wDec, moving.wDec), 1e-2)
        XCTAssertGreaterThan(largestChange(try decoder(scale: 2, steps: 40).wDec, moving.wDec), 1e-3,
                             "train.decoder_lr_scale reaches the step")
    }

    func testInterruptedRunResumesBitwise() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        for activation: SAEActivation in [.relu, .jumpReLU(bandwidth: 0.05), .batchTopK(6)] {
            var s = settings(activation)
            s.auxKDeadTokens = 64 * 5  // AuxK at work before the interruption
            s.targetL0 = 5  // exercise the adaptive λ state too
            let straight = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: "\(directory)/straight-\(activation.name)")).train()
            let checkpoint = "\(directory)/interrupted-\(activation.name)"
            XCTAssertThrowsError(try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: checkpoint)).train(stopAfterStep: 63)) {
                XCTAssertTrue($0 is Trainer.Interrupted)
            }
            let resumed = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: checkpoint)).train()
            XCTAssertEqual(resumed.parameters, straight.parameters, "\(activation.name): resumed weights are bitwise equal")
            XCTAssertEqual(resumed.validation, straight.validation)
            let metrics = { (csv: String) in csv.split(separator: "\n").map { $0.split(separator: ",").dropLast().joined(separator: ",") } }
            XCTAssertEqual(metrics(resumed.metrics.csv()), metrics(straight.metrics.csv()), "metrics match except tokens/s")
        }
    }

    /// BatchTopK trains on the batch's k·rows largest activations and encodes alone with its
    /// learned threshold, saved as SAELens does: a JumpReLU checkpoint with that threshold per feature.
    func testBatchTopKEncodesWithItsThresholdAndSavesAsJumpReLU() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        var s = settings(.batchTopK(6))
        s.tokens = 64 * 1000  // the threshold is an average over ~100 steps: long enough for it to settle
        let result = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train()
        let thresholds = Set(result.parameters.threshold)
        XCTAssertEqual(result.parameters.threshold.count, 64)
        XCTAssertEqual(thresholds.count, 1, "one threshold for every feature")
        XCTAssertGreaterThan(thresholds.first!, 1e-3, "the threshold moved up from 0")
        XCTAssertGreaterThan(result.validation.fve, 0.5)
        XCTAssertEqual(result.validation.l0, 6, accuracy: 3, "per-token L0 near k on held-out rows")
        let provenance = SAEProvenance(modelName: "m", hookName: "layers.0.mlp_out", hookLayer: 0, contextSize: 16, datasetPath: "x", prependBOS: false)
        try SAECheckpoint.writeSAELens(result.parameters, activation: SAEActivation.batchTopK(6).inference, provenance: provenance, to: "\(directory)/sae")
        let (loaded, activation) = try SAECheckpoint.readSAELens("\(directory)/sae")
        XCTAssertEqual(loaded, result.parameters)
        XCTAssertEqual(activation, .jumpReLU(bandwidth: SAEActivation.inferenceBandwidth))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/sae/cfg.json"))) as! [String: Any]
        XCTAssertEqual(config["architecture"] as? String, "jumprelu")
        let evaluation = SAEEvaluator.evaluate(loaded, activation: activation, dataset: data, rows: data.validation, batchSize: 64)
        XCTAssertEqual(evaluation, result.validation)
    }

    /// JumpReLU's thresholds, trained directly, rise from their start, and a larger L0
    /// coefficient buys a sparser SAE.
    func testJumpReLUThresholdsMoveAndTheL0PenaltyWorks() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        var l0: [Double] = []
        for lambda: Float in [0.01, 1] {
            var s = settings(.jumpReLU(bandwidth: 0.05))
            s.jumpReLUInitialThreshold = 0.01
            s.l1Coefficient = lambda
            s.tokens = 64 * 400
            s.resampleEvery = 0
            let result = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train()
            let mean = result.parameters.threshold.reduce(0, +) / Float(result.parameters.features)
            XCTAssertGreaterThan(mean, 0.02, "λ \(lambda): thresholds moved from 0.01")
            XCTAssertTrue(result.parameters.threshold.allSatisfy { $0 >= 0 })
            l0.append(result.validation.l0)
        }
        XCTAssertLessThan(l0[1], l0[0] * 0.7, "a 100× larger L0 coefficient gives a sparser SAE: \(l0)")
    }

    /// With many more features than the data has directions, TopK leaves features dead; AuxK
    /// gives them gradient and fewer stay dead.
    func testAuxKRevivesDeadFeatures() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory, rows: 8192, d: 32, atoms: 1024)
        var dead: [Double] = []
        for coefficient: Float in [0, 1] {
            var s = settings(.topK(3))
            s.dSAE = 256
            s.tokens = 64 * 400
            s.resampleEvery = 0
            s.auxKDeadTokens = 64 * 20
            s.auxKCoefficient = coefficient
            let result = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train()
            dead.append(result.validation.deadFraction)
        }
        XCTAssertGreaterThan(dead[0], 0.2, "without AuxK many features are dead: \(dead)")
        XCTAssertLessThan(dead[1], dead[0] * 0.7, "AuxK revives features: \(dead)")
    }

    /// Training on the sparse path follows the dense path's loss curve within float tolerance.
    func testSparseTrainingFollowsTheDenseLossCurve() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        var curves: [[Double]] = []
        for mode in [ComputeMode.dense, .sparse] {
            var s = settings()
            s.compute = mode
            s.resampleEvery = 0
            let result = try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: nil)).train()
            curves.append(result.metrics.rows.map { $0[.loss]! })
        }
        XCTAssertEqual(curves[0].count, curves[1].count)
        for (dense, sparse) in zip(curves[0], curves[1]) { XCTAssertEqual(sparse, dense, accuracy: 1e-3 * dense) }
    }

    func testDivergenceStopsWithAClearErrorAndKeepsTheCheckpoint() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        var s = settings()
        s.lr = 1e30
        s.gradientClip = nil
        let checkpoint = "\(directory)/diverging"
        XCTAssertThrowsError(try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: checkpoint)).train()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("training diverged"), text)
            XCTAssertTrue(text.contains("lower train.lr"), text)
        }
    }

    func testAnExplodingButFiniteLossStopsTrainingAtItsStep() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        var s = settings()
        s.lr = 10
        s.lrWarmupSteps = 0
        s.checkpointEvery = 5
        let checkpoint = "\(directory)/exploding"
        XCTAssertThrowsError(try quiet(Trainer(dataset: data, settings: s, checkpointDirectory: checkpoint)).train()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("training diverged at step"), text)
            XCTAssertTrue(text.contains("the loss grew to") || text.contains("loss is"), text)
            XCTAssertTrue(text.contains("last good checkpoint (step") || text.contains("no checkpoint was written"), text)
        }
    }

    func testSAELensCheckpointRoundTripsAndFoldsTheScale() throws {
        let directory = try temporaryDirectory(self)
        let data = try dataset(directory)
        let result = try quiet(Trainer(dataset: data, settings: settings(), checkpointDirectory: nil)).train()
        let provenance = SAEProvenance(modelName: "m", hookName: "layers.0.mlp_out", hookLayer: 0, contextSize: 16, datasetPath: "x", prependBOS: false)
        try SAECheckpoint.writeSAELens(result.parameters, activation: .relu, provenance: provenance, to: "\(directory)/sae")
        let (loaded, activation) = try SAECheckpoint.readSAELens("\(directory)/sae")
        XCTAssertEqual(loaded, result.parameters)
        XCTAssertEqual(activation, .relu)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/sae/cfg.json"))) as! [String: Any]
        XCTAssertEqual(config["architecture"] as? String, "standard")
        XCTAssertEqual(config["d_in"] as? Int, 16)
        XCTAssertEqual(config["d_sae"] as? Int, 64)
        XCTAssertEqual(config["apply_b_dec_to_input"] as? Bool, true)
        // Raw-space weights on raw rows give the same features as scaled weights on scaled rows.
        let evaluation = SAEEvaluator.evaluate(loaded, activation: .relu, dataset: data, rows: data.validation, batchSize: 64)
        XCTAssertEqual(evaluation.fve, result.validation.fve, accuracy: 1e-9)
        XCTAssertEqual(evaluation.l0, result.validation.l0, accuracy: 1e-9)
    }
}

/// The training line's ETA: dense steps until the density's trend crosses the sparse switch,
/// then the (probed) sparse step time, plus the held-out evaluations still to come.
final class TrainingETATests: XCTestCase {
    func testTheETAExpectsTheSwitchToTheSparsePath() throws {
        var eta = TrainingETA(maximumDensity: 0.08)
        // Density halves every 100 steps from 0.32: it crosses 0.08 at step 200.
        var density = 0.32
        for step in 1...100 {
            density = 0.32 * pow(0.5, Double(step) / 100)
            eta.recordStep(seconds: 1.0, sparse: false, density: density, step: step)
        }
        // Before a probe only the dense time is known.
        XCTAssertEqual(eta.secondsLeft(step: 100, total: 1000, sparseNow: false, density: density, validationsLeft: 0)!, 900, accuracy: 1e-6)
        // A dense step of 1 s spent 0.8 s in its forward and backward pass; the sparse pass took
        // 0.46 s at density 0.08: 0.16 s of encoder product and 0.3 s that halves with the density.
        eta.recordProbe(denseStepSeconds: 1.0, denseSeconds: 0.8, sparseSeconds: 0.46, density: 0.08)
        XCTAssertEqual(eta.stepsUntilSparse(step: 100, density: density), 100)
        // 100 dense steps of 1 s, then 800 sparse steps of 1 − 0.8 + 0.16 + 0.15 = 0.51 s, and two evaluations of 3 s.
        eta.recordValidation(seconds: 3, sparse: true)
        XCTAssertEqual(eta.secondsLeft(step: 100, total: 1000, sparseNow: false, density: density, validationsLeft: 2)!,
                       100 + 800 * 0.51 + 6, accuracy: 1e-6)
        // A density that is not falling keeps training dense.
        var flat = TrainingETA(maximumDensity: 0.08)
        for step in 1...100 { flat.recordStep(seconds: 1.0, sparse: false, density: 0.2, step: step) }
        flat.recordProbe(denseStepSeconds: 1.0, denseSeconds: 0.8, sparseSeconds: 0.46, density: 0.08)
        XCTAssertEqual(flat.secondsLeft(step: 100, total: 1000, sparseNow: false, density: 0.2, validationsLeft: 0)!, 900, accuracy: 1e-6)
    }
}
