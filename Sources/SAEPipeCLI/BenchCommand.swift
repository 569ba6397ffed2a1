import ArgumentParser
import Foundation
import SAEPipeCore
import SAEPipeLinalg

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure throughput on this machine.", subcommands: [BenchBLAS.self])
}

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas", abstract: "sgemm GFLOP/s for an n×n×n product, and the OpenBLAS kernels in use.")

    @Option(help: "Matrix size n.")
    var size = 2048
    @Option(help: "Timed repetitions after one warm-up; the best is reported.")
    var repeats = 10
    @Option(help: "OpenBLAS threads (0: every core).")
    var threads = 0

    func run() throws {
        BLAS.threads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        let result = BLASBenchmark.sgemm(size: size, repeats: repeats)
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        let how = BLAS.reexecutedForCore ? "set by saepipe (re-exec)" : env != nil ? "set in the environment" : "detected by OpenBLAS"
        print("openblas core:  \(result.coreName) (\(how); CPU supports \(BLAS.preferredCore ?? "no AVX2/AVX-512 family"))")
        print("threads:        \(result.threads)")
        print(String(format: "sgemm %d³:     %.1f GFLOP/s (best of %d, %.3f s)", size, result.gflops, repeats, result.bestSeconds))
    }
}
