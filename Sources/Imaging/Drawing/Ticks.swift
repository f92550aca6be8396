/// Tick positions and labels for chart axes and colour bars.
enum Ticks {
    /// "Nice" tick values (multiples of 1, 2 or 5 times a power of ten) inside `low...high`,
    /// about `target` of them, and the step between them.
    static func linear(_ low: Double, _ high: Double, target: Int) -> (values: [Double], step: Double) {
        guard low.isFinite, high.isFinite, high > low else { return (low.isFinite ? [low] : [], 1) }
        let rough = (high - low) / Double(max(1, target))
        let magnitude = powerOf(10, (log10Of(rough)).rounded(.down))
        let residual = rough / magnitude
        let nice: Double = residual <= 1.5 ? 1 : residual <= 3 ? 2 : residual <= 7 ? 5 : 10
        let step = nice * magnitude
        var values: [Double] = []
        var k = (low / step).rounded(.up)
        while k * step <= high + step * 1e-9, values.count < 1000 {
            let v = k * step
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            k += 1
        }
        return (values, step)
    }

    /// Ticks for a base-10 logarithmic axis over `low...high` (both positive): powers of ten, or
    /// 1-2-5 multiples when the range spans few decades, or every n-th power when it spans many.
    static func logarithmic(_ low: Double, _ high: Double, target: Int) -> [Double] {
        guard low > 0, high > low, low.isFinite, high.isFinite else { return [] }
        let first = Int(log10Of(low).rounded(.down)), last = Int(log10Of(high).rounded(.up))
        let decades = last - first
        // Powers of ten inside the range.
        let inside = Int(log10Of(high * (1 + 1e-9)).rounded(.down)) - Int(log10Of(low * (1 - 1e-9)).rounded(.up)) + 1
        var values: [Double] = []
        let multiples: [Double] = decades <= 2 ? [1, 2, 5] : [1]
        let every = max(1, (inside + target) / max(1, target + 1))
        for e in first...last where (e - first) % every == 0 {
            for m in multiples {
                let v = m * powerOf(10, Double(e))
                if v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9) { values.append(v) }
            }
        }
        if values.count < 2 {
            // Less than a decade: fall back to linear ticks inside the range.
            return linear(low, high, target: max(2, target / 2)).values.filter { $0 > 0 }
        }
        return values
    }

    /// A short label for a tick value, with as many decimals as the tick step needs; large round
    /// values use `k` and `M` suffixes, tiny ones scientific notation. Pass the largest magnitude
    /// on the axis as `largest` so that all labels of an axis use the same suffix.
    static func label(_ value: Double, step: Double, largest: Double? = nil) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        if value == 0 { return "0" }
        let step = abs(step) > 0 && step.isFinite ? abs(step) : abs(value)
        let magnitude = max(abs(value), largest ?? 0)
        if magnitude >= 1e6, step >= 1e5 {
            return format(value / 1e6, decimals: decimals(for: step / 1e6)) + "M"
        }
        if magnitude >= 1e4, step >= 1e3 {
            return format(value / 1e3, decimals: decimals(for: step / 1e3)) + "k"
        }
        if step < 1e-3 || magnitude >= 1e9 {
            return scientific(value)
        }
        return format(value, decimals: decimals(for: step))
    }

    /// Decimals needed to tell apart multiples of `step`.
    static func decimals(for step: Double) -> Int {
        guard step > 0, step.isFinite else { return 0 }
        var d = 0
        var s = step
        while d < 6, abs(s - s.rounded()) > 1e-6 * max(1, abs(s)) {
            s *= 10
            d += 1
        }
        return d
    }

    /// `value` with exactly `decimals` digits after the point (no locale, no Foundation).
    static func format(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return scientific(value) }
        let integer = UInt64(scaled)
        let divisor = UInt64(scale)
        var text = String(integer / divisor)
        if decimals > 0 {
            var fraction = String(integer % divisor)
            while fraction.count < decimals { fraction = "0" + fraction }
            text += "." + fraction
        }
        return (value < 0 && scaled > 0 ? "-" : "") + text
    }

    /// Scientific notation with up to two significant decimals: `1.5e-4`, `2e7`.
    static func scientific(_ value: Double) -> String {
        guard value != 0, value.isFinite else { return format(value, decimals: 0) }
        var exponent = Int(log10Of(abs(value)).rounded(.down))
        var mantissa = value / powerOf(10, Double(exponent))
        if abs(mantissa) >= 9.995 {
            mantissa /= 10
            exponent += 1
        }
        var text = format(mantissa, decimals: 2)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "e" + String(exponent)
    }

    /// A label for a value on a colour bar: enough decimals to resolve a hundredth of `span`.
    static func rangeLabel(_ value: Double, span: Double) -> String {
        guard span > 0, span.isFinite else { return format(value, decimals: 2) }
        if span < 1e-3 || abs(value) >= 1e7 { return scientific(value) }
        let d = max(0, min(4, 1 - Int(log10Of(span).rounded(.down))))
        return format(value, decimals: d)
    }
}
