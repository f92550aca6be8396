/// One picture in a ``PanelLayout``, with an optional caption under it.
public struct Panel: Sendable {
    /// The picture.
    public var image: Image
    /// Text under the picture (wrapped at spaces to the picture's width where possible); empty
    /// for none.
    public var caption: String
    /// Integer nearest-neighbour enlargement of the picture.
    public var scale: Int

    /// Creates a panel.
    /// - Parameters:
    ///   - image: The picture.
    ///   - caption: Text under it.
    ///   - scale: Integer enlargement, at least 1.
    public init(_ image: Image, caption: String = "", scale: Int = 1) {
        precondition(scale >= 1, "scale must be at least 1")
        self.image = image
        self.caption = caption
        self.scale = scale
    }

    /// The picture's size on the page.
    public var displaySize: (width: Int, height: Int) { (image.width * scale, image.height * scale) }
}

/// Composes captioned panels into one image: a single row (a job's `preview.png`) or a grid
/// with aligned columns (a gallery), with margins, an optional title and optional row labels.
///
/// Every column is as wide as its widest panel or caption; every row as tall as its tallest
/// panel plus its captions. Panels are centred in their cells and captions of one row share a
/// baseline.
public struct PanelLayout: Sendable {
    /// The panels, row by row; rows may have different lengths.
    public var rows: [[Panel]]
    /// A heading above everything; empty for none.
    public var title: String
    /// Labels drawn left of each row (missing or empty entries draw nothing).
    public var rowLabels: [String]
    /// Headings drawn above the columns, e.g. "original", "occluded", "sample 1" in a gallery
    /// (missing or empty entries draw nothing).
    public var columnHeaders: [String] = []
    /// Space around the content, in pixels.
    public var margin: Int = 12
    /// Space between columns and between rows, in pixels.
    public var spacing: Int = 12
    /// Space between a picture and its caption, in pixels.
    public var captionGap: Int = 4
    /// Captions, column headers and row labels.
    public var font = Font(size: 12)
    /// The title.
    public var titleFont = Font(size: 15, weight: .bold)
    /// Page colour.
    public var background = RGB.white
    /// Caption and title colour.
    public var textColor = RGB(gray: 30)

    /// Creates a layout of rows.
    /// - Parameters:
    ///   - rows: Panels, row by row.
    ///   - title: Heading.
    ///   - rowLabels: Labels left of the rows.
    public init(rows: [[Panel]], title: String = "", rowLabels: [String] = []) {
        self.rows = rows
        self.title = title
        self.rowLabels = rowLabels
    }

    /// Creates a layout of a single row.
    /// - Parameters:
    ///   - panels: The panels, left to right.
    ///   - title: Heading.
    public init(row panels: [Panel], title: String = "") {
        self.init(rows: [panels], title: title)
    }

    /// Creates a grid, filling rows of `columns` panels in order.
    /// - Parameters:
    ///   - panels: The panels, in reading order.
    ///   - columns: Panels per row, at least 1.
    ///   - title: Heading.
    public init(grid panels: [Panel], columns: Int, title: String = "") {
        precondition(columns >= 1, "need at least one column")
        let rows = stride(from: 0, to: panels.count, by: columns).map {
            Array(panels[$0..<min($0 + columns, panels.count)])
        }
        self.init(rows: rows, title: title)
    }

    /// Where everything goes.
    public struct Geometry: Sendable, Equatable {
        /// Width of the whole image.
        public var width: Int
        /// Height of the whole image.
        public var height: Int
        /// The rectangle of each panel's (enlarged) picture, row by row.
        public var frames: [[PixelRect]]
        /// The title, broken into lines no wider than the panels where possible.
        var title: String = ""
    }

    /// The pixels `text` needs in `font`, rounded up.
    private func size(_ text: String, _ font: Font) -> (width: Int, height: Int) {
        let size = font.measure(text)
        return (Int(size.width.rounded(.up)), Int(size.height.rounded(.up)))
    }

    private var lineHeight: Int { Int(font.lineHeight.rounded(.up)) }

    /// A caption broken at spaces into lines no wider than `width` where possible.
    func wrap(_ caption: String, width: Int, font: Font? = nil) -> [String] {
        let font = font ?? self.font
        guard !caption.isEmpty else { return [] }
        return wrappedText.value(for: WrapKey(text: caption, width: width, font: font)) {
            wrapLines(caption, width: width, font: font)
        }
    }

