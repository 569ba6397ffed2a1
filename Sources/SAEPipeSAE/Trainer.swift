import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// Metrics of an SAE over a set of rows (validation, eval).
public struct SAEEvaluation: Sendable, Codable, Equatable {
    public init(mse: Double, fve: Double, l0: Double, l1: Double, deadFraction: Double, rows: Int) {
        (self.mse, self.fve, self.l0, self.l1, self.deadFraction, self.rows) = (mse, fve, l0, l1, deadFraction, rows)
    }

    public var mse: Double
    public var fve: Double
    public var l0: Double
    public var l1: Double
    public var deadFraction: Double
    public var rows: Int

    enum CodingKeys: String, CodingKey {
        case mse, fve, l0, l1, deadFraction = "dead_fraction", rows
    }
}

/// Trains one SAE on an activation set: seeded batches, Adam, schedules, dead-feature
/// tracking, optional resampling and adaptive λ, checkpoints that resume exactly.
public struct Trainer {
    public struct Result: Sendable {
        /// Weights acting on raw activations (the input scale folded in).
        public var parameters: SAEParameters
        public var scale: Float
        public var validation: SAEEvaluation
        /// Share of held-out rows on which each feature fires.
        public var heldOutFrequencies: [Double]
        public var steps: Int
        /// Rows the optimizer saw (steps × batch size), counting repeats.
        public var trainingTokens: Int
        public var metrics: TrainingMetrics
        /// Training throughput: the held-out evaluations along the way and at the end are not counted.
        public var tokensPerSecond: Double
    }

    /// The SAE as it was when training passed a `train.snapshots` milestone.
    public struct Snapshot: Sendable {
        /// The milestone, and the tokens actually trained on (whole batches, so at or past it).
        public var milestone: Int
        public var trainedTokens: Int
        public var step: Int
        /// Weights acting on raw activations, as the final SAE's.
        public var parameters: SAEParameters
        /// Held-out metrics and firing frequencies.
        public var analysis: SAEEvaluator.Analysis
    }

    /// Thrown by the test hook `stopAfterStep`, after the checkpoint at that step is written.
    public struct Interrupted: Error {}


    public let dataset: ActivationDataset
    public let settings: TrainSettings
    /// Where checkpoints go while training; an existing one is resumed.
    public let checkpointDirectory: String?
    public var console: Console = .shared
    public var label = "train"
    public var log: (String) -> Void = { _ in }
    /// Receives each snapshot as training passes its milestone (before that step's checkpoint,
    /// so a resumed run has every snapshot up to where it resumes).
    public var snapshot: (Snapshot) throws -> Void = { _ in }

    public init(dataset: ActivationDataset, settings: TrainSettings, checkpointDirectory: String?) {
        self.dataset = dataset
        self.settings = settings
        self.checkpointDirectory = checkpointDirectory
    }

    func freshState() -> TrainingState {
        let d = dataset.d, features = settings.features(d: d)
        var threshold: Float?
        if case .jumpReLU = settings.activation { threshold = settings.jumpReLUInitialThreshold }
        var parameters = SAEParameters.initialized(d: d, features: features, seed: settings.seed, decoderNorm: settings.decoderInitNorm,
                                                   threshold: threshold)
        if settings.form == .unitNormDecoder { parameters.normalizeDecoderRows() }
        let scale = settings.normalizeActivations ? dataset.normalizationScale() : 1
        parameters.bDec = startingDecoderBias(scale: scale)
        if settings.decoderWeightInit == .trainingRows { startDecoderRowsAtTrainingRows(&parameters, scale: scale) }
        return TrainingState(
            parameters: parameters, adam: Adam(beta1: settings.beta1, beta2: settings.beta2, epsilon: settings.epsilon),
            order: BatchOrder(seed: settings.seed), step: 0, lambda: settings.l1Coefficient,
            l0Average: settings.targetL0 ?? 0, tokensSinceFired: [Int32](repeating: 0, count: features),
            scale: scale, metrics: [])
    }

    /// Rows the decoder bias's start is computed over (evenly spaced over the training split).
    static let decoderBiasSampleRows = 16_384

