/// Horizontal placement of text relative to its anchor point.
public enum TextAlignment: Sendable, Hashable {
    /// The anchor is the left edge of the text.
    case left
    /// The anchor is the centre of the text.
    case center
    /// The anchor is the right edge of the text.
    case right
}

/// The direction text runs in.
public enum TextOrientation: Sendable, Hashable {
    /// Left to right, upright.
    case horizontal
    /// Bottom to top, rotated a quarter turn anticlockwise (for vertical axis labels).
    case upward
}

extension Canvas {
    /// Draws text in the built-in ``BitmapFont``.
    ///
    /// For horizontal text, `y` is the top of the first line and `x` the anchor chosen by
    /// `alignment`; each line of a multi-line string is aligned on its own. For upward text, `x`
    /// is the left edge of the rotated block and `y` the anchor along the reading direction:
    /// the start of the text (its bottom) for `.left`, its middle for `.center`, its end (top)
    /// for `.right`.
    /// - Parameters:
    ///   - text: The string; `"\n"` starts a new line.
    ///   - x: Horizontal anchor.
    ///   - y: Vertical anchor.
    ///   - color: Glyph colour.
    ///   - scale: Integer magnification, at least 1.
    ///   - alignment: Where the anchor lies along the text.
    ///   - orientation: Upright or rotated.
    /// - Returns: The rectangle the text occupies (possibly partly outside the canvas).
    @discardableResult
    public mutating func drawText(
        _ text: String, x: Int, y: Int, color: RGB, scale: Int = 1,
        alignment: TextAlignment = .left, orientation: TextOrientation = .horizontal
    ) -> PixelRect {
        precondition(scale >= 1, "scale must be at least 1")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let width = BitmapFont.textWidth(text, scale: scale)
        let height = BitmapFont.textHeight(text, scale: scale)
        switch orientation {
        case .horizontal:
            var top = y
            let box = PixelRect(x: anchorStart(x, width, alignment), y: y, width: width, height: height)
            for line in lines {
                let lineWidth = BitmapFont.lineWidth(line.count, scale: scale)
                var left = anchorStart(x, lineWidth, alignment)
                for character in line {
                    drawGlyph(BitmapFont.glyph(for: character), left: left, top: top, scale: scale, color: color)
                    left += BitmapFont.advance * scale
                }
                top += BitmapFont.lineSpacing * scale
            }
            return box
        case .upward:
            // Reading direction is up: a line's start is at the bottom.
            let start: Int
            switch alignment {
            case .left: start = y
            case .center: start = y + width / 2
            case .right: start = y + width
            }
            var left = x
            for line in lines {
                var bottom = start
                for character in line {
                    drawGlyphUpward(
                        BitmapFont.glyph(for: character), left: left, bottom: bottom, scale: scale, color: color)
                    bottom -= BitmapFont.advance * scale
                }
                left += BitmapFont.lineSpacing * scale
            }
            return PixelRect(x: x, y: start - width, width: height, height: width)
        }
    }

    private func anchorStart(_ anchor: Int, _ extent: Int, _ alignment: TextAlignment) -> Int {
        switch alignment {
        case .left: return anchor
        case .center: return anchor - extent / 2
        case .right: return anchor - extent
        }
    }

    private mutating func drawGlyph(_ glyph: UInt64, left: Int, top: Int, scale: Int, color: RGB) {
        guard glyph != 0 else { return }
        for row in 0..<BitmapFont.glyphHeight {
            for column in 0..<BitmapFont.glyphWidth where BitmapFont.isSet(glyph, row: row, column: column) {
                fill(
                    PixelRect(x: left + column * scale, y: top + row * scale, width: scale, height: scale),
                    with: color)
            }
        }
    }

    /// Draws a glyph rotated a quarter turn anticlockwise: the glyph's top row lands on the left
    /// and its first column at the bottom.
    private mutating func drawGlyphUpward(_ glyph: UInt64, left: Int, bottom: Int, scale: Int, color: RGB) {
        guard glyph != 0 else { return }
        for row in 0..<BitmapFont.glyphHeight {
            for column in 0..<BitmapFont.glyphWidth where BitmapFont.isSet(glyph, row: row, column: column) {
                // Rotating anticlockwise: glyph column c goes up from the bottom, glyph row r goes
                // right from the left edge.
                fill(
                    PixelRect(
                        x: left + row * scale, y: bottom - (column + 1) * scale, width: scale, height: scale),
                    with: color)
            }
        }
    }
}
