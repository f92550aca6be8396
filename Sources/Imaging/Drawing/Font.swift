internal import CCairo
import Synchronization

/// The weight of a ``Font``.
public enum FontWeight: Sendable, Hashable {
    /// Normal text.
    case regular
    /// Headings (falls back to regular when the bold file is missing).
    case bold
}

/// A size and weight of the figure typeface, DejaVu Sans (Debian fonts-dejavu-core), set
/// with antialiasing and slight hinting.
///
/// The TrueType files are loaded directly with FreeType, without fontconfig, so text renders
/// the same in a sandboxed service as in a shell. When no font file can be loaded, text is
/// left out of figures (it measures zero) and ``isAvailable`` is `false`.
public struct Font: Sendable, Hashable {
    /// The em size in pixels.
    public var size: Double
    /// Regular or bold.
    public var weight: FontWeight

    /// Creates a font.
    /// - Parameters:
    ///   - size: The em size in pixels.
    ///   - weight: Regular or bold.
    public init(size: Double, weight: FontWeight = .regular) {
        self.size = size.isFinite ? max(1, size) : 12
        self.weight = weight
    }

    /// Whether a font file was found, i.e. whether figures will show text.
    public static var isAvailable: Bool { FontFaces.shared.regular != nil }

    /// The files tried for regular text, in order.
    public static let regularFiles = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    ]

    /// The files tried for bold text, in order.
    public static let boldFiles = regularFiles.map { $0.replacingSuffix(".ttf", with: "-Bold.ttf") }

    /// The size of `text` laid out by ``Figure/text(_:x:y:font:color:alignment:anchor:orientation:)``:
    /// the widest line's advance and one line height per line (zero without a font).
    /// - Parameter text: The string; `"\n"` starts a new line.
    public func measure(_ text: String) -> TextSize {
        measure(text, faces: .shared)
    }

    /// The distance between the baselines of consecutive lines (zero without a font).
    public var lineHeight: Double { metrics(faces: .shared)?.lineHeight ?? 0 }

    func measure(_ text: String, faces: FontFaces) -> TextSize {
        guard !text.isEmpty, let face = faces.face(weight), let m = metrics(faces: faces) else {
            return TextSize(width: 0, height: 0)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let width = lines.map { face.advance(of: String($0), size: size) }.max() ?? 0
        return TextSize(width: width, height: Double(lines.count) * m.lineHeight)
    }

    func metrics(faces: FontFaces) -> FontMetrics? {
        faces.face(weight)?.metrics(size: size)
    }
}

/// The extent of a block of text in pixels.
public struct TextSize: Sendable, Hashable {
    /// The widest line's advance.
    public var width: Double
    /// Line height times the number of lines.
    public var height: Double
}

/// Horizontal placement of text relative to its anchor point.
public enum TextAlignment: Sendable, Hashable {
    /// The anchor is the left edge of the text.
    case left
    /// The anchor is the centre of the text.
    case center
    /// The anchor is the right edge of the text.
    case right
}

/// Vertical placement of text relative to its anchor point.
public enum TextAnchor: Sendable, Hashable {
    /// The anchor is the top of the first line's box.
    case top
    /// The anchor is halfway up the capitals of the first line (for labels beside ticks).
    case middle
    /// The anchor is the first line's baseline.
    case baseline
}

/// The direction text runs in.
public enum TextOrientation: Sendable, Hashable {
    /// Left to right, upright.
    case horizontal
    /// Bottom to top, rotated a quarter turn anticlockwise (for vertical axis labels).
    case upward
}