    /// `sae.w_dec_init: training_rows`: each feature's decoder row (and encoder column) points along a
    /// distinct, randomly drawn training row less the starting `b_dec`, at the norm it started with.
    /// With fewer training rows than features, the rest keep their random directions.
    func startDecoderRowsAtTrainingRows(_ parameters: inout SAEParameters, scale: Float) {
        let training = dataset.training, count = min(parameters.features, training.count)
        // Its own stream, so the random directions and the batch order stay what they were.
        var generator = SplitMix64(seed: settings.seed ^ 0x5EED_0F_DEC0DE)
        let picks = DecoderRowsStart.distinctIndices(count, below: training.count, generator: &generator)
        var row = [Float](repeating: 0, count: dataset.d)
        let bias = parameters.bDec
        for (feature, pick) in picks.enumerated() {
            row.withUnsafeMutableBufferPointer { dataset.gather(training[pick...pick], scale: scale, into: $0.baseAddress!) }
            row.withUnsafeBufferPointer { DecoderRowsStart.point(&parameters, feature: feature, along: $0.baseAddress!, bias: bias) }
        }
    }

    /// `sae.b_dec_init` over evenly spaced training rows, in the scaled units training uses.
    func startingDecoderBias(scale: Float) -> [Float] {
        let d = dataset.d, training = dataset.training
        let statistic: (UnsafePointer<Float>, Int) -> [Float]
        switch settings.decoderBiasInit {
        case .zeros: return [Float](repeating: 0, count: d)
        case .mean: statistic = { DecoderBiasStart.mean($0, count: $1, d: d) }
        case .geometricMedian: statistic = { DecoderBiasStart.geometricMedian($0, count: $1, d: d) }
        }
        let stride = max(1, training.count / Trainer.decoderBiasSampleRows)
        let sample = Swift.stride(from: 0, to: training.count, by: stride).prefix(Trainer.decoderBiasSampleRows).map { training[$0] }
        var rows = [Float](repeating: 0, count: sample.count * d)
        rows.withUnsafeMutableBufferPointer { dataset.gather(sample[...], scale: scale, into: $0.baseAddress!) }
        return rows.withUnsafeBufferPointer { statistic($0.baseAddress!, sample.count) }
    }

    /// The training line's live figures: loss and L0 on recent batches, the last held-out FVE.
    static func liveDetail(loss: Double, l0: Double, heldOutFVE: Double?) -> String {
        var text = String(format: "loss %.4g · L0 %.1f", loss, l0)
        if let heldOutFVE { text += String(format: " · held-out FVE %.3f", heldOutFVE) }
        return text
    }

    /// Trains to the configured number of steps (or `stopAfterStep`), resuming from the
    /// checkpoint directory when it holds a state, and evaluates on the held-out rows.
    public func train(stopAfterStep: Int? = nil) throws -> Result {
        // Single-threaded OpenBLAS throughout: the GEMMs split their rows over the cores themselves
        // (`BLAS.sgemmSplittingRows`), so no BLAS worker spins beside the element-wise work.
        try BLAS.singleThreaded { try trainSingleThreadedBLAS(stopAfterStep: stopAfterStep) }
    }

