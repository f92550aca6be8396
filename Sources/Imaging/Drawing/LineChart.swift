/// A line chart of one or more named series, rendered to an ``Image``: title, axis labels, nice
/// tick values, a light grid and a legend. Ranges are found from the data (with padding) unless
/// given; non-finite points (and non-positive ones on a logarithmic axis) are skipped and break
/// the line, so a diverged training step shows as a gap rather than a crash.
///
/// ```swift
/// var chart = LineChart(title: "Training", xLabel: "step", yLabel: "bits/dim")
/// chart.series = [
///     .init(name: "train", x: steps, y: trainLoss),
///     .init(name: "validation", x: validationSteps, y: validationLoss, style: .lineAndMarkers),
/// ]
/// let picture = chart.render(width: 1000, height: 600)
/// ```
public struct LineChart: Sendable {
    /// How values are placed along an axis.
    public enum AxisScale: Sendable, Hashable {
        /// Evenly spaced values.
        case linear
        /// Evenly spaced powers of ten; values ≤ 0 are skipped.
        case logarithmic
    }

    /// How a series is drawn.
    public enum Style: Sendable, Hashable {
        /// A line through the points.
        case line
        /// A dot at each point.
        case markers
        /// A line with a dot at each point.
        case lineAndMarkers
    }

    /// One named sequence of points.
    public struct Series: Sendable {
        /// The legend entry; an empty name keeps the series out of the legend.
        public var name: String
        /// The data, in chart units (y grows upwards).
        public var points: [Point2D]
        /// The colour, or `nil` for the next colour of ``LineChart/palette``.
        public var color: RGB?
        /// Line, dots, or both.
        public var style: Style

        /// Creates a series from points.
        /// - Parameters:
        ///   - name: Legend entry.
        ///   - points: The data.
        ///   - color: Colour, or `nil` to take one from the palette.
        ///   - style: Line, dots, or both.
        public init(name: String, points: [Point2D], color: RGB? = nil, style: Style = .line) {
            self.name = name
            self.points = points
            self.color = color
            self.style = style
        }

        /// Creates a series from parallel coordinate arrays (the longer one is truncated).
        /// - Parameters:
        ///   - name: Legend entry.
        ///   - x: Horizontal values.
        ///   - y: Vertical values.
        ///   - color: Colour, or `nil` to take one from the palette.
        ///   - style: Line, dots, or both.
        public init(name: String, x: [Double], y: [Double], color: RGB? = nil, style: Style = .line) {
            self.init(
                name: name, points: zip(x, y).map { Point2D(x: $0, y: $1) }, color: color, style: style)
        }
    }

    /// Colours given to series without one, in order.
    public static let palette: [RGB] = [.blue, .orange, .green, .red, .purple, .cyan, .magenta, RGB(hex: 0x8C_564B)]

    /// The heading above the plot; empty for none.
    public var title: String
    /// The caption of the horizontal axis; empty for none.
    public var xLabel: String
    /// The caption of the vertical axis (drawn rotated); empty for none.
    public var yLabel: String
    /// The data.
    public var series: [Series]
    /// Horizontal axis scale.
    public var xScale: AxisScale = .linear
    /// Vertical axis scale.
    public var yScale: AxisScale = .linear
    /// Fixed horizontal range, or `nil` to fit the data.
    public var xRange: ClosedRange<Double>?
    /// Fixed vertical range, or `nil` to fit the data with a little padding.
    public var yRange: ClosedRange<Double>?
    /// Integer text magnification, or `nil` to choose from the image size.
    public var fontScale: Int?
    /// Whether to draw the legend (only series with names appear in it).
    public var showsLegend = true
    /// Background colour.
    public var background = RGB.white

    /// Creates a chart.
    /// - Parameters:
    ///   - title: Heading.
    ///   - xLabel: Horizontal axis caption.
    ///   - yLabel: Vertical axis caption.
    ///   - series: The data.
    ///   - xScale: Horizontal axis scale.
    ///   - yScale: Vertical axis scale.
    public init(
        title: String = "", xLabel: String = "", yLabel: String = "", series: [Series] = [],
        xScale: AxisScale = .linear, yScale: AxisScale = .linear
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xScale = xScale
        self.yScale = yScale
    }

