#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The C math functions the drawing code needs, wrapped so that no other file needs a
// platform import.

/// `x` raised to the power `y` (C `pow`).
@inline(__always) func powerOf(_ x: Double, _ y: Double) -> Double { pow(x, y) }

/// Base-10 logarithm (C `log10`).
@inline(__always) func log10Of(_ x: Double) -> Double { log10(x) }