    private func trainSingleThreadedBLAS(stopAfterStep: Int?) throws -> Result {
        var state = try checkpointDirectory.flatMap { try TrainingState.read(from: $0, settings: settings) } ?? freshState()
        if state.step > 0 { log("resuming from step \(state.step) (\(checkpointDirectory!))") }
        let d = dataset.d, features = state.parameters.features, batchSize = settings.batchSize
        let total = settings.steps(trainingRows: dataset.training.count)
        let workspace = SAEWorkspace(batch: batchSize, d: d, features: features)
        var gradients = state.parameters
        var batch = [Float](repeating: 0, count: batchSize * d)
        var residual = settings.activation.selectsByRank && settings.auxKCoefficient > 0 ? [Float](repeating: 0, count: batchSize * d) : []
        var orderCache: (epoch: Int, order: [Int])?
        let progress = Progress(label, total: total * batchSize, unit: "tok", console: console)
        progress.skip(state.step * batchSize)
        // Smoothed training-batch figures and the latest held-out FVE, for the live line.
        var smoothedLoss: Double?, smoothedL0: Double?, lastHeldOutFVE: Double?
        var eta = TrainingETA(maximumDensity: { if case .automatic(let m) = settings.compute { return m } else { return nil } }())
        // Scratch buffers for timing the sparse path while training still runs dense (never read back).
        var probe: (workspace: SAEWorkspace, gradients: SAEParameters)?
        let started = Date()
        let startStep = state.step
        var windowStart = (Date(), state.step)
        // The step of the newest checkpoint on disk (the one resumed from, if any).
        var lastGood: Int? = state.step > 0 ? state.step : nil
        var firstLoss: Double?
        // The held-out pass at the last step is the final analysis too; time spent on held-out passes.
        var finalAnalysis: SAEEvaluator.Analysis?
        var heldOutSeconds: Double = 0
        Interruption.shared.beginTraining()
        var trainingEnded = false
        defer { if !trainingEnded { Interruption.shared.endTraining() } }

        while state.step < total {
            let stepStarted = Date()
            let indices = state.order.next(batchSize, from: dataset.training, cache: &orderCache)
            let rows = indices.count
            batch.withUnsafeMutableBufferPointer { dataset.gather(indices, scale: state.scale, into: $0.baseAddress!) }
            let lambda = state.lambda * settings.lambdaFactor(step: state.step, total: total)
            let activation = settings.trainingActivation(step: state.step, total: total, features: features)
            let passStarted = Date()
            var auxiliaryLoss: Double = 0
            let stats = batch.withUnsafeBufferPointer { x -> SAEBatchStats in
                let stats = SAEMath.forward(state.parameters, x.baseAddress!, rows: rows, activation: activation,
                                            form: settings.form, workspace: workspace, mode: settings.compute)
                if !residual.isEmpty {
                    // x − x̂ before backward turns the error into its gradient.
                    residual.withUnsafeMutableBufferPointer { residual in
                        nonisolated(unsafe) let (residual, x, xh) = (residual.baseAddress!, x.baseAddress!, workspace.reconstruction)
                        Parallel.chunks(rows * d, minimumChunk: 1 << 15) { range in
                            for index in range { residual[index] = x[index] - xh[index] }
                        }
                    }
                }
                SAEMath.backward(state.parameters, x.baseAddress!, rows: rows, activation: activation, form: settings.form,
                                 lambda: lambda, workspace: workspace, into: &gradients, mayLeaveEncoderGradientTransposed: true)
                if !residual.isEmpty {
                    let dead = state.tokensSinceFired.map { Int($0) >= settings.auxKDeadTokens }
                    auxiliaryLoss = residual.withUnsafeBufferPointer { residual in
                        withUnsafeMutablePointer(to: &gradients) { gradients in
                            AuxiliaryLoss.add(state.parameters, rows: rows, residual: residual.baseAddress!, dead: dead,
                                              coefficient: settings.auxKCoefficient, workspace: workspace, into: gradients)
                        }
                    }
                }
                return stats
            }
            if case .batchTopK = settings.activation {
                // While k anneals the threshold follows the current k closely (a faster average, since
                // k changes every step), so held-out points and snapshots encode as that SAE would; at the
                // first step at the final k it restarts from that batch, so the saved threshold averages
                // the final k only (a larger k keeps smaller activations).
                let annealing = activation != settings.activation
                let reachedFinalK = !annealing && state.step > 0
                    && settings.trainingActivation(step: state.step - 1, total: total, features: features) != activation
                updateBatchThreshold(&state, workspace: workspace, rows: rows, restart: reachedFinalK,
                                     rate: annealing ? Trainer.annealingThresholdRate : Trainer.batchThresholdRate)
            }
            let passSeconds = Date().timeIntervalSince(passStarted)
            let loss = stats.reconstruction + Double(lambda) * stats.sparsity + auxiliaryLoss
            guard loss.isFinite else { throw diverged(step: state.step, lastGood: lastGood, what: "loss is \(loss)") }
            let reference = firstLoss ?? loss
            firstLoss = reference
            // A finite but exploding loss (lr 10) would otherwise train on to a useless SAE.
            if loss > Trainer.divergenceFactor * max(reference, 1e-12) {
                throw diverged(
                    step: state.step, lastGood: lastGood,
                    what: "the loss grew to \(String(format: "%.4g", loss)), more than \(Int(Trainer.divergenceFactor))× its \(String(format: "%.4g", reference)) at step \(startStep)")
            }
            if settings.decoderGradientProjection, settings.form == .unitNormDecoder {
                SAEMath.removeDecoderGradientAlongRows(state.parameters, &gradients)
            }
            // The sparse path leaves ∂L/∂W_enc transposed in the workspace; Adam reads it there.
            let transposedEncoderGradient = workspace.encoderGradientTransposed ? UnsafePointer(workspace.transposedGradient) : nil
            let gradientScale = settings.gradientClip.map {
                clippingScale(gradients, transposedEncoderGradient: transposedEncoderGradient, maxNorm: $0)
            } ?? 1
            let lr = settings.learningRate(step: state.step, total: total)
            state.adam.update(&state.parameters, gradients, lr: lr, decoderLRScale: settings.decoderLRScale, gradientScale: gradientScale,
                              transposedEncoderGradient: transposedEncoderGradient)
            if settings.form == .unitNormDecoder { state.parameters.normalizeDecoderRows() }
            // A negative threshold would let negative pre-activations through: θ stays ≥ 0.
            for i in state.parameters.threshold.indices where state.parameters.threshold[i] < 0 { state.parameters.threshold[i] = 0 }
            trackFiring(&state, workspace: workspace, rows: rows)
            if let target = settings.targetL0 { adaptLambda(&state, l0: stats.l0, target: target) }
            state.step += 1
            for milestone in settings.snapshots where milestone > (state.step - 1) * batchSize && milestone <= state.step * batchSize {
                let parameters = SAECheckpoint.foldScale(inferenceParameters(state), scale: state.scale)
                let analysis = SAEEvaluator.analyze(parameters, activation: settings.activation.inference, dataset: dataset,
                                                    rows: dataset.validation, batchSize: batchSize)
                try snapshot(Snapshot(milestone: milestone, trainedTokens: state.step * batchSize, step: state.step,
                                      parameters: parameters, analysis: analysis))
            }
            if settings.resampleEvery > 0, state.step % settings.resampleEvery == 0, state.step < total {
                resampleDead(&state, workspace: workspace)
            }
            let density = stats.l0 / Double(features)
            eta.recordStep(seconds: Date().timeIntervalSince(stepStarted), sparse: workspace.usedSparse, density: density, step: state.step)
            // Probed near the switch only: far above it the sparse path says little about its later speed.
            if let maximum = eta.maximumDensity, !workspace.usedSparse, density < 3 * maximum, state.step % 50 == 1 {
                let stepSeconds = Date().timeIntervalSince(stepStarted)
                if probe == nil { probe = (SAEWorkspace(batch: batchSize, d: d, features: features), state.parameters) }
                let probeStarted = Date()
                batch.withUnsafeBufferPointer { x in
                    _ = SAEMath.forward(state.parameters, x.baseAddress!, rows: rows, activation: activation,
                                        form: settings.form, workspace: probe!.workspace, mode: .sparse)
                    SAEMath.backward(state.parameters, x.baseAddress!, rows: rows, activation: activation, form: settings.form,
                                     lambda: lambda, workspace: probe!.workspace, into: &probe!.gradients)
                }
                eta.recordProbe(denseStepSeconds: stepSeconds, denseSeconds: passSeconds, sparseSeconds: Date().timeIntervalSince(probeStarted),
                                density: density)
            }

            // Held-out points on a schedule and at the end, so curves show generalization beside the training batches.
            let validates = settings.validateEvery > 0 && state.step % settings.validateEvery == 0 || state.step == total
            let validationStarted = Date()
            var heldOut: SAEEvaluation?
            if validates {
                let analysis = analyzeHeldOut(state)
                if state.step == total { finalAnalysis = analysis }
                heldOut = analysis.evaluation
                let validationSeconds = Date().timeIntervalSince(validationStarted)
                heldOutSeconds += validationSeconds
                eta.recordValidation(seconds: validationSeconds, sparse: workspace.usedSparse)
            }
            smoothedLoss = smoothedLoss.map { 0.95 * $0 + 0.05 * loss } ?? loss
            smoothedL0 = smoothedL0.map { 0.95 * $0 + 0.05 * stats.l0 } ?? stats.l0
            if let heldOut { lastHeldOutFVE = heldOut.fve }
            // Held-out evaluations still to come: the scheduled ones, the one at the last step and the final one.
            let validationsLeft = (settings.validateEvery > 0 ? (total - state.step) / settings.validateEvery : 0) + (state.step < total ? 2 : 0)
            let secondsLeft = eta.secondsLeft(step: state.step, total: total, sparseNow: workspace.usedSparse, density: density,
                                              validationsLeft: validationsLeft)
            progress.advance(by: rows, detail: Trainer.liveDetail(loss: smoothedLoss!, l0: smoothedL0!, heldOutFVE: lastHeldOutFVE),
                             secondsLeft: secondsLeft)
            if let v = heldOut, state.step < total {
                log(String(format: "step %d: held-out fve %.4f, l0 %.1f, mse %.4g", state.step, v.fve, v.l0, v.mse))
            }
            if state.step % max(1, settings.logEvery) == 0 || state.step == total || heldOut != nil {
                let dead = deadFraction(state)
                let elapsed = Date().timeIntervalSince(windowStart.0)
                let rate = elapsed > 0 ? Double((state.step - windowStart.1) * batchSize) / elapsed : 0
                windowStart = (Date(), state.step)
                state.metrics.append(TrainingMetrics.line(
                    step: state.step, tokens: state.step * batchSize, loss: loss, mse: stats.mse / Double(state.scale * state.scale),
                    l1: stats.l1, l0: stats.l0, fve: stats.fve, deadFraction: dead, lr: Double(lr), lambda: Double(lambda),
                    heldOut: heldOut, tokensPerSecond: rate))
            }
            if let directory = checkpointDirectory,
                state.step % max(1, settings.checkpointEvery) == 0 || state.step == stopAfterStep
            {
                guard state.parameters.allFinite else {
                    throw diverged(step: state.step, lastGood: lastGood, what: "weights hold NaN or Inf")
                }
                try state.write(to: directory)
                lastGood = state.step
            }
            if state.step == stopAfterStep { throw Interrupted() }
            if Interruption.shared.requested != nil {
                trainingEnded = true
                Interruption.shared.trainerStopped(try stopForSignal(state, total: total))
            }
        }
        progress.finish()
        guard state.parameters.allFinite else { throw diverged(step: state.step, lastGood: lastGood, what: "weights hold NaN or Inf") }
        let analysisStarted = Date()
        let analysis = finalAnalysis ?? analyzeHeldOut(state)
        heldOutSeconds += finalAnalysis == nil ? Date().timeIntervalSince(analysisStarted) : 0
        let seconds = Date().timeIntervalSince(started) - heldOutSeconds
        let validation = analysis.evaluation
        guard validation.fve.isFinite, validation.fve >= Trainer.heldOutFVEFloor else {
            throw diverged(step: state.step, lastGood: lastGood,
                           what: "held-out FVE at the end is \(String(format: "%.4g", validation.fve)), below the floor of \(Trainer.heldOutFVEFloor)")
        }
        let trainingTokens = total * batchSize
        return Result(
            parameters: SAECheckpoint.foldScale(inferenceParameters(state), scale: state.scale), scale: state.scale,
            validation: validation, heldOutFrequencies: analysis.frequencies, steps: total, trainingTokens: trainingTokens,
            metrics: TrainingMetrics(lines: state.metrics),
            tokensPerSecond: seconds > 0 ? Double((total - startStep) * batchSize) / seconds : 0)
    }

