/// A colour scale legend for a heat map: a bar of a ``ColorMap`` with minimum, middle and
/// maximum tick labels and a unit label such as `"NLL, bits"`.
///
/// Vertical bars run from the minimum at the bottom to the maximum at the top, labels on the
/// right and the unit above; horizontal bars run left to right with labels and unit below.
public struct ColorBar: Sendable {
    /// Which way the bar runs.
    public enum Orientation: Sendable, Hashable {
        /// Minimum at the bottom, maximum at the top.
        case vertical
        /// Minimum at the left, maximum at the right.
        case horizontal
    }

    /// The colours shown.
    public var colorMap: ColorMap
    /// The values at the two ends of the bar.
    public var range: ClosedRange<Double>
    /// The unit caption, e.g. `"NLL, bits"`; empty for none.
    public var label: String
    /// Which way the bar runs.
    public var orientation: Orientation
    /// Length of the coloured bar in pixels, along its direction.
    public var length: Int
    /// Width of the coloured bar in pixels, across its direction.
    public var thickness: Int
    /// Integer text magnification.
    public var fontScale: Int
    /// Text and tick colour.
    public var textColor = RGB(gray: 30)
    /// Background colour of ``render()``.
    public var background = RGB.white

    /// Creates a colour bar.
    /// - Parameters:
    ///   - colorMap: The colours.
    ///   - range: Values at the ends (minimum first).
    ///   - label: Unit caption.
    ///   - orientation: Vertical or horizontal.
    ///   - length: Bar length in pixels (e.g. the height of the heat map beside it).
    ///   - thickness: Bar width in pixels.
    ///   - fontScale: Text magnification.
    public init(
        colorMap: ColorMap = .inferno, range: ClosedRange<Double>, label: String = "",
        orientation: Orientation = .vertical, length: Int = 128, thickness: Int = 12, fontScale: Int = 1
    ) {
        self.colorMap = colorMap
        self.range = range
        self.label = label
        self.orientation = orientation
        self.length = max(2, length)
        self.thickness = max(1, thickness)
        self.fontScale = max(1, fontScale)
    }

    /// The minimum, middle and maximum values with their labels.
    var tickLabels: [(value: Double, text: String)] {
        let low = range.lowerBound, high = range.upperBound
        let span = high - low
        let values = span > 0 ? [low, (low + high) / 2, high] : [low]
        return values.map { ($0, Ticks.rangeLabel($0, span: span > 0 ? span : abs(low))) }
    }

    private var tickLength: Int { 3 * fontScale }
    private var gap: Int { 3 * fontScale }
    private var charHeight: Int { BitmapFont.glyphHeight * fontScale }

    /// The size ``render()`` produces and ``draw(on:x:y:)`` covers.
    public var size: (width: Int, height: Int) {
        let labelWidth = tickLabels.map { BitmapFont.textWidth($0.text, scale: fontScale) }.max() ?? 0
        let unitWidth = BitmapFont.textWidth(label, scale: fontScale)
        let unitHeight = label.isEmpty ? 0 : BitmapFont.textHeight(label, scale: fontScale) + gap
        switch orientation {
        case .vertical:
            let barAndLabels = thickness + 2 + tickLength + gap + labelWidth
            return (max(barAndLabels, unitWidth), unitHeight + charHeight / 2 + length + 2 + charHeight / 2)
        case .horizontal:
            let ends = (tickLabels.map { BitmapFont.textWidth($0.text, scale: fontScale) }.max() ?? 0) / 2
            let width = max(length + 2 + 2 * ends, unitWidth)
            return (width, thickness + 2 + tickLength + gap + charHeight + unitHeight)
        }
    }

    /// Renders the colour bar on its own background, exactly ``size`` pixels.
    public func render() -> Image {
        let (width, height) = size
        var canvas = Canvas(width: width, height: height, background: background)
        draw(on: &canvas, x: 0, y: 0)
        return canvas.image
    }

    /// Draws the colour bar with its top-left corner at `(x, y)`.
    /// - Parameters:
    ///   - canvas: The surface to draw on.
    ///   - x: Left edge.
    ///   - y: Top edge.
    public func draw(on canvas: inout Canvas, x: Int, y: Int) {
        let frameColor = RGB(gray: 90)
        let span = range.upperBound - range.lowerBound
        func fraction(_ v: Double) -> Double { span > 0 ? (v - range.lowerBound) / span : 0.5 }
        switch orientation {
        case .vertical:
            var top = y
            if !label.isEmpty {
                canvas.drawText(label, x: x, y: top, color: textColor, scale: fontScale)
                top += BitmapFont.textHeight(label, scale: fontScale) + gap
            }
            top += charHeight / 2
            let bar = PixelRect(x: x, y: top, width: thickness + 2, height: length + 2)
            for i in 0..<length {
                let t = length == 1 ? 0.5 : Double(length - 1 - i) / Double(length - 1)
                canvas.fill(PixelRect(x: bar.x + 1, y: bar.y + 1 + i, width: thickness, height: 1),
                            with: colorMap.color(at: t))
            }
            canvas.stroke(bar, with: frameColor)
            for tick in tickLabels {
                let row = bar.y + 1 + Int(((1 - fraction(tick.value)) * Double(length - 1)).rounded())
                canvas.fill(PixelRect(x: bar.maxX, y: row, width: tickLength, height: 1), with: frameColor)
                canvas.drawText(
                    tick.text, x: bar.maxX + tickLength + gap, y: row - charHeight / 2 + fontScale / 2,
                    color: textColor, scale: fontScale)
            }
        case .horizontal:
            let ends = (tickLabels.map { BitmapFont.textWidth($0.text, scale: fontScale) }.max() ?? 0) / 2
            let totalWidth = size.width
            let left = x + max(ends, (totalWidth - length - 2) / 2)
            let bar = PixelRect(x: left, y: y, width: length + 2, height: thickness + 2)
            for i in 0..<length {
                let t = length == 1 ? 0.5 : Double(i) / Double(length - 1)
                canvas.fill(PixelRect(x: bar.x + 1 + i, y: bar.y + 1, width: 1, height: thickness),
                            with: colorMap.color(at: t))
            }
            canvas.stroke(bar, with: frameColor)
            for tick in tickLabels {
                let column = bar.x + 1 + Int((fraction(tick.value) * Double(length - 1)).rounded())
                canvas.fill(PixelRect(x: column, y: bar.maxY, width: 1, height: tickLength), with: frameColor)
                canvas.drawText(
                    tick.text, x: column, y: bar.maxY + tickLength + gap, color: textColor, scale: fontScale,
                    alignment: .center)
            }
            if !label.isEmpty {
                canvas.drawText(
                    label, x: x + totalWidth / 2, y: bar.maxY + tickLength + gap + charHeight + gap,
                    color: textColor, scale: fontScale, alignment: .center)
            }
        }
    }
}
