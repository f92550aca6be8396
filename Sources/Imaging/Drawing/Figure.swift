internal import CCairo

/// A drawing surface for figures, backed by a cairo ARGB32 image surface.
///
/// Coordinates are in pixels with the origin at the top-left corner and `y` growing
/// downwards; pixel `(i, j)` covers `[i, i+1) × [j, j+1)`, so whole-pixel rectangles fill
/// exactly their pixels and lines and text are antialiased. Pictures are pasted with
/// nearest-neighbour scaling so that pixel art stays crisp. ``image`` reads the surface back
/// into an ``Image`` (PNG files are then written by the project's own encoder).
///
/// A figure is not thread-safe; separate figures may be drawn on separate threads.
public final class Figure {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    let surface: OpaquePointer
    let context: OpaquePointer
    /// The faces text is set in; tests replace them to check drawing without a font.
    var fonts: FontFaces = .shared

    /// The largest width or height cairo's image surfaces accept.
    public static let maximumSize = 32767

    /// Creates a figure filled with one colour, or transparent.
    /// - Parameters:
    ///   - width: Width in pixels, 1…``maximumSize``.
    ///   - height: Height in pixels, 1…``maximumSize``.
    ///   - background: The initial colour of every pixel; `nil` for transparent.
    public init(width: Int, height: Int, background: RGB? = .white) {
        precondition(
            (1...Figure.maximumSize).contains(width) && (1...Figure.maximumSize).contains(height),
            "figure size out of range")
        self.width = width
        self.height = height
        surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
        context = cairo_create(surface)
        if let background {
            setColor(background)
            cairo_paint(context)
        }
    }

    deinit {
        cairo_destroy(context)
        cairo_surface_destroy(surface)
    }

    /// The whole figure as a rectangle.
    public var bounds: PixelRect { PixelRect(x: 0, y: 0, width: width, height: height) }

    func setColor(_ color: RGB, opacity: Double = 1) {
        cairo_set_source_rgba(
            context, Double(color.r) / 255, Double(color.g) / 255, Double(color.b) / 255, clamp01(opacity))
    }

    // MARK: - Clipping

    /// Runs `body` with drawing limited to `rect` (inside any clip already in force).
    /// - Parameters:
    ///   - rect: The pixels that may change.
    ///   - body: The drawing.
    public func withClip(_ rect: PixelRect, _ body: () -> Void) {
        cairo_save(context)
        cairo_rectangle(
            context, Double(rect.x), Double(rect.y), Double(max(0, rect.width)), Double(max(0, rect.height)))
        cairo_clip(context)
        body()
        cairo_restore(context)
    }

    // MARK: - Rectangles

    /// Fills a rectangle; exactly its pixels change.
    /// - Parameters:
    ///   - rect: The pixels to fill.
    ///   - color: The fill colour.
    ///   - opacity: 1 paints solid, less blends over what is there; clamped to [0, 1].
    public func fill(_ rect: PixelRect, color: RGB, opacity: Double = 1) {
        guard !rect.isEmpty else { return }
        setColor(color, opacity: opacity)
        cairo_rectangle(context, Double(rect.x), Double(rect.y), Double(rect.width), Double(rect.height))
        cairo_fill(context)
    }