    /// The SAE as it encodes now, over the held-out rows (metrics on raw activations, firing frequencies).
    private func analyzeHeldOut(_ state: TrainingState) -> SAEEvaluator.Analysis {
        SAEEvaluator.analyze(SAECheckpoint.foldScale(inferenceParameters(state), scale: state.scale), activation: settings.activation.inference,
                             dataset: dataset, rows: dataset.validation, batchSize: settings.batchSize)
    }

    /// A training loss this many times its first value means divergence.
    static let divergenceFactor = 100.0
    /// Held-out FVE below this at the end is divergence, not a poor SAE: errors ten times the
    /// variance. A merely poor SAE (FVE below 0) is kept and flagged by eval's health checks.
    static let heldOutFVEFloor = -10.0

    /// Writes the checkpoint at the current step (when there is a checkpoint directory) and
    /// says where training stopped.
    private func stopForSignal(_ state: TrainingState, total: Int) throws -> String {
        let at = "\(label) stopped at step \(state.step) of \(total)"
        guard let directory = checkpointDirectory, state.parameters.allFinite else { return at + " (no checkpoint kept)" }
        try state.write(to: directory)
        return at + "; checkpoint written to \(directory)"
    }

    private func diverged(step: Int, lastGood: Int?, what: String) -> SAEPipeError {
        let kept = checkpointDirectory.flatMap { directory in
            lastGood.map { "; the last good checkpoint (step \($0)) is kept in \(directory)" }
        } ?? "; no checkpoint was written before it"
        return SAEPipeError.runtime(
            "training diverged at step \(step): \(what)" + kept,
            hint: "lower train.lr or train.l1_coefficient, or tighten train.grad_clip")
    }

