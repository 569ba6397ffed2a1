import Foundation
import SAEPipeCore

/// The spliced-loss metrics of one SAE on one dataset over a weighted combination of windows.
public struct LossMetrics: Equatable, Sendable {
    public var ceClean: Double
    public var ceSAE: Double
    public var ceZero: Double
    public var klSAE: Double
    public var klZero: Double

    /// CE_sae − CE_clean: what splicing the SAE in costs.
    public var ceIncrease: Double { ceSAE - ceClean }
    /// CE_zero − CE_clean: what zeroing the hook costs, the denominator of CE recovered.
    public var zeroEffect: Double { ceZero - ceClean }
    public var ceRecovered: Double { (ceZero - ceSAE) / (ceZero - ceClean) }
    public var klScore: Double { 1 - klSAE / klZero }

    public init(_ windows: [SplicedLoss.WindowSums], side: Side, weights: [Int]? = nil) {
        var predictions = 0.0, positions = 0.0, clean = 0.0, sae = 0.0, zero = 0.0, klSAE = 0.0, klZero = 0.0
        for (index, window) in windows.enumerated() {
            let w = Double(weights?[index] ?? 1)
            predictions += w * Double(window.predictions)
            positions += w * Double(window.positions)
            clean += w * window.clean
            sae += w * (window.sae[side] ?? .nan)
            zero += w * window.zero
            klSAE += w * (window.klSAE[side] ?? .nan)
            klZero += w * window.klZero
        }
        let (p, t) = (max(predictions, 1), max(positions, 1))
        (ceClean, ceSAE, ceZero) = (clean / p, sae / p, zero / p)
        (self.klSAE, self.klZero) = (klSAE / t, klZero / t)
    }
}

/// When a ratio whose denominator is an effect measured with noise can be reported.
public enum Measurability {
    /// An effect is measurable when its 95% interval excludes zero and its half-width is at most
    /// a third of the effect: the ratio built on it then has a denominator known to ±33%.
    static let maximumRelativeHalfWidth = 1.0 / 3

    /// nil when measurable, else why not.
    public static func problem(effect: Double, interval: [Double]?, what: String) -> String? {
        guard effect.isFinite, effect > 0 else {
            return "\(what) is \(NumberFormat.fixed(effect, digits: 4)): zeroing the hook does not raise it, so nothing can be recovered"
        }
        guard let interval else { return "\(what) has no interval (too few windows)" }
        let halfWidth = (interval[1] - interval[0]) / 2
        if interval[0] <= 0 {
            return "\(what) is \(NumberFormat.fixed(effect, digits: 4)) with 95% interval [\(NumberFormat.fixed(interval[0], digits: 4)), \(NumberFormat.fixed(interval[1], digits: 4))], which includes 0: evaluate on more windows (eval.sequences)"
        }
        if halfWidth > maximumRelativeHalfWidth * effect {
            return "\(what) is \(NumberFormat.fixed(effect, digits: 4)) ± \(NumberFormat.fixed(halfWidth, digits: 4)): too uncertain for a ratio; evaluate on more windows (eval.sequences)"
        }
        return nil
    }
}
