/// A 256-entry colour scale mapping a number in [0, 1] to a colour.
///
/// ``viridis`` and ``inferno`` are the perceptually uniform maps of matplotlib, rebuilt by linear
/// interpolation in sRGB between ten published anchor colours (the `viridisLite` ten-step
/// palettes); their lightness rises monotonically from 0 to 1, so they print well in gray and
/// read correctly for colour-blind viewers.
public struct ColorMap: Sendable, Hashable {
    /// A short name, e.g. `"viridis"`.
    public let name: String
    /// The 256 colours, from t = 0 to t = 1.
    public let table: [RGB]

    /// Creates a map by interpolating evenly spaced anchor colours.
    /// - Parameters:
    ///   - name: A short name.
    ///   - anchors: At least two colours; the first is t = 0 and the last t = 1.
    public init(name: String, anchors: [RGB]) {
        precondition(anchors.count >= 2, "a colour map needs at least two anchors")
        self.name = name
        let segments = Double(anchors.count - 1)
        table = (0..<256).map { i in
            let position = Double(i) / 255 * segments
            let k = min(Int(position), anchors.count - 2)
            return anchors[k].mixed(with: anchors[k + 1], fraction: position - Double(k))
        }
    }

    /// The colour for `t`, clamped to [0, 1] (NaN gives the t = 0 colour).
    /// - Parameter t: Position on the scale.
    public func color(at t: Double) -> RGB {
        table[Int((clamp01(t) * 255).rounded())]
    }

    /// The colour for `value` on a scale running from `range.lowerBound` (t = 0) to
    /// `range.upperBound` (t = 1); values outside are clamped. An empty range maps everything to
    /// the middle of the scale.
    /// - Parameters:
    ///   - value: The number to colour.
    ///   - range: The values at the two ends of the scale.
    public func color(for value: Double, in range: ClosedRange<Double>) -> RGB {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return color(at: 0.5) }
        return color(at: (value - range.lowerBound) / span)
    }

    /// Renders a field of numbers, such as a per-pixel negative log-likelihood, as an RGB image.
    /// - Parameters:
    ///   - values: `width * height` numbers, row-major.
    ///   - width: Image width.
    ///   - height: Image height.
    ///   - range: The values mapped to the ends of the scale; `nil` uses the finite minimum and
    ///     maximum of `values`.
    ///   - invalid: The colour for NaN and infinite values (e.g. pixels that have no value).
    /// - Returns: A 3-channel image.
    public func render(
        values: [Double], width: Int, height: Int, range: ClosedRange<Double>? = nil,
        invalid: RGB = RGB(gray: 200)
    ) -> Image {
        precondition(values.count == width * height, "value count does not match the size")
        let scale = range ?? ColorMap.finiteRange(of: values) ?? 0...1
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for (i, v) in values.enumerated() {
            let c = v.isFinite ? color(for: v, in: scale) : invalid
            pixels[i * 3] = c.r
            pixels[i * 3 + 1] = c.g
            pixels[i * 3 + 2] = c.b
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// The smallest and largest finite values, or `nil` when there are none.
    /// - Parameter values: The numbers to scan.
    public static func finiteRange(of values: [Double]) -> ClosedRange<Double>? {
        var low = Double.infinity, high = -Double.infinity
        for v in values where v.isFinite {
            low = min(low, v)
            high = max(high, v)
        }
        return low <= high ? low...high : nil
    }

    /// Viridis: dark purple through blue and green to yellow.
    public static let viridis = ColorMap(
        name: "viridis",
        anchors: [
            0x44_0154, 0x48_2878, 0x3E_4A89, 0x31_688E, 0x26_828E,
            0x1F_9E89, 0x35_B779, 0x6D_CD59, 0xB4_DE2C, 0xFD_E725,
        ].map { RGB(hex: $0) })

    /// Inferno: black through purple, red and orange to pale yellow; good for heat maps.
    public static let inferno = ColorMap(
        name: "inferno",
        anchors: [
            0x00_0004, 0x1B_0C42, 0x4B_0C6B, 0x78_1C6D, 0xA5_2C60,
            0xCF_4446, 0xED_6925, 0xFB_9A06, 0xF7_D03C, 0xFC_FFA4,
        ].map { RGB(hex: $0) })

    /// Plain gray scale, black to white.
    public static let grayscale = ColorMap(name: "gray", anchors: [.black, .white])
}
