/// Element-wise kernels over raw float buffers: fast exp/sigmoid/tanh on SIMD8 lanes,
/// and the small loops the layers need. All pointers are plain `UnsafeMutablePointer`s
/// so that the loops vectorise (see the numeric notes in docs/benchmarks.md).

typealias F8 = SIMD8<Float>

/// exp(x) for SIMD8 lanes: range reduction by ln 2 and a degree-6 polynomial;
/// relative error about 2e-7 over [-87, 88]; inputs are clamped to that range.
/// Glibc's `expf` is a scalar call about ten times slower. Public (and inlinable) for
/// the sampler's softmax in the Completion module.
@inlinable @inline(__always)
public func fastExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    var x = x
    x.replace(with: 88.0, where: x .> 88.0)
    x.replace(with: -87.0, where: x .< -87.0)
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick: the integer
    // then sits in the low mantissa bits of t.
    let magic: Float = 12_582_912
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    // r = x − n·ln 2 in two steps (Cody–Waite) for accuracy.
    let r = x - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187_045e-06
    var p = SIMD8<Float>(repeating: 1.0 / 720.0)
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    // 2^n from the exponent bits.
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
    return p * scale
}

/// The logistic function 1 / (1 + e^−x) on SIMD8 lanes.
@inline(__always)
func fastSigmoid(_ x: F8) -> F8 {
    1 / (1 + fastExp(-x))
}

/// tanh(x) = 2σ(2x) − 1 on SIMD8 lanes (absolute error about 1e-7).
@inline(__always)
func fastTanh(_ x: F8) -> F8 {
    2 / (1 + fastExp(-2 * x)) - 1
}

/// Scalar versions for tails and tests.
@inline(__always)
func fastExp(_ x: Float) -> Float { fastExp(F8(repeating: x))[0] }

@inline(__always)
func loadF8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
func storeF8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}
