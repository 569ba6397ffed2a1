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

    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

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

    /// True when this process re-executed itself to set OPENBLAS_CORETYPE.
    public static var reexecutedForCore: Bool { saepipe_openblas_reexecuted() != 0 }
}