    /// Renders the chart.
    /// - Parameters:
    ///   - width: Image width in pixels (small sizes still render, if cramped).
    ///   - height: Image height in pixels.
    /// - Returns: A 3-channel image of exactly `width × height` pixels.
    public func render(width: Int, height: Int) -> Image {
        var canvas = Canvas(width: max(1, width), height: max(1, height), background: background)
        draw(on: &canvas, in: canvas.bounds)
        return canvas.image
    }

    /// Draws the chart into a rectangle of an existing canvas.
    /// - Parameters:
    ///   - canvas: The surface to draw on.
    ///   - frame: The area the chart fills (its background is painted).
    public func draw(on canvas: inout Canvas, in frame: PixelRect) {
        let savedClip = canvas.clip
        defer { canvas.clip = savedClip }
        canvas.clip = frame.intersection(savedClip)
        canvas.fill(frame, with: background)

        let s = fontScale ?? (frame.width >= 700 && frame.height >= 420 ? 2 : 1)
        let charHeight = BitmapFont.glyphHeight * s
        let gap = 4 * s
        let tickLength = 3 * s
        let titleScale = s + 1
        let text = RGB(gray: 30)
        let axisColor = RGB(gray: 90)
        let gridColor = RGB(gray: 228)
        let minorGridColor = RGB(gray: 243)

        // Data, mapped to axis space (log10 for logarithmic axes), skipping what cannot be shown.
        let usable: [(series: Series, color: RGB, points: [Point2D])] = series.enumerated().map { index, item in
            let color = item.color ?? LineChart.palette[index % LineChart.palette.count]
            let points = item.points.map { p -> Point2D in
                guard let x = transform(p.x, xScale), let y = transform(p.y, yScale) else {
                    return Point2D(x: .nan, y: .nan)
                }
                return Point2D(x: x, y: y)
            }
            return (item, color, points)
        }
        let finite = usable.flatMap { $0.points.filter(\.isFinite) }
        let xAxis = axisRange(
            data: finite.map(\.x), fixed: xRange.flatMap { transformRange($0, xScale) }, padding: 0.02)
        let yAxis = axisRange(
            data: finite.map(\.y), fixed: yRange.flatMap { transformRange($0, yScale) }, padding: 0.06)

        // Vertical layout: title, plot, tick labels, x caption.
        var top = frame.y + gap * 2
        if !title.isEmpty {
            canvas.drawText(
                title, x: frame.x + frame.width / 2, y: top, color: text, scale: titleScale, alignment: .center)
            top += BitmapFont.textHeight(title, scale: titleScale) + gap * 2
        } else {
            top += charHeight / 2
        }
        var bottom = frame.maxY - gap * 2
        if !xLabel.isEmpty { bottom -= BitmapFont.textHeight(xLabel, scale: s) + gap }
        bottom -= charHeight + tickLength + gap

        // Vertical ticks decide the left margin.
        let plotHeightEstimate = max(1, bottom - top)
        let yTicks = ticks(yAxis, yScale, target: max(2, plotHeightEstimate / (36 * s)))
        let yLabels = labels(yTicks, yScale)
        let yLabelWidth = yLabels.map { BitmapFont.textWidth($0, scale: s) }.max() ?? 0
        var left = frame.x + gap * 2
        if !yLabel.isEmpty { left += BitmapFont.textHeight(yLabel, scale: s) + gap * 2 }
        left += yLabelWidth + tickLength + gap
        let right = frame.maxX - gap * 4
        let plot = PixelRect(x: left, y: top, width: right - left, height: bottom - top)
        guard plot.width > 4, plot.height > 4 else { return }

        let xTicks = ticks(xAxis, xScale, target: max(2, plot.width / (70 * s)))

        // Axis space to pixel centres, inset by one pixel from the frame.
        let x0 = Double(plot.x) + 1.5, x1 = Double(plot.maxX) - 1.5
        let y0 = Double(plot.maxY) - 1.5, y1 = Double(plot.y) + 1.5
        let xSpan = xAxis.upperBound - xAxis.lowerBound, ySpan = yAxis.upperBound - yAxis.lowerBound
        func px(_ v: Double) -> Double { x0 + (v - xAxis.lowerBound) / xSpan * (x1 - x0) }
        func py(_ v: Double) -> Double { y0 + (v - yAxis.lowerBound) / ySpan * (y1 - y0) }

        // Grid, frame, ticks, labels; logarithmic axes get a fainter grid at 2…9 × 10^k.
        for v in minorLogTicks(xAxis, xScale) {
            let column = Int(px(v).rounded(.down))
            canvas.fill(PixelRect(x: column, y: plot.y + 1, width: 1, height: plot.height - 2), with: minorGridColor)
        }
        for v in minorLogTicks(yAxis, yScale) {
            let row = Int(py(v).rounded(.down))
            canvas.fill(PixelRect(x: plot.x + 1, y: row, width: plot.width - 2, height: 1), with: minorGridColor)
        }
        for (k, v) in yTicks.values.enumerated() {
            let row = Int(py(v).rounded(.down))
            canvas.fill(PixelRect(x: plot.x + 1, y: row, width: plot.width - 2, height: 1), with: gridColor)
            canvas.fill(PixelRect(x: plot.x - tickLength, y: row, width: tickLength, height: s), with: axisColor)
            canvas.drawText(
                yLabels[k], x: plot.x - tickLength - gap, y: row - charHeight / 2 + s / 2, color: text, scale: s,
                alignment: .right)
        }
        let xLabels = labels(xTicks, xScale)
        for (k, v) in xTicks.values.enumerated() {
            let column = Int(px(v).rounded(.down))
            canvas.fill(PixelRect(x: column, y: plot.y + 1, width: 1, height: plot.height - 2), with: gridColor)
            canvas.fill(PixelRect(x: column, y: plot.maxY, width: s, height: tickLength), with: axisColor)
            canvas.drawText(
                xLabels[k], x: column, y: plot.maxY + tickLength + gap, color: text, scale: s, alignment: .center)
        }
        canvas.stroke(plot, with: axisColor)
        if !xLabel.isEmpty {
            canvas.drawText(
                xLabel, x: plot.x + plot.width / 2, y: plot.maxY + tickLength + gap * 2 + charHeight, color: text,
                scale: s, alignment: .center)
        }
        if !yLabel.isEmpty {
            canvas.drawText(
                yLabel, x: frame.x + gap * 2, y: plot.y + plot.height / 2, color: text, scale: s,
                alignment: .center, orientation: .upward)
        }

        // Series, clipped to the inside of the frame.
        canvas.clip = plot.insetBy(dx: 1, dy: 1).intersection(frame).intersection(savedClip)
        let lineWidth = s == 1 ? 1.5 : 1.25 * Double(s)
        let markerRadius = 1.5 * Double(s) + 0.5
        for entry in usable {
            let mapped = entry.points.map { p in p.isFinite ? Point2D(x: px(p.x), y: py(p.y)) : p }
            if entry.series.style != .markers {
                canvas.drawPolyline(mapped, color: entry.color, thickness: lineWidth)
            }
            if entry.series.style != .line || mapped.filter(\.isFinite).count == 1 {
                for p in mapped where p.isFinite {
                    canvas.fillCircle(center: p, radius: markerRadius, color: entry.color)
                }
            }
        }
        if finite.isEmpty {
            canvas.drawText(
                "no data", x: plot.x + plot.width / 2, y: plot.y + plot.height / 2 - charHeight / 2,
                color: RGB(gray: 150), scale: s, alignment: .center)
        }

        // Legend, top right inside the plot.
        let named = usable.filter { !$0.series.name.isEmpty }
        if showsLegend, !named.isEmpty {
            let swatch = 18 * s
            let rowHeight = charHeight + gap
            let textWidth = named.map { BitmapFont.textWidth($0.series.name, scale: s) }.max() ?? 0
            let box = PixelRect(
                x: plot.maxX - gap * 2 - (swatch + gap * 3 + textWidth),
                y: plot.y + gap * 2,
                width: swatch + gap * 3 + textWidth,
                height: rowHeight * named.count + gap)
            canvas.blend(box, with: .white, opacity: 0.88)
            canvas.stroke(box, with: RGB(gray: 200))
            for (k, entry) in named.enumerated() {
                let rowTop = box.y + gap + k * rowHeight
                let middle = Double(rowTop) + Double(charHeight) / 2
                let start = Point2D(x: Double(box.x + gap), y: middle)
                let end = Point2D(x: Double(box.x + gap + swatch), y: middle)
                if entry.series.style != .markers {
                    canvas.drawLine(from: start, to: end, color: entry.color, thickness: lineWidth)
                }
                if entry.series.style != .line {
                    canvas.fillCircle(
                        center: Point2D(x: (start.x + end.x) / 2, y: middle), radius: markerRadius, color: entry.color)
                }
                canvas.drawText(
                    entry.series.name, x: box.x + gap * 2 + swatch, y: rowTop, color: text, scale: s)
            }
        }
    }

