import Foundation
import SAEPipeLinalg
import SAEPipeModels
import SAEPipeSAE

/// Direct logit attribution: each decoder row times W_Uᵀ (the final norm ignored, as sae_vis does).
public enum LogitAttribution {
    struct Result {
        var promoted: [[(token: Int, value: Float)]]
        var suppressed: [[(token: Int, value: Float)]]
    }

    static func compute(_ p: SAEParameters, unembedding: Linear, count: Int) throws -> Result {
        let (F, d, vocab) = (p.features, p.d, unembedding.outFeatures)
        var promoted: [[(Int, Float)]] = [], suppressed: [[(Int, Float)]] = []
        let chunk = max(1, min(F, (32 << 20) / (4 * vocab)))
        var logits = [Float](repeating: 0, count: chunk * vocab)
        for first in stride(from: 0, to: F, by: chunk) {
            let rows = min(chunk, F - first)
            p.wDec.withUnsafeBufferPointer { wd in
                logits.withUnsafeMutableBufferPointer { out in
                    unembedding.apply(wd.baseAddress! + first * d, rows: rows, into: out.baseAddress!)
                }
            }
            for r in 0..<rows {
                logits.withUnsafeBufferPointer { all in
                    let row = UnsafeBufferPointer(rebasing: all[(r * vocab)..<((r + 1) * vocab)])
                    promoted.append(extremes(row, count: count, largest: true))
                    suppressed.append(extremes(row, count: count, largest: false))
                }
            }
        }
        return Result(promoted: promoted, suppressed: suppressed)
    }

    /// The `count` largest (or smallest) entries, best first, in one pass.
    public static func extremes(_ row: UnsafeBufferPointer<Float>, count: Int, largest: Bool) -> [(token: Int, value: Float)] {
        var best: [(token: Int, value: Float)] = []
        let better = { (a: Float, b: Float) in largest ? a > b : a < b }
        for (token, value) in row.enumerated() where best.count < count || better(value, best[best.count - 1].value) {
            var index = best.count
            while index > 0, better(value, best[index - 1].value) { index -= 1 }
            best.insert((token, value), at: index)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}
