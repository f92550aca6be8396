// Log-domain arithmetic for the sampler: a vectorised log-sum-exp over one softmax's
// logits, sampling from a tempered softmax, and float64 log-sum-exp over particle
// log-weights.

import PixelRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

typealias F8 = SIMD8<Float>

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> F8 {
    UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inline(__always)
private func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// The largest of `count` floats.
@inline(__always)
func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var best = -Float.infinity
    var i = 0
    if count >= 8 {
        var m = load8(x)
        i = 8
        while i + 8 <= count {
            let v = load8(x + i)
            m.replace(with: v, where: v .> m)
            i += 8
        }
        for lane in 0..<8 where m[lane] > best { best = m[lane] }
    }
    while i < count {
        if x[i] > best { best = x[i] }
        i += 1
    }
    return best
}

/// Σ exp(scale · (x_i − shift)) in float64, with `shift` the largest x_i (so every
/// term is at most 1).
/// - Parameters:
///   - x: `count` logits.
///   - scale: 1/T for a tempered softmax, 1 otherwise.
///   - shift: `maximum(x, count:)`.
///   - terms: optional output of the `count` terms exp(scale · (x_i − shift)).
@inline(__always)
func sumOfExponentials(
    _ x: UnsafePointer<Float>, count: Int, scale: Float, shift: Float, terms: UnsafeMutablePointer<Float>? = nil
) -> Double {
    var acc = F8()
    var i = 0
    let s = F8(repeating: scale), m = F8(repeating: shift)
    while i + 8 <= count {
        let e = fastExp((load8(x + i) - m) * s)
        if let terms { store8(e, terms + i) }
        acc += e
        i += 8
    }
    var total = 0.0
    for lane in 0..<8 { total += Double(acc[lane]) }
    while i < count {
        let e = fastExp(F8(repeating: (x[i] - shift) * scale))[0]
        terms?[i] = e
        total += Double(e)
        i += 1
    }
    return total
}

/// log p(value) under softmax(x): x_value − log Σ exp(x_i).
@inline(__always)
func logProbability(of value: Int, logits x: UnsafePointer<Float>, levels: Int) -> Double {
    let shift = maximum(x, count: levels)
    return Double(x[value] - shift) - log(sumOfExponentials(x, count: levels, scale: 1, shift: shift))
}

/// A draw from q = softmax(x / T) by inversion of its cumulative sum, with the log
/// probability of the draw under q and under the model's p = softmax(x).
/// - Parameters:
///   - x: `levels` logits.
///   - inverseTemperature: 1/T.
///   - uniform: a uniform number in [0, 1).
///   - scratch: room for `levels` floats.
/// - Returns: the drawn level, log q(level) and log p(level) (equal when T = 1).
@inline(__always)
func drawTempered(
    logits x: UnsafePointer<Float>, levels: Int, inverseTemperature: Float, uniform: Double,
    scratch: UnsafeMutablePointer<Float>
) -> (value: Int, logQ: Double, logP: Double) {
    let shift = maximum(x, count: levels)
    _ = sumOfExponentials(x, count: levels, scale: inverseTemperature, shift: shift, terms: scratch)
    // The cumulative sum runs in level order, so the CDF is monotone and ends at `total`.
    var total = 0.0
    for i in 0..<levels { total += Double(scratch[i]) }
    let target = uniform * total
    var cumulative = 0.0
    var value = -1
    for i in 0..<levels {
        cumulative += Double(scratch[i])
        if cumulative > target && scratch[i] > 0 {
            value = i
            break
        }
    }
    if value < 0 {
        // Rounding left the target at the very top: take the last level with mass.
        value = levels - 1
        while value > 0 && scratch[value] == 0 { value -= 1 }
    }
    let logQ = Double((x[value] - shift) * inverseTemperature) - log(total)
    let logP = inverseTemperature == 1 ? logQ : logProbability(of: value, logits: x, levels: levels)
    return (value, logQ, logP)
}

/// log Σ exp(v_i) over float64 values; −∞ for an empty or all −∞ input.
func logSumExp(_ values: ArraySlice<Double>) -> Double {
    guard let top = values.max(), top > -Double.infinity else { return -Double.infinity }
    if top == Double.infinity { return Double.infinity }
    var sum = 0.0
    for v in values { sum += exp(v - top) }
    return top + log(sum)
}

/// log Σ exp(v_i) over float64 values.
func logSumExp(_ values: [Double]) -> Double { logSumExp(values[...]) }

/// The effective sample size (Σ w)² / Σ w² of log-weights, computed in the log domain.
func effectiveSampleSize(_ logWeights: ArraySlice<Double>) -> Double {
    let total = logSumExp(logWeights)
    guard total.isFinite else { return 0 }
    let squares = logSumExp(ArraySlice(logWeights.map { 2 * $0 }))
    return exp(2 * total - squares)
}