    // MARK: - Axes

    private func transform(_ v: Double, _ scale: AxisScale) -> Double? {
        guard v.isFinite else { return nil }
        switch scale {
        case .linear: return v
        case .logarithmic: return v > 0 ? log10Of(v) : nil
        }
    }

    private func transformRange(_ r: ClosedRange<Double>, _ scale: AxisScale) -> ClosedRange<Double>? {
        guard let a = transform(r.lowerBound, scale), let b = transform(r.upperBound, scale), b > a else {
            return nil
        }
        return a...b
    }

    /// The axis range in axis space: the data's extent padded by `padding` of its span, widened
    /// around a single value, or 0...1 without data.
    private func axisRange(data: [Double], fixed: ClosedRange<Double>?, padding: Double) -> ClosedRange<Double> {
        if let fixed { return fixed }
        guard let low = data.min(), let high = data.max() else { return 0...1 }
        if high > low {
            let pad = (high - low) * padding
            return (low - pad)...(high + pad)
        }
        let spread = low == 0 ? 1 : abs(low) * 0.1
        return (low - spread)...(high + spread)
    }

    private func ticks(
        _ range: ClosedRange<Double>, _ scale: AxisScale, target: Int
    ) -> (values: [Double], step: Double) {
        switch scale {
        case .linear:
            return Ticks.linear(range.lowerBound, range.upperBound, target: target)
        case .logarithmic:
            let values = Ticks.logarithmic(
                powerOf(10, range.lowerBound), powerOf(10, range.upperBound), target: target)
            return (values.map(log10Of), 0)
        }
    }