extension Figure {
    /// Draws text in the figure typeface.
    ///
    /// For horizontal text, `x` is the anchor chosen by `alignment` (each line of a multi-line
    /// string is aligned on its own) and `y` the one chosen by `anchor`. Upward text is the same
    /// block turned a quarter turn anticlockwise about `(x, y)`: `alignment` then places it
    /// along the vertical, and with `.top` its first line's box starts at `x` and extends right.
    /// - Parameters:
    ///   - text: The string; `"\n"` starts a new line.
    ///   - x: Horizontal anchor.
    ///   - y: Vertical anchor.
    ///   - font: Size and weight.
    ///   - color: Text colour.
    ///   - alignment: Where the anchor lies along the text.
    ///   - anchor: Where the anchor lies across the text.
    ///   - orientation: Upright or rotated.
    /// - Returns: The pixels the text's layout box covers (rounded outwards; empty when no font
    ///   is available and nothing was drawn).
    @discardableResult
    public func text(
        _ text: String, x: Double, y: Double, font: Font, color: RGB, alignment: TextAlignment = .left,
        anchor: TextAnchor = .top, orientation: TextOrientation = .horizontal
    ) -> PixelRect {
        // Whole-pixel anchors keep the hinted glyphs crisp.
        let ox = x.isFinite ? clampCoordinate(x).rounded() : 0, oy = y.isFinite ? clampCoordinate(y).rounded() : 0
        let empty = PixelRect(x: Int(ox), y: Int(oy), width: 0, height: 0)
        guard !text.isEmpty, x.isFinite, y.isFinite, let face = fonts.face(font.weight) else { return empty }
        let metrics = face.metrics(size: font.size)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let widths = lines.map { face.advance(of: $0, size: font.size) }
        let width = widths.max() ?? 0
        let height = Double(lines.count) * metrics.lineHeight
        let top: Double
        switch anchor {
        case .top: top = 0
        case .baseline: top = -metrics.ascent
        case .middle: top = -metrics.ascent + metrics.capHeight / 2
        }
        func start(_ extent: Double) -> Double {
            switch alignment {
            case .left: return 0
            case .center: return -extent / 2
            case .right: return -extent
            }
        }

        cairo_save(context)
        cairo_translate(context, ox, oy)
        if orientation == .upward { cairo_rotate(context, -Double.pi / 2) }
        cairo_set_font_face(context, face.cairoFace)
        cairo_set_font_size(context, font.size)
        withFontOptions { cairo_set_font_options(context, $0) }
        setColor(color)
        for (k, line) in lines.enumerated() where !line.isEmpty {
            let baseline = (top + metrics.ascent + Double(k) * metrics.lineHeight).rounded()
            cairo_move_to(context, start(widths[k]).rounded(), baseline)
            cairo_show_text(context, line)
        }
        cairo_new_path(context)
        cairo_restore(context)

        // The layout box, in figure coordinates.
        let left = start(width), right = left + width, bottom = top + height
        let box: (x0: Double, y0: Double, x1: Double, y1: Double) =
            orientation == .horizontal
            ? (ox + left, oy + top, ox + right, oy + bottom)
            : (ox + top, oy - right, ox + bottom, oy - left)
        let x0 = Int(box.x0.rounded(.down)), y0 = Int(box.y0.rounded(.down))
        return PixelRect(
            x: x0, y: y0, width: Int(box.x1.rounded(.up)) - x0, height: Int(box.y1.rounded(.up)) - y0)
    }
}

// MARK: - Faces

/// Font metrics at one size, in pixels.
struct FontMetrics {
    /// From the baseline up to the top of the line box.
    var ascent: Double
    /// From one baseline to the next.
    var lineHeight: Double
    /// Height of a capital `H`.
    var capHeight: Double
}

/// The faces figures use: regular and bold.
struct FontFaces: Sendable {
    var regular: FontFace?
    var bold: FontFace?

    /// The first loadable file of each list.
    init(regular: [String], bold: [String]) {
        self.regular = regular.lazy.compactMap(FontFace.load).first
        self.bold = bold.lazy.compactMap(FontFace.load).first
    }

    /// The faces of the standard files, loaded on first use.
    static let shared = FontFaces(regular: Font.regularFiles, bold: Font.boldFiles)

