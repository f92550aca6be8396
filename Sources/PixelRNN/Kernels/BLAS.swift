internal import CBLAS

/// Thin wrappers over OpenBLAS's `cblas_sgemm`, row-major throughout.
///
/// Every matrix in this module is row-major; `C = alpha * op(A) * op(B) + beta * C`
/// with `op(A)` of size `m × k` and `op(B)` of size `k × n`.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses inside one call (`openblas_set_num_threads`).
    /// Workers that run in parallel each call BLAS single-threaded; see `Parallelism`.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(count))
    }

    /// `C[m×n] = alpha * op(A) * op(B) + beta * C` (`cblas_sgemm`, row-major).
    /// - Parameters:
    ///   - transA: use `Aᵀ` (A stored `k × m`) instead of A (stored `m × k`).
    ///   - transB: use `Bᵀ` (B stored `n × k`) instead of B (stored `k × n`).
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int,
        _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { c.update(repeating: 0, count: (m - 1) * ldc + n) }
            return
        }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// Makes OpenBLAS single-threaded, once per process. Every entry point that runs
    /// products on several worker threads calls this: multi-threaded BLAS inside
    /// parallel workers oversubscribes the cores and runs many times slower.
    static func useSingleThreadPerCall() { _ = singleThreaded }
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// A description of the BLAS build (`openblas_get_config`).
    public static var configuration: String {
        String(cString: openblas_get_config())
    }

    /// The kernel family OpenBLAS chose for this CPU (`openblas_get_corename`), such as
    /// `Haswell` or `Cooperlake`; `OPENBLAS_CORETYPE` in the environment overrides its choice.
    public static var coreName: String {
        String(cString: openblas_get_corename())
    }
}