    /// Labels for an axis's ticks (given in axis space), sharing one `k`/`M` suffix decision.
    private func labels(_ ticks: (values: [Double], step: Double), _ scale: AxisScale) -> [String] {
        switch scale {
        case .linear:
            let largest = ticks.values.map(abs).max() ?? 0
            return ticks.values.map { Ticks.label($0, step: ticks.step, largest: largest) }
        case .logarithmic:
            let values = ticks.values.map { powerOf(10, $0) }
            let step = zip(values, values.dropFirst()).map { $1 - $0 }.min() ?? 1
            let largest = values.map(abs).max() ?? 0
            return values.map { v in
                // 1, 2 or 5 × 10^k needs the precision of 10^k; the linear ticks used within a
                // single decade need that of their step.
                let power = powerOf(10, log10Of(v).rounded(.down))
                let leading = (v / power).rounded()
                let onGrid = [1.0, 2, 5].contains(leading) && abs(v / power - leading) < 1e-6
                return Ticks.label(v, step: onGrid ? power : step, largest: largest)
            }
        }
    }

    /// Axis-space positions of 2…9 × 10^k inside a logarithmic axis spanning at most six decades.
    private func minorLogTicks(_ range: ClosedRange<Double>, _ scale: AxisScale) -> [Double] {
        guard scale == .logarithmic, range.upperBound - range.lowerBound <= 6 else { return [] }
        var values: [Double] = []
        for e in Int(range.lowerBound.rounded(.down))...Int(range.upperBound.rounded(.up)) {
            for m in 2...9 {
                let v = log10Of(Double(m)) + Double(e)
                if range.contains(v) { values.append(v) }
            }
        }
        return values
    }
}