    func face(_ weight: FontWeight) -> FontFace? {
        weight == .bold ? (bold ?? regular) : regular
    }
}

/// A TrueType face loaded with FreeType and wrapped as a cairo font face. Each file is
/// loaded once and kept for the life of the process; cairo serialises the use of the
/// FreeType face, so one face serves figures drawn on several threads.
final class FontFace: @unchecked Sendable {
    let cairoFace: OpaquePointer
    private let cachedMetrics = Mutex<[Double: FontMetrics]>([:])
    /// Advances measured before, by size and line: laying out a figure measures the same
    /// captions and title prefixes again for every job.
    private let cachedAdvances = BoundedCache<AdvanceKey, Double>(limit: 4096)
    private struct AdvanceKey: Hashable {
        var size: Double
        var line: String
    }

    private init(cairoFace: OpaquePointer) {
        self.cairoFace = cairoFace
    }

    private struct Loader: ~Copyable {
        var library: FT_Library?
        var faces: [String: FontFace] = [:]
    }

    private static let loader = Mutex(Loader())

    /// The face in the file at `path`, or `nil` when FreeType cannot read one.
    static func load(path: String) -> FontFace? {
        loader.withLock { state -> FontFace? in
            if let face = state.faces[path] { return face }
            if state.library == nil {
                var library: FT_Library?
                guard FT_Init_FreeType(&library) == 0 else { return nil }
                state.library = library
            }
            var ftFace: FT_Face?
            guard FT_New_Face(state.library, path, 0, &ftFace) == 0, let ftFace else { return nil }
            guard let cairoFace = cairo_ft_font_face_create_for_ft_face(ftFace, 0),
                cairo_font_face_status(cairoFace) == CAIRO_STATUS_SUCCESS
            else {
                FT_Done_Face(ftFace)
                return nil
            }
            let face = FontFace(cairoFace: cairoFace)
            state.faces[path] = face
            return face
        }
    }

    /// A cairo scaled font of this face at `size` with the figure font options, passed to
    /// `body` and released afterwards.
    private func withScaledFont<T>(size: Double, _ body: (OpaquePointer) -> T) -> T {
        var fontMatrix = cairo_matrix_t(), identity = cairo_matrix_t()
        cairo_matrix_init_scale(&fontMatrix, size, size)
        cairo_matrix_init_identity(&identity)
        return withFontOptions { options in
            let scaled = cairo_scaled_font_create(cairoFace, &fontMatrix, &identity, options)!
            defer { cairo_scaled_font_destroy(scaled) }
            return body(scaled)
        }
    }

    /// The horizontal advance of one line of text.
    func advance(of line: String, size: Double) -> Double {
        guard !line.isEmpty else { return 0 }
        return cachedAdvances.value(for: AdvanceKey(size: size, line: line)) {
            withScaledFont(size: size) { scaled in
                var extents = cairo_text_extents_t()
                cairo_scaled_font_text_extents(scaled, line, &extents)
                return extents.x_advance.isFinite ? extents.x_advance : 0
            }
        }
    }

    func metrics(size: Double) -> FontMetrics {
        if let known = cachedMetrics.withLock({ $0[size] }) { return known }
        let metrics = withScaledFont(size: size) { scaled in
            var font = cairo_font_extents_t()
            cairo_scaled_font_extents(scaled, &font)
            var capital = cairo_text_extents_t()
            cairo_scaled_font_text_extents(scaled, "H", &capital)
            return FontMetrics(ascent: font.ascent, lineHeight: font.height, capHeight: -capital.y_bearing)
        }
        cachedMetrics.withLock { $0[size] = metrics }
        return metrics
    }
}

/// Grayscale antialiasing, slight hinting and whole-pixel metrics: crisp small text.
func withFontOptions<T>(_ body: (OpaquePointer) -> T) -> T {
    let options = cairo_font_options_create()!
    defer { cairo_font_options_destroy(options) }
    cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
    cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_SLIGHT)
    cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_ON)
    return body(options)
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}
