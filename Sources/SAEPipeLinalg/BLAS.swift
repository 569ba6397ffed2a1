import COpenBLAS
import COpenBLASCoreType
import Foundation

/// Thin, typed wrappers over cblas for row-major float buffers.
public enum BLAS {
    public enum Transpose: Sendable {
        case none, transposed
        var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
    }

    /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, all row-major.
    /// `lda`/`ldb`/`ldc` default to the packed row length of each stored matrix.
    public static func sgemm(
        _ transA: Transpose = .none, _ transB: Transpose = .none, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA == .none ? k : m)
        let ldb = ldb ?? (transB == .none ? n : k)
        let ldc = ldc ?? n
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
            Int32(ldb), beta, c, Int32(ldc))
    }

    /// `sgemm` with C's rows split into one block per thread of the budget, each block a
    /// single-threaded call on its own core. Loops that mix GEMMs with element-wise work on
    /// the same cores (SAE training) use this inside `singleThreaded`: OpenBLAS's own workers
    /// busy-wait with sched_yield after each threaded call and took a fifth of a training
    /// step's CPU from the element-wise work running beside them.
    public static func sgemmSplittingRows(
        _ transA: Transpose = .none, _ transB: Transpose = .none, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil, b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transA == .none ? k : m)
        let ldb = ldb ?? (transB == .none ? n : k)
        let ldc = ldc ?? n
        // Blocks under 32 rows would leave the kernel's register tiles mostly empty.
        let blocks = max(1, min(threads, m / 32))
        singleThreaded {
            nonisolated(unsafe) let (a, b, c) = (a, b, c)
            DispatchQueue.concurrentPerform(iterations: blocks) { block in
                let (start, end) = (m * block / blocks, m * (block + 1) / blocks)
                guard end > start else { return }
                // Row `start` of op(A) is stored row `start` (no transpose) or column `start` (transposed).
                let aBlock = transA == .none ? a + start * lda : a + start
                sgemm(transA, transB, m: end - start, n: n, k: k, alpha: alpha, a: aBlock, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c + start * ldc, ldc: ldc)
            }
        }
    }

    /// y[m] = alpha · op(A) · x + beta · y, A stored row-major [rows, cols].
    public static func sgemv(
        _ trans: Transpose = .none, rows: Int, cols: Int, alpha: Float = 1, a: UnsafePointer<Float>,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(rows), Int32(cols), alpha, a, Int32(cols), x, 1, beta, y, 1)
    }

    /// y += alpha · x
    public static func saxpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// x *= alpha
    public static func sscal(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(count), alpha, x, 1)
    }

    public static func sdot(count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(count), x, 1, y, 1)
    }

    /// A[m,n] += alpha · x[m] ⊗ y[n]
    public static func sger(
        m: Int, n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafePointer<Float>, a: UnsafeMutablePointer<Float>
    ) {
        cblas_sger(CblasRowMajor, Int32(m), Int32(n), alpha, x, 1, y, 1, a, Int32(n))
    }

    // MARK: - Threading and kernels

    /// The process's thread budget for BLAS calls (set once by the command that runs the work).
    /// OpenBLAS 0.3.21 keeps one process-wide count; saepipe stores its own value and never
    /// reads it back from OpenBLAS, so a scope below can never leave a wrong count behind.
    public static var threads: Int {
        get { budget.withLock { $0.configured } }
        set {
            budget.withLock { state in
                state.configured = max(1, newValue)
                if state.singleThreadedScopes == 0 { openblas_set_num_threads(Int32(state.configured)) }
            }
        }
    }

    /// The count OpenBLAS is using right now (1 inside a single-threaded scope).
    public static var activeThreads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS single-threaded, for callers that split work over their own
    /// threads. Scopes may nest and overlap across threads; OpenBLAS returns to `threads`
    /// when the last one ends.
    public static func singleThreaded<Result>(_ body: () throws -> Result) rethrows -> Result {
        budget.withLock { state in
            if state.singleThreadedScopes == 0 { openblas_set_num_threads(1) }
            state.singleThreadedScopes += 1
        }
        defer {
            budget.withLock { state in
                state.singleThreadedScopes -= 1
                if state.singleThreadedScopes == 0 { openblas_set_num_threads(Int32(state.configured)) }
            }
        }
        return try body()
    }

    private struct Budget {
        var configured: Int
        var singleThreadedScopes = 0
    }

    private static let budget = Locked(Budget(configured: Int(openblas_get_num_threads())))

    /// The kernel family OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The family saepipe asks for on this CPU, nil when it leaves OpenBLAS's choice.
    public static var preferredCore: String? {
        saepipe_preferred_openblas_core().map { String(cString: $0) }
    }

    /// Whether saepipe would replace OpenBLAS's `current` kernels with `preferred` ones.
    public static func needsOverride(current: String, preferred: String) -> Bool {
        saepipe_openblas_core_needs_override(current, preferred) != 0
    }

    /// A note when OPENBLAS_CORETYPE in the environment holds OpenBLAS to kernels older than the
    /// CPU supports (saepipe respects a value that is set; some machines set one for everybody).
    public static var environmentCoreAdvice: String? {
        guard !reexecutedForCore, let set = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], let preferred = preferredCore,
              needsOverride(current: coreName, preferred: preferred)
        else { return nil }
        return "note: OPENBLAS_CORETYPE=\(set) in the environment holds OpenBLAS to \(coreName) kernels; this CPU supports "
            + "\(preferred) (unset the variable to use them: `saepipe bench blas` compares)"
    }

    /// True when this process re-executed itself to set OPENBLAS_CORETYPE.
    public static var reexecutedForCore: Bool { saepipe_openblas_reexecuted() != 0 }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