    /// Global gradient-norm clipping as a factor Adam applies to every gradient (1 when the norm is
    /// within `maxNorm`). The sum of squares runs over fixed blocks in parallel and adds them in order,
    /// so it is the same on any number of cores.
    private func clippingScale(_ g: SAEGradients, transposedEncoderGradient: UnsafePointer<Float>?, maxNorm: Float) -> Float {
        var total: Double = 0
        for (_, path) in g.tensors {
            if path == \SAEParameters.wEnc, let transposed = transposedEncoderGradient {
                total += Trainer.sumOfSquares(transposed, count: g.wEnc.count)
            } else {
                total += g[keyPath: path].withUnsafeBufferPointer { Trainer.sumOfSquares($0.baseAddress!, count: $0.count) }
            }
        }
        let norm = Float(total.squareRoot())
        guard norm > maxNorm, norm.isFinite else { return 1 }
        return maxNorm / norm
    }

    static func sumOfSquares(_ values: UnsafePointer<Float>, count: Int) -> Double {
        let blockSize = 1 << 16
        let blocks = (count + blockSize - 1) / blockSize
        var sums = [Double](repeating: 0, count: blocks)
        sums.withUnsafeMutableBufferPointer { sums in
            nonisolated(unsafe) let (sums, values) = (sums.baseAddress!, values)
            Parallel.chunks(blocks, minimumChunk: 4) { range in
                for block in range {
                    let start = block * blockSize
                    sums[block] = Double(BLAS.sdot(count: min(blockSize, count - start), x: values + start, y: values + start))
                }
            }
        }
        return sums.reduce(0, +)
    }