    private func wrapLines(_ caption: String, width: Int, font: Font) -> [String] {
        var lines: [String] = []
        for paragraph in caption.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                let candidate = line.isEmpty ? String(word) : line + " " + word
                if line.isEmpty || size(candidate, font).width <= width {
                    line = candidate
                } else {
                    lines.append(line)
                    line = String(word)
                }
            }
            lines.append(line)
        }
        return lines
    }

    /// `text` wrapped into as few lines as at `width`, but of similar lengths.
    private func balancedWrap(_ text: String, width: Int, font: Font) -> String {
        let lines = wrap(text, width: width, font: font)
        let paragraphs = text.split(separator: "\n", omittingEmptySubsequences: false).count
        let widest = size(text, font).width
        guard lines.count > paragraphs, widest > 0 else { return lines.joined(separator: "\n") }
        var narrower = widest / lines.count
        while narrower < width, wrap(text, width: narrower, font: font).count > lines.count {
            narrower += max(1, Int(font.size))
        }
        return wrap(text, width: min(narrower, width), font: font).joined(separator: "\n")
    }

    private func captionWidthLimit(_ panel: Panel) -> Int {
        // Captions of up to about 28 characters are never wrapped, even under a small picture.
        max(panel.displaySize.width, Int(14 * font.size))
    }

    /// Computes the layout without drawing.
    public func geometry() -> Geometry {
        let columns = rows.map(\.count).max() ?? 0
        var columnWidths = [Int](repeating: 0, count: columns)
        var pictureHeights: [Int] = []
        var captionHeights: [Int] = []
        for row in rows {
            var pictureHeight = 0
            var captionLines = 0
            for (c, panel) in row.enumerated() {
                let lines = wrap(panel.caption, width: captionWidthLimit(panel))
                if c < columnHeaders.count {
                    columnWidths[c] = max(columnWidths[c], size(columnHeaders[c], font).width)
                }
                let textWidth = lines.map { size($0, font).width }.max() ?? 0
                columnWidths[c] = max(columnWidths[c], panel.displaySize.width, textWidth)
                pictureHeight = max(pictureHeight, panel.displaySize.height)
                captionLines = max(captionLines, lines.count)
            }
            pictureHeights.append(pictureHeight)
            captionHeights.append(captionLines == 0 ? 0 : captionGap + captionLines * lineHeight)
        }
        let labelWidth = rowLabels.map { size($0, font).width }.max() ?? 0
        let left = margin + (labelWidth > 0 ? labelWidth + spacing : 0)
        let contentWidth = columnWidths.reduce(0, +) + spacing * max(0, columns - 1)
        // A long title wraps at the content's width, but not narrower than about 50 characters.
        let wrappedTitle = balancedWrap(
            title, width: max(left + contentWidth - margin, Int(30 * titleFont.size)), font: titleFont)
        let titleSize = size(wrappedTitle, titleFont)
        var top = margin
        if titleSize.height > 0 { top += titleSize.height + max(spacing, 8) }
        let headerHeight = columnHeaders.map { size($0, font).height }.max() ?? 0
        if headerHeight > 0 { top += headerHeight + captionGap }

        var frames: [[PixelRect]] = []
        var y = top
        for (r, row) in rows.enumerated() {
            var x = left
            var rowFrames: [PixelRect] = []
            for (c, panel) in row.enumerated() {
                let (w, h) = panel.displaySize
                let frame = PixelRect(
                    x: x + (columnWidths[c] - w) / 2, y: y + (pictureHeights[r] - h) / 2, width: w, height: h)
                rowFrames.append(frame)
                x += columnWidths[c] + spacing
            }
            frames.append(rowFrames)
            y += pictureHeights[r] + captionHeights[r] + spacing
        }
        let width = max(left + contentWidth, margin + titleSize.width) + margin
        let height = (rows.isEmpty ? top : y - spacing) + margin
        return Geometry(
            width: min(Figure.maximumSize, max(1, width)), height: min(Figure.maximumSize, max(1, height)),
            frames: frames, title: wrappedTitle)
    }

    /// Renders the layout.
    public func render() -> Image {
        let geometry = geometry()
        let figure = Figure(width: geometry.width, height: geometry.height, background: background)
        figure.text(geometry.title, x: Double(margin), y: Double(margin), font: titleFont, color: textColor)
        if let firstRow = geometry.frames.first, let top = firstRow.map(\.y).min() {
            let headerHeight = columnHeaders.map { size($0, font).height }.max() ?? 0
            for (c, header) in columnHeaders.enumerated() where c < firstRow.count && !header.isEmpty {
                let frame = firstRow[c]
                figure.text(
                    header, x: Double(frame.x) + Double(frame.width) / 2, y: Double(top - captionGap - headerHeight),
                    font: font, color: textColor, alignment: .center)
            }
        }
        for (r, row) in rows.enumerated() {
            let frames = geometry.frames[r]
            let pictureBottom = frames.map(\.maxY).max() ?? 0
            let pictureTop = frames.map(\.y).min() ?? 0
            if r < rowLabels.count, !rowLabels[r].isEmpty {
                let labelHeight = size(rowLabels[r], font).height
                figure.text(
                    rowLabels[r], x: Double(margin), y: Double(pictureTop + pictureBottom - labelHeight) / 2,
                    font: font, color: textColor)
            }
            for (c, panel) in row.enumerated() {
                let frame = frames[c]
                figure.draw(panel.image, x: frame.x, y: frame.y, scale: panel.scale)
                var lineTop = pictureBottom + captionGap
                for line in wrap(panel.caption, width: captionWidthLimit(panel)) {
                    figure.text(
                        line, x: Double(frame.x) + Double(frame.width) / 2, y: Double(lineTop), font: font,
                        color: textColor, alignment: .center)
                    lineTop += lineHeight
                }
            }
        }
        return figure.image
    }
}

/// Wrapped captions and titles by text, width and font: a job's preview wraps the same
/// title at the same width as the jobs before it, and wrapping measures every prefix.
private let wrappedText = BoundedCache<WrapKey, [String]>(limit: 1024)

private struct WrapKey: Hashable {
    var text: String
    var width: Int
    var font: Font
}
