// A seedable, reproducible pseudo-random generator for training, data
// augmentation and sampling.
//
// The generator is xoshiro256** (Blackman and Vigna, "Scrambled linear
// pseudorandom number generators", 2018), seeded through SplitMix64 as its
// authors recommend. Every derived quantity (floats, normals, bounded integers,
// shuffles) is computed here by fixed algorithms, so a seed gives the same
// numbers on every platform and Swift version; the standard library's
// `shuffle(using:)` and `random(in:using:)` make no such promise.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fast, seedable, reproducible pseudo-random number generator (xoshiro256**).
///
/// Use one generator per thread of work. Independent, reproducible streams for
/// workers or particles come from ``init(seed:stream:)``: the same `(seed, stream)`
/// pair always gives the same sequence, whichever thread runs it and in whatever order.
///
/// ```swift
/// var random = RandomSource(seed: 42)
/// let u = random.nextFloat()        // uniform in [0, 1)
/// let z = random.nextNormal()       // standard normal
/// ```
public struct RandomSource: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64
    /// The second value of the last Box–Muller pair, not yet returned.
    private var spareNormal: Float?

    /// Creates a generator from a seed; the same as `init(seed: seed, stream: 0)`.
    /// - Parameter seed: Any 64-bit value; all seeds (zero included) are fine.
    public init(seed: UInt64) {
        self.init(seed: seed, stream: 0)
    }

    /// Creates the generator for one of many independent streams of a seed.
    ///
    /// The stream number is mixed into the seed by a bijective 64-bit hash before
    /// the SplitMix64 expansion, so streams `0, 1, 2, …` of one seed start from
    /// unrelated states. Use the worker, particle or image index as `stream`.
    /// - Parameters:
    ///   - seed: The run's seed.
    ///   - stream: The stream's number.
    public init(seed: UInt64, stream: UInt64) {
        var mixer = seed ^ RandomSource.mix(stream &* 0xD134_2543_DE82_EF95 &+ 0x632B_E59B_D9B4_E019)
        s0 = RandomSource.splitMix(&mixer)
        s1 = RandomSource.splitMix(&mixer)
        s2 = RandomSource.splitMix(&mixer)
        s3 = RandomSource.splitMix(&mixer)
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }  // the one forbidden state
        spareNormal = nil
    }

    /// The next 64 random bits (xoshiro256**).
    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = Self.rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotateLeft(s3, 45)
        return result
    }

    /// A uniform `Float` in [0, 1), with 24 random bits (every representable
    /// multiple of 2⁻²⁴ equally likely).
    @inlinable @inline(__always)
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform `Double` in [0, 1), with 53 random bits.
    @inlinable @inline(__always)
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A standard normal `Float` (mean 0, variance 1), by the Box–Muller transform.
    ///
    /// Each transform yields two values; the second is kept and returned by the
    /// next call, so the sequence depends only on the seed and the call order.
    public mutating func nextNormal() -> Float {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        // u1 in (0, 1] so that the logarithm is finite.
        let u1 = 1 - nextDouble()
        let u2 = nextDouble()
        let radius = (-2 * log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spareNormal = Float(radius * sin(angle))
        return Float(radius * cos(angle))
    }

    /// A uniform integer in `0 ..< bound`, without modulo bias (Lemire's method).
    /// - Precondition: `bound > 0`.
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Shuffles `indices` in place (Fisher–Yates, drawing with ``nextInt(below:)``).
    ///
    /// The result depends only on the generator's state and the array's contents,
    /// never on the Swift version.
    /// - Parameter indices: The array to shuffle.
    public mutating func shuffle(_ indices: inout [Int]) {
        var i = indices.count - 1
        while i > 0 {
            let j = nextInt(below: i + 1)
            indices.swapAt(i, j)
            i -= 1
        }
    }

    /// A random permutation of `0 ..< count`.
    /// - Parameter count: The number of indices, zero or more.
    public mutating func permutation(_ count: Int) -> [Int] {
        var indices = Array(0..<count)
        shuffle(&indices)
        return indices
    }

    @inlinable @inline(__always)
    static func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    // MARK: - SplitMix64

    /// The SplitMix64 output function: a bijective 64-bit mixer.
    @usableFromInline
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One SplitMix64 step: advances `state` and returns its next output.
    static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix(state)
    }
}