    private func trackFiring(_ state: inout TrainingState, workspace: SAEWorkspace, rows: Int) {
        let features = state.parameters.features
        var fired = [Bool](repeating: false, count: features)
        if workspace.usedSparse {
            for i in 0..<features { fired[i] = workspace.sparse.fired(i) }
        } else {
            let f = workspace.f
            for r in 0..<rows { for i in 0..<features where f[r * features + i] != 0 { fired[i] = true } }
        }
        for i in 0..<features {
            state.tokensSinceFired[i] = fired[i] ? 0 : Int32(clamping: Int(state.tokensSinceFired[i]) + rows)
        }
    }

    /// SAELens' rate for BatchTopK's threshold: an exponential average of each batch's smallest kept activation.
    static let batchThresholdRate = 0.01
    /// While k anneals: an average over about the last 10 batches.
    static let annealingThresholdRate = 0.1

    private func updateBatchThreshold(_ state: inout TrainingState, workspace: SAEWorkspace, rows: Int, restart: Bool, rate: Double) {
        var smallest = Float.infinity
        if workspace.usedSparse {
            for value in workspace.sparse.vals where value > 0 { smallest = min(smallest, value) }
        } else {
            let f = workspace.f
            for index in 0..<(rows * state.parameters.features) where f[index] > 0 { smallest = min(smallest, f[index]) }
        }
        guard smallest.isFinite else { return }
        // The first batch's minimum starts the average (as dictionary_learning does), so a short
        // run does not end with a threshold still pulled toward 0.
        if restart || state.batchThreshold <= 0 { state.batchThreshold = Double(smallest); return }
        state.batchThreshold += rate * (Double(smallest) - state.batchThreshold)
    }

