/// A mutable 8-bit RGB drawing surface.
///
/// Coordinates are in pixels with the origin at the top-left corner and `y` growing downwards.
/// Integer primitives (rectangles, pasted images, text) address whole pixels; line and circle
/// primitives take ``Point2D`` coordinates where pixel `(i, j)` has its centre at
/// `(i + 0.5, j + 0.5)`. Every primitive clips to ``clip`` and to the canvas, so drawing partly
/// or wholly outside is safe.
public struct Canvas: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `height * width * 3` samples, row-major, RGB interleaved.
    public private(set) var pixels: [UInt8]
    /// Drawing is limited to this rectangle (always within the canvas); defaults to the whole canvas.
    public var clip: PixelRect {
        get { clipRect }
        set { clipRect = newValue.intersection(bounds) }
    }
    private var clipRect: PixelRect

    /// Creates a canvas filled with one colour.
    /// - Parameters:
    ///   - width: Width in pixels, at least 1.
    ///   - height: Height in pixels, at least 1.
    ///   - background: The initial colour of every pixel.
    public init(width: Int, height: Int, background: RGB = .white) {
        precondition(width > 0 && height > 0, "a canvas needs at least one pixel")
        self.width = width
        self.height = height
        var buffer = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: buffer.count, by: 3) {
            buffer[i] = background.r
            buffer[i + 1] = background.g
            buffer[i + 2] = background.b
        }
        pixels = buffer
        clipRect = PixelRect(x: 0, y: 0, width: width, height: height)
    }

    /// Creates a canvas holding a copy of `image` (gray images are expanded to RGB; alpha is
    /// composited over `background`).
    /// - Parameters:
    ///   - image: The starting picture.
    ///   - background: What shows through transparent pixels.
    public init(_ image: Image, background: RGB = .white) {
        self.init(width: image.width, height: image.height, background: background)
        draw(image, x: 0, y: 0)
    }

    /// The whole canvas as a rectangle.
    public var bounds: PixelRect { PixelRect(x: 0, y: 0, width: width, height: height) }

    /// The canvas as a 3-channel ``Image``.
    public var image: Image {
        Image(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// The colour at column `x`, row `y`.
    /// - Precondition: the pixel lies on the canvas.
    public func color(x: Int, y: Int) -> RGB {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel outside the canvas")
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    // MARK: - Single pixels

    /// Sets one pixel, if it lies inside ``clip``.
    /// - Parameters:
    ///   - x: Column.
    ///   - y: Row.
    ///   - color: The new colour.
    public mutating func setPixel(x: Int, y: Int, color: RGB) {
        guard clipRect.contains(x: x, y: y) else { return }
        let i = (y * width + x) * 3
        pixels[i] = color.r
        pixels[i + 1] = color.g
        pixels[i + 2] = color.b
    }

    /// Blends `color` over one pixel with the given opacity, if it lies inside ``clip``.
    /// - Parameters:
    ///   - x: Column.
    ///   - y: Row.
    ///   - color: The colour laid over the pixel.
    ///   - opacity: 0 leaves the pixel unchanged, 1 replaces it; clamped to [0, 1].
    public mutating func blendPixel(x: Int, y: Int, color: RGB, opacity: Double) {
        guard clipRect.contains(x: x, y: y) else { return }
        blendUnchecked(index: (y * width + x) * 3, color: color, alpha: Float(clamp01(opacity)))
    }

    @inline(__always)
    private mutating func blendUnchecked(index i: Int, color: RGB, alpha a: Float) {
        if a >= 1 {
            pixels[i] = color.r
            pixels[i + 1] = color.g
            pixels[i + 2] = color.b
        } else if a > 0 {
            pixels[i] = mix(pixels[i], color.r, a)
            pixels[i + 1] = mix(pixels[i + 1], color.g, a)
            pixels[i + 2] = mix(pixels[i + 2], color.b, a)
        }
    }

    // MARK: - Rectangles

    /// Fills a rectangle with a solid colour; exactly the pixels of `rect` (within ``clip``) change.
    /// - Parameters:
    ///   - rect: The pixels to fill.
    ///   - color: The fill colour.
    public mutating func fill(_ rect: PixelRect, with color: RGB) {
        let r = rect.intersection(clipRect)
        guard !r.isEmpty else { return }
        pixels.withUnsafeMutableBufferPointer { buffer in
            for row in r.y..<r.maxY {
                var i = (row * width + r.x) * 3
                for _ in 0..<r.width {
                    buffer[i] = color.r
                    buffer[i + 1] = color.g
                    buffer[i + 2] = color.b
                    i += 3
                }
            }
        }
    }

    /// Blends a colour over a rectangle, e.g. to mark an occluded region while keeping what is
    /// underneath visible.
    /// - Parameters:
    ///   - rect: The pixels to tint.
    ///   - color: The tint colour.
    ///   - opacity: 0 leaves the pixels unchanged, 1 paints them solid; clamped to [0, 1].
    public mutating func blend(_ rect: PixelRect, with color: RGB, opacity: Double) {
        let r = rect.intersection(clipRect)
        let a = Float(clamp01(opacity))
        guard !r.isEmpty, a > 0 else { return }
        for row in r.y..<r.maxY {
            var i = (row * width + r.x) * 3
            for _ in 0..<r.width {
                blendUnchecked(index: i, color: color, alpha: a)
                i += 3
            }
        }
    }

    /// Draws the outline of a rectangle, `thickness` pixels wide, inside its edges.
    /// - Parameters:
    ///   - rect: The rectangle whose border is drawn; the outline never leaves it.
    ///   - color: The line colour.
    ///   - thickness: Border width in pixels (at least 1).
    public mutating func stroke(_ rect: PixelRect, with color: RGB, thickness: Int = 1) {
        guard !rect.isEmpty else { return }
        let t = max(1, min(thickness, (min(rect.width, rect.height) + 1) / 2))
        fill(PixelRect(x: rect.x, y: rect.y, width: rect.width, height: t), with: color)
        fill(PixelRect(x: rect.x, y: rect.maxY - t, width: rect.width, height: t), with: color)
        fill(PixelRect(x: rect.x, y: rect.y + t, width: t, height: rect.height - 2 * t), with: color)
        fill(PixelRect(x: rect.maxX - t, y: rect.y + t, width: t, height: rect.height - 2 * t), with: color)
    }

    // MARK: - Lines and circles

    /// Draws a straight line with round caps.
    /// - Parameters:
    ///   - start: One end, in canvas coordinates (pixel centres are at `.5`).
    ///   - end: The other end.
    ///   - color: The line colour.
    ///   - thickness: Line width in pixels.
    ///   - antialiased: Whether edge pixels are blended by coverage (smooth) or set solid (crisp).
    public mutating func drawLine(
        from start: Point2D, to end: Point2D, color: RGB, thickness: Double = 1, antialiased: Bool = true
    ) {
        drawPolyline([start, end], color: color, thickness: thickness, antialiased: antialiased)
    }

    /// Draws connected line segments through `points`. A non-finite point breaks the line: the
    /// segments on either side are drawn, the ones touching it are not. Overlapping segments are
    /// blended once, so joints do not show darker dots.
    /// - Parameters:
    ///   - points: The vertices, in canvas coordinates.
    ///   - color: The line colour.
    ///   - thickness: Line width in pixels.
    ///   - antialiased: Whether edge pixels are blended by coverage.
    public mutating func drawPolyline(
        _ points: [Point2D], color: RGB, thickness: Double = 1, antialiased: Bool = true
    ) {
        guard thickness.isFinite, thickness > 0, !clipRect.isEmpty else { return }
        let half = max(thickness, 1) / 2
        let reach = antialiased ? half + 0.5 : half
        // Bounding box of all drawable segments, clipped.
        var minX = Double.infinity, minY = Double.infinity
        var maxX = -Double.infinity, maxY = -Double.infinity
        var any = false
        for p in points where p.isFinite {
            minX = min(minX, p.x); maxX = max(maxX, p.x)
            minY = min(minY, p.y); maxY = max(maxY, p.y)
            any = true
        }
        guard any else { return }
        let left = Int(clampToInt((minX - reach - 1).rounded(.down)))
        let top = Int(clampToInt((minY - reach - 1).rounded(.down)))
        let right = Int(clampToInt((maxX + reach + 1).rounded(.up)))
        let bottom = Int(clampToInt((maxY + reach + 1).rounded(.up)))
        let area = PixelRect(x: left, y: top, width: right - left, height: bottom - top).intersection(clipRect)
        guard !area.isEmpty else { return }
        var coverage = CoverageBuffer(area: area)
        if points.count == 1 {
            coverage.addSegment(points[0], points[0], half: half, antialiased: antialiased)
        }
        for k in points.indices.dropFirst() {
            let a = points[k - 1], b = points[k]
            guard a.isFinite, b.isFinite else { continue }
            coverage.addSegment(a, b, half: half, antialiased: antialiased)
        }
        let strength = Float(min(thickness, 1))
        composite(coverage, color: color, strength: strength)
    }

    /// Fills a disc.
    /// - Parameters:
    ///   - center: Its centre, in canvas coordinates.
    ///   - radius: Its radius in pixels.
    ///   - color: The fill colour.
    ///   - antialiased: Whether the rim is blended by coverage.
    public mutating func fillCircle(center: Point2D, radius: Double, color: RGB, antialiased: Bool = true) {
        guard center.isFinite, radius.isFinite, radius > 0 else { return }
        var coverage = CoverageBuffer(
            area: PixelRect(
                x: Int(clampToInt((center.x - radius - 2).rounded(.down))),
                y: Int(clampToInt((center.y - radius - 2).rounded(.down))),
                width: Int(clampToInt((2 * radius + 4).rounded(.up))),
                height: Int(clampToInt((2 * radius + 4).rounded(.up)))
            ).intersection(clipRect))
        guard !coverage.area.isEmpty else { return }
        coverage.addSegment(center, center, half: radius, antialiased: antialiased)
        composite(coverage, color: color, strength: 1)
    }

    private mutating func composite(_ coverage: CoverageBuffer, color: RGB, strength: Float) {
        let area = coverage.area
        coverage.values.withUnsafeBufferPointer { values in
            var k = 0
            for row in area.y..<area.maxY {
                var i = (row * width + area.x) * 3
                for _ in 0..<area.width {
                    let a = values[k] * strength
                    if a > 0 { blendUnchecked(index: i, color: color, alpha: a) }
                    k += 1
                    i += 3
                }
            }
        }
    }

    // MARK: - Images

    /// Pastes an image with its top-left corner at `(x, y)`, each source pixel enlarged to a
    /// `scale × scale` block (nearest neighbour, so pixel art stays crisp). Gray images are drawn
    /// as neutral grays; an alpha plane, if present, is blended over what is already there.
    /// - Parameters:
    ///   - image: The picture to paste (1 or 3 channels).
    ///   - x: Destination column of the image's left edge.
    ///   - y: Destination row of the image's top edge.
    ///   - scale: Integer enlargement factor, at least 1.
    public mutating func draw(_ image: Image, x: Int, y: Int, scale: Int = 1) {
        precondition(scale >= 1, "scale must be at least 1")
        let target = PixelRect(x: x, y: y, width: image.width * scale, height: image.height * scale)
            .intersection(clipRect)
        guard !target.isEmpty else { return }
        let channels = image.channels
        let source = image.pixels
        let alpha = image.alpha
        for row in target.y..<target.maxY {
            let sy = (row - y) / scale
            var i = (row * width + target.x) * 3
            for column in target.x..<target.maxX {
                let sx = (column - x) / scale
                let s = sy * image.width + sx
                let c: RGB
                if channels == 1 {
                    c = RGB(gray: source[s])
                } else {
                    c = RGB(source[s * 3], source[s * 3 + 1], source[s * 3 + 2])
                }
                if let alpha {
                    blendUnchecked(index: i, color: c, alpha: Float(alpha[s]) / 255)
                } else {
                    pixels[i] = c.r
                    pixels[i + 1] = c.g
                    pixels[i + 2] = c.b
                }
                i += 3
            }
        }
    }

    // MARK: - Masks

    /// Marks the pixels of a mask on the canvas, e.g. the occluded region of an input image that
    /// was pasted at `(x, y)` with the same `scale`.
    /// - Parameters:
    ///   - mask: `maskWidth * maskHeight` flags, row-major; `true` marks a pixel.
    ///   - maskWidth: Mask width in mask pixels.
    ///   - maskHeight: Mask height in mask pixels.
    ///   - x: Destination column of the mask's left edge.
    ///   - y: Destination row of the mask's top edge.
    ///   - scale: Size of one mask pixel on the canvas, at least 1.
    ///   - style: How marked pixels are shown.
    ///   - outline: If given, a one-pixel line of this colour is drawn on the marked side of every
    ///     edge between marked and unmarked pixels (and the mask's border).
    public mutating func markMask(
        _ mask: [Bool], maskWidth: Int, maskHeight: Int, x: Int, y: Int, scale: Int = 1,
        style: MaskMarking = .tint(.magenta, opacity: 0.45), outline: RGB? = nil
    ) {
        precondition(scale >= 1, "scale must be at least 1")
        precondition(mask.count == maskWidth * maskHeight, "mask size mismatch")
        let target = PixelRect(x: x, y: y, width: maskWidth * scale, height: maskHeight * scale)
            .intersection(clipRect)
        guard !target.isEmpty else { return }
        func marked(_ mx: Int, _ my: Int) -> Bool {
            mx >= 0 && mx < maskWidth && my >= 0 && my < maskHeight && mask[my * maskWidth + mx]
        }
        for row in target.y..<target.maxY {
            let ly = row - y
            let my = ly / scale
            var i = (row * width + target.x) * 3
            for column in target.x..<target.maxX {
                defer { i += 3 }
                let lx = column - x
                let mx = lx / scale
                guard mask[my * maskWidth + mx] else { continue }
                if let outline {
                    let onEdge =
                        (lx % scale == 0 && !marked(mx - 1, my))
                        || (lx % scale == scale - 1 && !marked(mx + 1, my))
                        || (ly % scale == 0 && !marked(mx, my - 1))
                        || (ly % scale == scale - 1 && !marked(mx, my + 1))
                    if onEdge {
                        blendUnchecked(index: i, color: outline, alpha: 1)
                        continue
                    }
                }
                switch style {
                case .tint(let color, let opacity):
                    blendUnchecked(index: i, color: color, alpha: Float(clamp01(opacity)))
                case .fill(let color):
                    blendUnchecked(index: i, color: color, alpha: 1)
                case .hatch(let color, let spacing, let opacity):
                    let period = max(2, spacing)
                    if (lx + ly) % period == 0 {
                        blendUnchecked(index: i, color: color, alpha: Float(clamp01(opacity)))
                    }
                }
            }
        }
    }
}

/// How ``Canvas/markMask(_:maskWidth:maskHeight:x:y:scale:style:outline:)`` shows marked pixels.
public enum MaskMarking: Sendable, Hashable {
    /// Blend a colour over each marked pixel with the given opacity.
    case tint(RGB, opacity: Double)
    /// Paint each marked pixel solid.
    case fill(RGB)
    /// Diagonal stripes, one pixel wide, `spacing` pixels apart, blended with the given opacity.
    case hatch(RGB, spacing: Int, opacity: Double)
}

// MARK: - Helpers

@inline(__always) func clamp01(_ v: Double) -> Double {
    v.isNaN ? 0 : min(max(v, 0), 1)
}

@inline(__always) func clampToInt(_ v: Double) -> Double {
    // Keeps far-away coordinates representable; nothing that far is ever drawn.
    min(max(v, -1_000_000_000), 1_000_000_000)
}

@inline(__always) private func mix(_ a: UInt8, _ b: UInt8, _ t: Float) -> UInt8 {
    let v = Float(a) + (Float(b) - Float(a)) * t
    return UInt8(min(max(v.rounded(), 0), 255))
}

/// Per-pixel coverage in [0, 1] over a rectangle, accumulated with `max` so that overlapping
/// shapes of one stroke are blended once.
struct CoverageBuffer {
    let area: PixelRect
    var values: [Float]

    init(area: PixelRect) {
        self.area = area
        values = [Float](repeating: 0, count: max(0, area.width) * max(0, area.height))
    }

    /// Adds the capsule of radius `half` around segment `a`–`b` (a disc when `a == b`).
    mutating func addSegment(_ a: Point2D, _ b: Point2D, half: Double, antialiased: Bool) {
        let reach = antialiased ? half + 0.5 : half
        let dx = b.x - a.x, dy = b.y - a.y
        let lengthSquared = dx * dx + dy * dy
        let rowLow = max(area.y, Int(clampToInt((min(a.y, b.y) - reach - 0.5).rounded(.up))))
        let rowHigh = min(area.maxY - 1, Int(clampToInt((max(a.y, b.y) + reach - 0.5).rounded(.down))))
        guard rowLow <= rowHigh else { return }
        for row in rowLow...rowHigh {
            let cy = Double(row) + 0.5
            // x-extent of the segment's part within `reach` rows of this row, widened by `reach`.
            var t0 = 0.0, t1 = 1.0
            if abs(dy) > 1e-12 {
                let u = (cy - reach - a.y) / dy, v = (cy + reach - a.y) / dy
                t0 = max(0, min(u, v))
                t1 = min(1, max(u, v))
                if t0 > t1 { continue }
            } else if abs(a.y - cy) > reach {
                continue
            }
            let xa = a.x + dx * t0, xb = a.x + dx * t1
            let colLow = max(area.x, Int(clampToInt((min(xa, xb) - reach - 0.5).rounded(.up))))
            let colHigh = min(area.maxX - 1, Int(clampToInt((max(xa, xb) + reach - 0.5).rounded(.down))))
            guard colLow <= colHigh else { continue }
            var k = (row - area.y) * area.width + (colLow - area.x)
            for column in colLow...colHigh {
                let cx = Double(column) + 0.5
                var t = 0.0
                if lengthSquared > 0 {
                    t = min(max(((cx - a.x) * dx + (cy - a.y) * dy) / lengthSquared, 0), 1)
                }
                let ex = cx - (a.x + t * dx), ey = cy - (a.y + t * dy)
                let distance = (ex * ex + ey * ey).squareRoot()
                let c: Float
                if antialiased {
                    c = Float(min(max(half + 0.5 - distance, 0), 1))
                } else {
                    c = distance <= max(half, 0.5) ? 1 : 0
                }
                if c > values[k] { values[k] = c }
                k += 1
            }
        }
    }
}
