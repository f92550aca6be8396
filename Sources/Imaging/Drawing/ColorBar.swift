/// A colour scale legend for a heat map: a bar of a ``ColorMap`` with minimum, middle and
/// maximum tick labels and a unit label such as `"NLL, bits"`.
///
/// Vertical bars run from the minimum at the bottom to the maximum at the top, with the labels
/// and then the unit (reading upwards) on the right; horizontal bars run left to right with
/// labels and unit below.
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
    /// Tick labels and the unit caption.
    public var font: Font
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
    ///   - font: Tick labels and the unit caption.
    public init(
        colorMap: ColorMap = .inferno, range: ClosedRange<Double>, label: String = "",
        orientation: Orientation = .vertical, length: Int = 128, thickness: Int = 12, font: Font = Font(size: 11)
    ) {
        self.colorMap = colorMap
        self.range = range
        self.label = label
        self.orientation = orientation
        self.length = max(2, length)
        self.thickness = max(1, thickness)
        self.font = font
    }

    /// The minimum, middle and maximum values with their labels.
    var tickLabels: [(value: Double, text: String)] {
        let low = range.lowerBound, high = range.upperBound
        let span = high - low
        let values = span > 0 ? [low, (low + high) / 2, high] : [low]
        return values.map { ($0, Ticks.rangeLabel($0, span: span > 0 ? span : abs(low))) }
    }

    private var tickLength: Int { 4 }
    private var gap: Int { 3 }
    private var lineHeight: Int { Int(font.lineHeight.rounded(.up)) }

    private func textSize(_ text: String) -> (width: Int, height: Int) {
        let size = font.measure(text)
        return (Int(size.width.rounded(.up)), Int(size.height.rounded(.up)))
    }

    /// The size ``render()`` produces and ``draw(on:x:y:)`` covers.
    public var size: (width: Int, height: Int) {
        let labelWidth = tickLabels.map { textSize($0.text).width }.max() ?? 0
        let unit = textSize(label)
        let unitHeight = unit.height > 0 ? unit.height + gap : 0
        switch orientation {
        case .vertical:
            let barAndLabels = thickness + 2 + tickLength + gap + labelWidth
            let unitColumn = unit.height > 0 ? 2 * gap + unit.height : 0
            return (barAndLabels + unitColumn, max(lineHeight + length + 2, unit.width))
        case .horizontal:
            let width = max(length + 2 + 2 * ((labelWidth + 1) / 2), unit.width)
            return (width, thickness + 2 + tickLength + gap + lineHeight + unitHeight)
        }
    }

    /// Renders the colour bar on its own background, exactly ``size`` pixels.
    public func render() -> Image {
        let (width, height) = size
        let figure = Figure(width: max(1, width), height: max(1, height), background: background)
        draw(on: figure, x: 0, y: 0)
        return figure.image
    }

    /// Draws the colour bar with its top-left corner at `(x, y)`.
    /// - Parameters:
    ///   - figure: The surface to draw on.
    ///   - x: Left edge.
    ///   - y: Top edge.
    public func draw(on figure: Figure, x: Int, y: Int) {
        let frameColor = RGB(gray: 90)
        let span = range.upperBound - range.lowerBound
        func fraction(_ v: Double) -> Double { span > 0 ? (v - range.lowerBound) / span : 0.5 }
        let labelWidth = tickLabels.map { textSize($0.text).width }.max() ?? 0
        switch orientation {
        case .vertical:
            let top = y + (size.height - length - 2) / 2
            let bar = PixelRect(x: x, y: top, width: thickness + 2, height: length + 2)
            for i in 0..<length {
                let t = length == 1 ? 0.5 : Double(length - 1 - i) / Double(length - 1)
                figure.fill(
                    PixelRect(x: bar.x + 1, y: bar.y + 1 + i, width: thickness, height: 1), color: colorMap.color(at: t)
                )
            }
            figure.stroke(bar, color: frameColor)
            for tick in tickLabels {
                let row = bar.y + 1 + Int(((1 - fraction(tick.value)) * Double(length - 1)).rounded())
                figure.fill(PixelRect(x: bar.maxX, y: row, width: tickLength, height: 1), color: frameColor)
                figure.text(
                    tick.text, x: Double(bar.maxX + tickLength + gap), y: Double(row) + 0.5, font: font,
                    color: textColor, anchor: .middle)
            }
            if !label.isEmpty {
                figure.text(
                    label, x: Double(bar.maxX + tickLength + gap + labelWidth + 2 * gap),
                    y: Double(bar.y) + Double(bar.height) / 2,
                    font: font, color: textColor, alignment: .center, orientation: .upward)
            }
        case .horizontal:
            let left = x + max((labelWidth + 1) / 2, (size.width - length - 2) / 2)
            let bar = PixelRect(x: left, y: y, width: length + 2, height: thickness + 2)
            for i in 0..<length {
                let t = length == 1 ? 0.5 : Double(i) / Double(length - 1)
                figure.fill(
                    PixelRect(x: bar.x + 1 + i, y: bar.y + 1, width: 1, height: thickness), color: colorMap.color(at: t)
                )
            }
            figure.stroke(bar, color: frameColor)
            for tick in tickLabels {
                let column = bar.x + 1 + Int((fraction(tick.value) * Double(length - 1)).rounded())
                figure.fill(PixelRect(x: column, y: bar.maxY, width: 1, height: tickLength), color: frameColor)
                figure.text(
                    tick.text, x: Double(column) + 0.5, y: Double(bar.maxY + tickLength + gap), font: font,
                    color: textColor, alignment: .center)
            }
            if !label.isEmpty {
                figure.text(
                    label, x: Double(x) + Double(size.width) / 2,
                    y: Double(bar.maxY + tickLength + gap + lineHeight + gap),
                    font: font, color: textColor, alignment: .center)
            }
        }
    }
}