    /// Draws the outline of a rectangle, `lineWidth` pixels wide, just inside its edges.
    /// - Parameters:
    ///   - rect: The rectangle whose border is drawn; the outline never leaves it.
    ///   - color: The line colour.
    ///   - lineWidth: Border width in pixels.
    public func stroke(_ rect: PixelRect, color: RGB, lineWidth: Double = 1) {
        guard !rect.isEmpty, lineWidth > 0 else { return }
        let w = min(lineWidth, Double(min(rect.width, rect.height)) / 2)
        setColor(color)
        cairo_set_line_width(context, w)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_MITER)
        cairo_rectangle(
            context, Double(rect.x) + w / 2, Double(rect.y) + w / 2, Double(rect.width) - w, Double(rect.height) - w)
        cairo_stroke(context)
    }

    // MARK: - Lines and circles

    /// Draws a straight line with round caps.
    /// - Parameters:
    ///   - start: One end (pixel centres are at `.5`).
    ///   - end: The other end.
    ///   - color: The line colour.
    ///   - width: Line width in pixels.
    ///   - dash: Lengths of alternating dashes and gaps; empty for a solid line.
    public func line(from start: Point2D, to end: Point2D, color: RGB, width: Double = 1, dash: [Double] = []) {
        polyline([start, end], color: color, width: width, dash: dash)
    }

    /// Draws connected line segments through `points` with round joins and caps. A non-finite
    /// point breaks the line: the segments touching it are left out.
    /// - Parameters:
    ///   - points: The vertices.
    ///   - color: The line colour.
    ///   - width: Line width in pixels.
    ///   - dash: Lengths of alternating dashes and gaps; empty for a solid line.
    public func polyline(_ points: [Point2D], color: RGB, width: Double = 1, dash: [Double] = []) {
        guard width.isFinite, width > 0 else { return }
        cairo_new_path(context)
        var previousFinite = false
        var drawn = false
        for p in points {
            guard p.isFinite else {
                previousFinite = false
                continue
            }
            let q = Point2D(x: clampCoordinate(p.x), y: clampCoordinate(p.y))
            if previousFinite {
                cairo_line_to(context, q.x, q.y)
                drawn = true
            } else {
                cairo_move_to(context, q.x, q.y)
            }
            previousFinite = true
        }
        guard drawn else {
            cairo_new_path(context)
            return
        }
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        let lengths = dash.filter { $0.isFinite && $0 >= 0 }
        lengths.withUnsafeBufferPointer { cairo_set_dash(context, $0.baseAddress, Int32($0.count), 0) }
        cairo_stroke(context)
        cairo_set_dash(context, nil, 0, 0)
    }

    /// Fills a disc.
    /// - Parameters:
    ///   - center: Its centre.
    ///   - radius: Its radius in pixels.
    ///   - color: The fill colour.
    public func fillCircle(center: Point2D, radius: Double, color: RGB) {
        guard center.isFinite, radius.isFinite, radius > 0 else { return }
        setColor(color)
        cairo_new_path(context)
        cairo_arc(context, clampCoordinate(center.x), clampCoordinate(center.y), radius, 0, 2 * Double.pi)
        cairo_fill(context)
    }

    // MARK: - Pictures

    /// Pastes a picture with its top-left corner at `(x, y)`, each of its pixels enlarged to a
    /// `scale × scale` block (nearest neighbour). Gray pictures are drawn as neutral grays; an
    /// alpha plane is blended over what is already there.
    /// - Parameters:
    ///   - image: The picture (1 or 3 channels).
    ///   - x: Destination column of its left edge.
    ///   - y: Destination row of its top edge.
    ///   - scale: Integer enlargement, at least 1.
    public func draw(_ image: Image, x: Int, y: Int, scale: Int = 1) {
        precondition(scale >= 1, "scale must be at least 1")
        guard image.width > 0, image.height > 0 else { return }
        precondition(image.channels == 1 || image.channels == 3, "pictures are gray or RGB")
        paintScaled(pictureSurface(image), width: image.width, height: image.height, x: x, y: y, scale: scale)
    }

    /// Lays a colour over the marked pixels of a mask, e.g. the occluded region of a picture
    /// pasted at `(x, y)` with the same `scale`.
    /// - Parameters:
    ///   - mask: `maskWidth * maskHeight` flags, row-major; `true` marks a pixel.
    ///   - maskWidth: Mask width in mask pixels.
    ///   - maskHeight: Mask height in mask pixels.
    ///   - x: Destination column of the mask's left edge.
    ///   - y: Destination row of the mask's top edge.
    ///   - scale: Size of one mask pixel in figure pixels, at least 1.
    ///   - color: The colour laid over marked pixels.
    ///   - opacity: 1 paints them solid, less tints them; clamped to [0, 1].
    ///   - outline: If given, a one-pixel line of this colour is drawn on the marked side of every
    ///     edge between marked and unmarked pixels (and along the mask's border).
    public func markMask(
        _ mask: [Bool], maskWidth: Int, maskHeight: Int, x: Int, y: Int, scale: Int = 1, color: RGB,
        opacity: Double = 1, outline: RGB? = nil
    ) {
        precondition(scale >= 1, "scale must be at least 1")
        precondition(mask.count == maskWidth * maskHeight, "mask size mismatch")
        guard maskWidth > 0, maskHeight > 0 else { return }
        let alpha = UInt8((clamp01(opacity) * 255).rounded())
        let source = makeSurface(width: maskWidth, height: maskHeight, opaque: false) { i in
            (color, mask[i] ? alpha : 0)
        }
        paintScaled(source, width: maskWidth, height: maskHeight, x: x, y: y, scale: scale)
        guard let outline else { return }
        func marked(_ mx: Int, _ my: Int) -> Bool {
            mx >= 0 && mx < maskWidth && my >= 0 && my < maskHeight && mask[my * maskWidth + mx]
        }
        cairo_new_path(context)
        for my in 0..<maskHeight {
            for mx in 0..<maskWidth where mask[my * maskWidth + mx] {
                let left = Double(x + mx * scale), top = Double(y + my * scale), s = Double(scale)
                if !marked(mx - 1, my) { cairo_rectangle(context, left, top, 1, s) }
                if !marked(mx + 1, my) { cairo_rectangle(context, left + s - 1, top, 1, s) }
                if !marked(mx, my - 1) { cairo_rectangle(context, left, top, s, 1) }
                if !marked(mx, my + 1) { cairo_rectangle(context, left, top + s - 1, s, 1) }
            }
        }
        setColor(outline)
        cairo_set_fill_rule(context, CAIRO_FILL_RULE_WINDING)
        cairo_fill(context)
    }

    /// A cairo image surface holding a gray or RGB picture, premultiplied where it has an
    /// alpha plane. (A job's preview pastes several pictures: one pass per row, no call per pixel.)
    private func pictureSurface(_ image: Image) -> OpaquePointer {
        let width = image.width, height = image.height, gray = image.channels == 1
        // The loops below read without bounds checks.
        precondition(image.pixels.count == width * height * image.channels, "picture size mismatch")
        precondition(image.alpha.map { $0.count == width * height } ?? true, "alpha plane size mismatch")
        let source = cairo_image_surface_create(image.alpha == nil ? CAIRO_FORMAT_RGB24 : CAIRO_FORMAT_ARGB32,
                                                Int32(width), Int32(height))!
        cairo_surface_flush(source)
        guard let data = cairo_image_surface_get_data(source) else { return source }
        let stride = Int(cairo_image_surface_get_stride(source))  // a multiple of 4
        image.pixels.withUnsafeBufferPointer { samples in
            for row in 0..<height {
                let line = UnsafeMutableRawPointer(data + row * stride).assumingMemoryBound(to: UInt32.self)
                if gray {
                    for column in 0..<width {
                        let g = UInt32(samples[row * width + column])
                        line[column] = 0xFF00_0000 | g << 16 | g << 8 | g
                    }
                } else {
                    for column in 0..<width {
                        let i = (row * width + column) * 3
                        line[column] = 0xFF00_0000 | UInt32(samples[i]) << 16 | UInt32(samples[i + 1]) << 8 | UInt32(samples[i + 2])
                    }
                }
                guard let alpha = image.alpha else { continue }
                for column in 0..<width where alpha[row * width + column] != 255 {
                    let word = line[column]
                    let colour = RGB(UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word))
                    line[column] = premultipliedARGB(colour, alpha: alpha[row * width + column])
                }
            }
        }
        cairo_surface_mark_dirty(source)
        return source
    }

    /// A cairo image surface filled from `pixel(i)` (colour and straight alpha of pixel `i`).
    private func makeSurface(
        width: Int, height: Int, opaque: Bool, pixel: (Int) -> (RGB, UInt8)
    ) -> OpaquePointer {
        let format = opaque ? CAIRO_FORMAT_RGB24 : CAIRO_FORMAT_ARGB32
        let source = cairo_image_surface_create(format, Int32(width), Int32(height))!
        cairo_surface_flush(source)
        if let data = cairo_image_surface_get_data(source) {
            let stride = Int(cairo_image_surface_get_stride(source))
            for row in 0..<height {
                let line = UnsafeMutableRawPointer(data + row * stride)
                for column in 0..<width {
                    let (c, a) = pixel(row * width + column)
                    line.storeBytes(of: premultipliedARGB(c, alpha: a), toByteOffset: column * 4, as: UInt32.self)
                }
            }
            cairo_surface_mark_dirty(source)
        }
        return source
    }

    /// Paints `source` (and releases it) enlarged `scale` times at `(x, y)`, nearest neighbour.
    private func paintScaled(_ source: OpaquePointer, width: Int, height: Int, x: Int, y: Int, scale: Int) {
        defer { cairo_surface_destroy(source) }
        cairo_save(context)
        cairo_translate(context, Double(x), Double(y))
        cairo_scale(context, Double(scale), Double(scale))
        cairo_set_source_surface(context, source, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(context), CAIRO_FILTER_NEAREST)
        cairo_rectangle(context, 0, 0, Double(width), Double(height))
        cairo_fill(context)
        cairo_restore(context)
    }

    // MARK: - Reading back

    /// The figure as an 8-bit RGB ``Image``, with an alpha plane only when some pixel is not
    /// opaque (cairo's premultiplied native-endian ARGB words are converted to straight RGB).
    public var image: Image {
        cairo_surface_flush(surface)
        let w = width, h = height, count = w * h
        var alpha: [UInt8]?
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let data = cairo_image_surface_get_data(surface) else {
            return Image(width: w, height: h, channels: 3, pixels: [UInt8](repeating: 0, count: count * 3))
        }
        let stride = Int(cairo_image_surface_get_stride(surface))
        // One 4-byte store per pixel, each overwriting the spare byte of the one before:
        // one byte of room past the end.
        let pixels = [UInt8](unsafeUninitializedCapacity: count * 3 + 1) { rgb, initialized in
            var out = UnsafeMutableRawPointer(rgb.baseAddress!)
            for row in 0..<h {
                let line = UnsafeRawPointer(data + row &* stride).assumingMemoryBound(to: UInt32.self)  // 4-byte aligned
                for column in 0..<w {
                    let word = line[column]
                    if word >= 0xFF00_0000 {  // opaque, most of a figure: the samples are the colour
                        let rgbx = (word >> 16) & 0xFF | word & 0xFF00 | (word & 0xFF) << 16  // R, G, B, 0 in memory
                        out.storeBytes(of: rgbx.littleEndian, as: UInt32.self)
                    } else {
                        let a = UInt8(truncatingIfNeeded: word >> 24)
                        out.storeBytes(of: unpremultiply(UInt8(truncatingIfNeeded: word >> 16), a), as: UInt8.self)
                        out.storeBytes(of: unpremultiply(UInt8(truncatingIfNeeded: word >> 8), a), toByteOffset: 1, as: UInt8.self)
                        out.storeBytes(of: unpremultiply(UInt8(truncatingIfNeeded: word), a), toByteOffset: 2, as: UInt8.self)
                        if alpha == nil { alpha = [UInt8](repeating: 255, count: count) }
                        alpha![row * w + column] = a
                    }
                    out += 3
                }
            }
            initialized = count * 3
        }
        return Image(width: w, height: h, channels: 3, pixels: pixels, alpha: alpha)
    }
}

// MARK: - Helpers

/// cairo's pixel word for a colour with straight alpha `a`: `0xAARRGGBB`, colour premultiplied.
func premultipliedARGB(_ c: RGB, alpha a: UInt8) -> UInt32 {
    func mul(_ v: UInt8) -> UInt32 { (UInt32(v) * UInt32(a) + 127) / 255 }
    return UInt32(a) << 24 | mul(c.r) << 16 | mul(c.g) << 8 | mul(c.b)
}

/// A premultiplied sample back to straight colour.
func unpremultiply(_ v: UInt8, _ a: UInt8) -> UInt8 {
    switch a {
    case 255: return v
    case 0: return 0
    default: return UInt8(min(255, (UInt32(v) * 255 + UInt32(a) / 2) / UInt32(a)))
    }
}

@inline(__always) func clamp01(_ v: Double) -> Double {
    v.isNaN ? 0 : min(max(v, 0), 1)
}

/// Keeps far-away coordinates in the range cairo's fixed-point arithmetic represents; nothing
/// that far is ever visible.
@inline(__always) func clampCoordinate(_ v: Double) -> Double {
    min(max(v, -1_000_000), 1_000_000)
}
