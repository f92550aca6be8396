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
    /// The size of labels in pixels (the title is larger), or `nil` to choose from the image size.
    public var fontSize: Double?
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
        let figure = Figure(
            width: min(Figure.maximumSize, max(1, width)), height: min(Figure.maximumSize, max(1, height)),
            background: background)
        draw(on: figure, in: figure.bounds)
        return figure.image
    }

    /// Draws the chart into a rectangle of a figure.
    /// - Parameters:
    ///   - figure: The surface to draw on.
    ///   - frame: The area the chart fills (its background is painted).
    public func draw(on figure: Figure, in frame: PixelRect) {
        figure.withClip(frame) { drawClipped(on: figure, in: frame) }
    }

    private func drawClipped(on figure: Figure, in frame: PixelRect) {
        figure.fill(frame, color: background)
        let size = fontSize ?? min(14, max(10, (Double(min(frame.width, frame.height * 2)) / 70).rounded()))
        let font = Font(size: size)
        let titleFont = Font(size: (size * 1.3).rounded(), weight: .bold)
        let unit = size / 12
        let gap = (5 * unit).rounded()
        let tickLength = (4 * unit).rounded()
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
        let lineHeight = font.lineHeight
        var top = Double(frame.y) + gap * 2
        if !title.isEmpty {
            figure.text(
                title, x: Double(frame.x) + Double(frame.width) / 2, y: top, font: titleFont, color: text,
                alignment: .center)
            top += titleFont.measure(title).height + gap * 2
        } else {
            top += lineHeight / 2
        }
        var bottom = Double(frame.maxY) - gap * 2
        if !xLabel.isEmpty { bottom -= font.measure(xLabel).height + gap }
        bottom -= lineHeight + tickLength + gap

        // Vertical ticks decide the left margin.
        let plotHeightEstimate = max(1, bottom - top)
        let yTicks = ticks(yAxis, yScale, target: max(2, Int(plotHeightEstimate / (3.5 * size))))
        let yLabels = labels(yTicks, yScale)
        let yLabelWidth = yLabels.map { font.measure($0).width }.max() ?? 0
        var left = Double(frame.x) + gap * 2
        if !yLabel.isEmpty { left += font.measure(yLabel).height + gap * 2 }
        left += yLabelWidth + tickLength + gap
        let right = Double(frame.maxX) - gap * 4
        let plot = PixelRect(
            x: Int(left.rounded()), y: Int(top.rounded()), width: Int((right - left).rounded()),
            height: Int((bottom - top).rounded()))
        guard plot.width > 4, plot.height > 4 else { return }

        let xTicks = ticks(xAxis, xScale, target: max(2, Int(Double(plot.width) / (6 * size))))

        // Axis space to pixel centres, inset by one pixel from the frame.
        let x0 = Double(plot.x) + 1.5, x1 = Double(plot.maxX) - 1.5
        let y0 = Double(plot.maxY) - 1.5, y1 = Double(plot.y) + 1.5
        let xSpan = xAxis.upperBound - xAxis.lowerBound, ySpan = yAxis.upperBound - yAxis.lowerBound
        func px(_ v: Double) -> Double { x0 + (v - xAxis.lowerBound) / xSpan * (x1 - x0) }
        func py(_ v: Double) -> Double { y0 + (v - yAxis.lowerBound) / ySpan * (y1 - y0) }
        /// Whole-pixel grid positions, so that one-pixel lines stay crisp.
        func column(_ v: Double) -> Int { Int(clampCoordinate(px(v)).rounded(.down)) }
        func row(_ v: Double) -> Int { Int(clampCoordinate(py(v)).rounded(.down)) }
        let inside = plot.insetBy(dx: 1, dy: 1)

        // Grid, frame, ticks, labels; logarithmic axes get a fainter grid at 2…9 × 10^k.
        for v in minorLogTicks(xAxis, xScale) {
            figure.fill(PixelRect(x: column(v), y: inside.y, width: 1, height: inside.height), color: minorGridColor)
        }
        for v in minorLogTicks(yAxis, yScale) {
            figure.fill(PixelRect(x: inside.x, y: row(v), width: inside.width, height: 1), color: minorGridColor)
        }
        let tick = Int(tickLength)
        for (k, v) in yTicks.values.enumerated() {
            let r = row(v)
            figure.fill(PixelRect(x: inside.x, y: r, width: inside.width, height: 1), color: gridColor)
            figure.fill(PixelRect(x: plot.x - tick, y: r, width: tick, height: 1), color: axisColor)
            figure.text(
                yLabels[k], x: Double(plot.x - tick) - gap, y: Double(r) + 0.5, font: font, color: text,
                alignment: .right, anchor: .middle)
        }
        let xLabels = labels(xTicks, xScale)
        for (k, v) in xTicks.values.enumerated() {
            let c = column(v)
            figure.fill(PixelRect(x: c, y: inside.y, width: 1, height: inside.height), color: gridColor)
            figure.fill(PixelRect(x: c, y: plot.maxY, width: 1, height: tick), color: axisColor)
            figure.text(
                xLabels[k], x: Double(c) + 0.5, y: Double(plot.maxY) + tickLength + gap / 2, font: font, color: text,
                alignment: .center)
        }
        figure.stroke(plot, color: axisColor)
        if !xLabel.isEmpty {
            figure.text(
                xLabel, x: Double(plot.x) + Double(plot.width) / 2,
                y: Double(plot.maxY) + tickLength + gap * 1.5 + lineHeight, font: font, color: text, alignment: .center)
        }
        if !yLabel.isEmpty {
            figure.text(
                yLabel, x: Double(frame.x) + gap * 2, y: Double(plot.y) + Double(plot.height) / 2, font: font,
                color: text, alignment: .center, orientation: .upward)
        }

        // Series, clipped to the inside of the frame.
        let lineWidth = 1.5 * max(1, unit)
        let markerRadius = 2.5 * max(1, unit)
        figure.withClip(inside) {
            for entry in usable {
                let mapped = entry.points.map { p in p.isFinite ? Point2D(x: px(p.x), y: py(p.y)) : p }
                if entry.series.style != .markers {
                    figure.polyline(mapped, color: entry.color, width: lineWidth)
                }
                if entry.series.style != .line || mapped.filter(\.isFinite).count == 1 {
                    for p in mapped where p.isFinite {
                        figure.fillCircle(center: p, radius: markerRadius, color: entry.color)
                    }
                }
            }
        }
        if finite.isEmpty {
            figure.text(
                "no data", x: Double(plot.x) + Double(plot.width) / 2, y: Double(plot.y) + Double(plot.height) / 2,
                font: font, color: RGB(gray: 150), alignment: .center, anchor: .middle)
        }

        // Legend, top right inside the plot.
        let named = usable.filter { !$0.series.name.isEmpty }
        if showsLegend, !named.isEmpty {
            let swatch = (2.2 * size).rounded()
            let rowHeight = lineHeight.rounded(.up)
            let textWidth = named.map { font.measure($0.series.name).width }.max() ?? 0
            let boxWidth = Int((swatch + gap * 3 + textWidth + gap).rounded(.up))
            let box = PixelRect(
                x: plot.maxX - Int(gap * 2) - boxWidth, y: plot.y + Int(gap * 2), width: boxWidth,
                height: Int(rowHeight) * named.count + Int(gap * 2))
            figure.fill(box, color: .white, opacity: 0.9)
            figure.stroke(box, color: RGB(gray: 200))
            for (k, entry) in named.enumerated() {
                let rowTop = Double(box.y) + gap + Double(k) * rowHeight
                let middle = (rowTop + rowHeight / 2).rounded(.down) + 0.5
                let start = Point2D(x: Double(box.x) + gap * 1.5, y: middle)
                let end = Point2D(x: start.x + swatch, y: middle)
                if entry.series.style != .markers {
                    figure.line(from: start, to: end, color: entry.color, width: lineWidth)
                }
                if entry.series.style != .line {
                    figure.fillCircle(
                        center: Point2D(x: (start.x + end.x) / 2, y: middle), radius: markerRadius, color: entry.color)
                }
                figure.text(
                    entry.series.name, x: end.x + gap * 1.5, y: middle, font: font, color: text, anchor: .middle)
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
