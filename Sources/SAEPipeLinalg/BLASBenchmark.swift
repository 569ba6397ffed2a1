import Foundation
import SAEPipeCore

public struct BLASBenchmarkResult: Sendable {
    public var size: Int
    public var gflops: Double
    public var bestSeconds: Double
    public var repeats: Int
    public var threads: Int
    public var coreName: String
}

public enum BLASBenchmark {
    /// Times C = A·B for n×n×n float32 matrices; reports the best of `repeats` runs
    /// after one warm-up, since a shared machine only ever slows a run down.
    public static func sgemm(size n: Int = 2048, repeats: Int = 5) -> BLASBenchmarkResult {
        var generator = SplitMix64(seed: 42)
        let a = (0..<(n * n)).map { _ in Float(generator.nextUnit() - 0.5) }
        let b = (0..<(n * n)).map { _ in Float(generator.nextUnit() - 0.5) }
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for run in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if run > 0 { best = min(best, seconds) }
        }
        let flops = 2.0 * Double(n) * Double(n) * Double(n)
        return BLASBenchmarkResult(
            size: n, gflops: flops / best / 1e9, bestSeconds: best, repeats: repeats, threads: BLAS.threads,
            coreName: BLAS.coreName)
    }
}
