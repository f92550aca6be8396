internal import CKernels
import Foundation

/// A fixed-size float32 buffer owned by one object; the hot loops take its pointer.
final class FloatBuffer: @unchecked Sendable {
    let count: Int
    let pointer: UnsafeMutablePointer<Float>

    init(_ count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    func zero() { pointer.update(repeating: 0, count: count) }
}

/// Loads up to eight floats (lanes past `n` are `fill`).
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> F8 {
    if n >= 8 { return loadF8(p) }
    var v = F8(repeating: fill)
    for k in 0..<n { v[k] = p[k] }
    return v
}

/// Stores the first `n` (at most eight) lanes of `v`.
@inline(__always)
func storePartial(_ v: F8, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n >= 8 { storeF8(v, p); return }
    for k in 0..<n { p[k] = v[k] }
}

/// `dst[r][0..<n] = bias` for `rows` rows of stride `n`.
func broadcastRows(_ bias: UnsafePointer<Float>, rows: Int, n: Int, into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { (dst + r * n).update(from: bias, count: n) }
}

/// `sums[0..<n] += Σ_r src[r][0..<n]`: the gradient of a bias.
func accumulateColumnSums(_ src: UnsafePointer<Float>, rows: Int, n: Int, into sums: UnsafeMutablePointer<Float>) {
    var c = 0
    while c < n {
        let lanes = min(8, n - c)
        var acc0 = F8(), acc1 = F8()
        var r = 0
        while r + 1 < rows {
            acc0 += loadPartial(src + r * n + c, lanes)
            acc1 += loadPartial(src + (r + 1) * n + c, lanes)
            r += 2
        }
        if r < rows { acc0 += loadPartial(src + r * n + c, lanes) }
        storePartial(loadPartial(sums + c, lanes) + acc0 + acc1, sums + c, lanes)
        c += 8
    }
}

/// `y = max(x, 0)` element-wise.
func relu(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = x[i] > 0 ? x[i] : 0 }
}

/// `g[i] = 0` where `y[i] <= 0` (backward of a ReLU whose output is `y`).
func reluBackward(output y: UnsafePointer<Float>, gradient g: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count where !(y[i] > 0) { g[i] = 0 }
}

/// `y += x` element-wise.
func addInPlace(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += x[i] }
}

/// log Σ exp(x[i]) over `count` floats (SIMD8 with the polynomial exp).
func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Float {
    pk_log_sum_exp(x, Int32(count))  // Sources/CKernels, dispatched at run time
}