    /// The parameters as the SAE encodes with them: BatchTopK's threshold in place, and the
    /// normalization the dataset applied to every row it trained on.
    func inferenceParameters(_ state: TrainingState) -> SAEParameters {
        var parameters = state.parameters
        parameters.inputNormalization = dataset.normalization
        guard case .batchTopK = settings.activation else { return parameters }
        parameters.threshold = [Float](repeating: Float(state.batchThreshold), count: parameters.features)
        return parameters
    }

    func deadFraction(_ state: TrainingState) -> Double {
        let dead = state.tokensSinceFired.filter { Int($0) >= settings.deadWindowTokens }.count
        return Double(dead) / Double(max(1, state.tokensSinceFired.count))
    }

    /// Multiplicative steering of λ toward a target L0 (an exponential average of the batch L0).
    private func adaptLambda(_ state: inout TrainingState, l0: Double, target: Double) {
        if settings.activation.selectsByRank { return }
        state.l0Average = 0.95 * state.l0Average + 0.05 * l0
        let ratio = max(state.l0Average, 1e-3) / target
        state.lambda *= Float(Foundation.exp(0.01 * Foundation.log(ratio)))
    }

    /// Anthropic-style resampling: dead features get directions of poorly reconstructed
    /// inputs (sampled ∝ squared error), encoder norm 0.2 × the alive average, fresh Adam moments.
    private func resampleDead(_ state: inout TrainingState, workspace: SAEWorkspace) {
        let dead = (0..<state.parameters.features).filter { Int(state.tokensSinceFired[$0]) >= settings.deadWindowTokens }
        guard !dead.isEmpty else { return }
        let d = dataset.d, features = state.parameters.features
        var generator = SplitMix64(seed: settings.seed &+ UInt64(state.step) &* 31)
        let sampleCount = min(dataset.training.count, workspace.batch)
        let sample = (0..<sampleCount).map { _ in dataset.training[Int(generator.next() % UInt64(dataset.training.count))] }
        var x = [Float](repeating: 0, count: sampleCount * d)
        x.withUnsafeMutableBufferPointer { dataset.gather(sample[...], scale: state.scale, into: $0.baseAddress!) }
        _ = x.withUnsafeBufferPointer {
            SAEMath.forward(state.parameters, $0.baseAddress!, rows: sampleCount, activation: settings.activation, form: settings.form,
                            workspace: workspace)
        }
        let errors = workspace.errors(rows: sampleCount)
        var weights = (0..<sampleCount).map { r in (0..<d).reduce(0.0) { $0 + Double(errors[r * d + $1] * errors[r * d + $1]) } }
        let alive = (0..<features).filter { Int(state.tokensSinceFired[$0]) < settings.deadWindowTokens }
        var aliveNorm: Float = 1
        if !alive.isEmpty {
            aliveNorm = alive.reduce(Float(0)) { total, i in
                total + (0..<d).reduce(Float(0)) { $0 + state.parameters.wEnc[$1 * features + i] * state.parameters.wEnc[$1 * features + i] }.squareRoot()
            } / Float(alive.count)
        }
        for feature in dead {
            let totalWeight = weights.reduce(0, +)
            guard totalWeight > 0 else { break }
            var pick = generator.nextUnit() * totalWeight
            var chosen = 0
            while chosen < sampleCount - 1, pick > weights[chosen] { pick -= weights[chosen]; chosen += 1 }
            weights[chosen] = 0
            var direction = (0..<d).map { x[chosen * d + $0] - state.parameters.bDec[$0] }
            let norm = direction.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { continue }
            direction = direction.map { $0 / norm }
            for j in 0..<d {
                state.parameters.wDec[feature * d + j] = direction[j]
                state.parameters.wEnc[j * features + feature] = direction[j] * 0.2 * aliveNorm
            }
            state.parameters.bEnc[feature] = 0
            state.tokensSinceFired[feature] = 0
        }
        state.adam.resetFeatures(dead, d: d, count: features)
        log("step \(state.step): resampled \(dead.count) dead features")
    }
}

