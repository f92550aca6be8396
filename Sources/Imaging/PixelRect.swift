// Rectangles of whole pixels: windows of completion, regions of figures.

/// An axis-aligned rectangle of whole pixels: columns `x ..< x + width`, rows `y ..< y + height`.
public struct PixelRect: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Leftmost column.
    public var x: Int
    /// Top row.
    public var y: Int
    /// Width in pixels (a negative width counts as empty).
    public var width: Int
    /// Height in pixels (a negative height counts as empty).
    public var height: Int

    /// Creates a rectangle.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// One past the rightmost column.
    public var maxX: Int { x + width }
    /// One past the bottom row.
    public var maxY: Int { y + height }
    /// Whether the rectangle covers no pixel.
    public var isEmpty: Bool { width <= 0 || height <= 0 }

    /// The rectangle shrunk by `dx` columns on the left and right and `dy` rows at the top and
    /// bottom (grown when negative).
    public func insetBy(dx: Int, dy: Int) -> PixelRect {
        PixelRect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy)
    }

    /// Its number of pixels (0 when empty).
    public var area: Int { isEmpty ? 0 : width * height }

    /// Whether the two rectangles share a pixel.
    public func intersects(_ other: PixelRect) -> Bool {
        x < other.maxX && other.x < maxX && y < other.maxY && other.y < maxY
    }

    /// The smallest rectangle holding both.
    public func union(_ other: PixelRect) -> PixelRect {
        let x0 = min(x, other.x), y0 = min(y, other.y)
        return PixelRect(x: x0, y: y0, width: max(maxX, other.maxX) - x0, height: max(maxY, other.maxY) - y0)
    }

    /// `W×H+X+Y`, as X11 geometry strings write it.
    public var description: String { "\(width)×\(height)+\(x)+\(y)" }

    /// Whether the pixel at column `px`, row `py` lies inside.
    public func contains(x px: Int, y py: Int) -> Bool {
        px >= x && px < maxX && py >= y && py < maxY
    }
}
