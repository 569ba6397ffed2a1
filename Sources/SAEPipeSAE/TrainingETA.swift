import Foundation

/// The time left in a training run, from a model of its steps rather than the average rate:
/// in `auto` compute mode training starts on the dense path and speeds up about twice once
/// the features are sparse enough for the sparse path, so the early rate overstates the
/// time left. The model knows each path's step time (the sparse one probed on the current
/// batch before training gets there), extrapolates when the density will cross the switch,
/// and adds the held-out evaluations still to come.
struct TrainingETA {
    /// Seconds per step on each path (exponential moving averages of measured steps).
    private(set) var denseStep: Double?
    private(set) var sparseStep: Double?
    /// Seconds of one held-out evaluation, and whether training was on the sparse path then.
    private(set) var validation: Double?
    private var validationWasSparse = false
    /// (step, log density) samples, for the density's trend.
    private var densities: [(step: Int, log: Double)] = []
    let maximumDensity: Double?

    init(maximumDensity: Double?) { self.maximumDensity = maximumDensity }

    static func average(_ old: Double?, _ new: Double) -> Double { old.map { 0.9 * $0 + 0.1 * new } ?? new }

    mutating func recordStep(seconds: Double, sparse: Bool, density: Double, step: Int) {
        if sparse { sparseStep = Self.average(sparseStep, seconds) } else { denseStep = Self.average(denseStep, seconds) }
        if density > 0, step % 10 == 0 { densities.append((step, log(density))) }
        if densities.count > 400 { densities.removeFirst(densities.count - 400) }
    }

    /// A dense step's time with its forward and backward pass replaced by the sparse path's,
    /// probed at `density`. The sparse pass is the dense encoder product (about a fifth of the
    /// dense pass: one of its five products) plus work in proportion to the density, which will
    /// have fallen further by the time training runs sparse: the estimate is for half the
    /// switch density, about where the quickstart's SAEs spend their sparse steps.
    mutating func recordProbe(denseStepSeconds: Double, denseSeconds: Double, sparseSeconds: Double, density: Double) {
        guard let maximumDensity, density > 0 else { return }
        let encoder = denseSeconds / 5
        let scaled = encoder + max(sparseSeconds - encoder, 0) * min(1, maximumDensity / 2 / density)
        let estimate = max(denseStepSeconds - denseSeconds + scaled, 1e-6)
        sparseStep = Self.average(sparseStep, estimate)
    }

    /// The latest evaluation's time: there are few of them, and they speed up with the path
    /// (the first ones run dense), so the newest says most about the ones to come.
    mutating func recordValidation(seconds: Double, sparse: Bool) {
        validation = seconds
        validationWasSparse = sparse
    }

    /// Steps until the density falls below the switch, from its trend over the recent steps
    /// (nil: it is not falling, so training stays dense).
    func stepsUntilSparse(step: Int, density: Double) -> Int? {
        guard let maximumDensity, density > 0 else { return nil }
        if density < maximumDensity { return 0 }
        let recent = densities.filter { $0.step >= step - max(50, step / 5) }
        guard let first = recent.first, let last = recent.last, last.step > first.step else { return nil }
        let slope = (last.log - first.log) / Double(last.step - first.step)
        guard slope < 0 else { return nil }
        return Int(((log(maximumDensity) - log(density)) / slope).rounded(.up))
    }

    /// Seconds left after `step` of `total`, or nil before any step was timed.
    func secondsLeft(step: Int, total: Int, sparseNow: Bool, density: Double, validationsLeft: Int) -> Double? {
        let remaining = Double(max(total - step, 0))
        var seconds: Double
        // Evaluations speed up with the features' density as steps do.
        var validationFactor = 1.0
        if sparseNow, let sparseStep {
            seconds = remaining * sparseStep
        } else if let denseStep {
            if let sparseStep, let switchIn = stepsUntilSparse(step: step, density: density) {
                let dense = min(Double(switchIn), remaining)
                seconds = dense * denseStep + (remaining - dense) * sparseStep
                if !validationWasSparse, remaining > 0 {
                    let sparseShare = (remaining - dense) / remaining
                    validationFactor = (1 - sparseShare) + sparseShare * sparseStep / denseStep
                }
            } else {
                seconds = remaining * denseStep
            }
        } else if let sparseStep {
            seconds = remaining * sparseStep
        } else {
            return nil
        }
        return seconds + Double(validationsLeft) * (validation ?? 0) * validationFactor
    }
}