/// Metrics of a raw-space SAE over dataset rows, in batches (no gradients).
public enum SAEEvaluator {
    /// Everything one encoder pass over `rows` yields.
    public struct Analysis: Sendable {
        public var evaluation: SAEEvaluation
        /// Share of rows on which each feature fires.
        public var frequencies: [Double]
        /// How many rows have each L0 (index = number of active features).
        public var l0Histogram: [Int]
    }

    public static func evaluate(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, rows: [Int], batchSize: Int
    ) -> SAEEvaluation {
        analyze(p, activation: activation, dataset: dataset, rows: rows, batchSize: batchSize).evaluation
    }

    /// Share of `rows` on which each feature fires.
    public static func firingFrequencies(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, rows: [Int], batchSize: Int
    ) -> [Double] {
        analyze(p, activation: activation, dataset: dataset, rows: rows, batchSize: batchSize).frequencies
    }

    /// Reconstruction metrics, firing frequencies and the L0 distribution in a single pass.
    public static func analyze(
        _ p: SAEParameters, activation: SAEActivation, dataset: ActivationDataset, rows: [Int], batchSize: Int
    ) -> Analysis {
        let d = dataset.d, features = p.features
        let workspace = SAEWorkspace(batch: batchSize, d: d, features: features)
        var x = [Float](repeating: 0, count: batchSize * d)
        var squaredError: Double = 0, l0: Double = 0, l1: Double = 0
        var sums = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        var counts = [Int](repeating: 0, count: features)
        var histogram: [Int] = []
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            let slice = rows[start..<min(start + batchSize, rows.count)]
            x.withUnsafeMutableBufferPointer { dataset.gather(slice, scale: 1, into: $0.baseAddress!) }
            // Sparse decoding when few features fire: the dense decoder GEMM doubled an evaluation's cost.
            let stats = x.withUnsafeBufferPointer {
                SAEMath.forward(p, $0.baseAddress!, rows: slice.count, activation: activation, form: .unitNormDecoder, workspace: workspace,
                                mode: .standard)
            }
            squaredError += stats.squaredError
            l0 += stats.l0 * Double(slice.count)
            l1 += stats.l1 * Double(slice.count)
            for r in 0..<slice.count {
                for j in 0..<d {
                    let value = Double(x[r * d + j])
                    sums[j] += value
                    squares[j] += value * value
                }
            }
            // Every sparse-capable forward pass lists the active (row, feature) pairs, dense or not.
            let active = workspace.sparseEntries
            for r in 0..<slice.count {
                let entries = active.rowRange(r)
                for entry in entries { counts[active.feature(entry)] += 1 }
                if entries.count >= histogram.count { histogram += [Int](repeating: 0, count: entries.count - histogram.count + 1) }
                histogram[entries.count] += 1
            }
        }
        let n = Double(max(rows.count, 1))
        // Σ‖x − x̄‖² = Σ x² − n·x̄² per dimension.
        let variance = (0..<d).reduce(0.0) { $0 + squares[$1] - sums[$1] * sums[$1] / n }
        let evaluation = SAEEvaluation(
            mse: squaredError / (n * Double(d)), fve: variance > 0 ? 1 - squaredError / variance : 0, l0: l0 / n, l1: l1 / n,
            deadFraction: Double(counts.filter { $0 == 0 }.count) / Double(max(features, 1)), rows: rows.count)
        return Analysis(evaluation: evaluation, frequencies: counts.map { Double($0) / n }, l0Histogram: histogram)
    }
}
