/// An 8-bit sRGB colour.
public struct RGB: Sendable, Hashable {
    /// Red, 0–255.
    public var r: UInt8
    /// Green, 0–255.
    public var g: UInt8
    /// Blue, 0–255.
    public var b: UInt8

    /// Creates a colour from its three components.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// Creates a neutral gray of the given level.
    public init(gray level: UInt8) {
        self.init(level, level, level)
    }

    /// Creates a colour from a `0xRRGGBB` literal.
    public init(hex: UInt32) {
        self.init(UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF))
    }

    /// Black, `#000000`.
    public static let black = RGB(0, 0, 0)
    /// White, `#FFFFFF`.
    public static let white = RGB(255, 255, 255)
    /// Mid gray, `#808080`.
    public static let gray = RGB(gray: 128)
    /// Dark gray for axes and secondary text, `#404040`.
    public static let darkGray = RGB(gray: 64)
    /// Light gray for grid lines and frames, `#DCDCDC`.
    public static let lightGray = RGB(gray: 220)
    /// A clear red, `#D62728`.
    public static let red = RGB(hex: 0xD6_2728)
    /// A clear green, `#2CA02C`.
    public static let green = RGB(hex: 0x2C_A02C)
    /// A clear blue, `#1F77B4`.
    public static let blue = RGB(hex: 0x1F_77B4)
    /// Orange, `#FF7F0E`.
    public static let orange = RGB(hex: 0xFF_7F0E)
    /// Purple, `#9467BD`.
    public static let purple = RGB(hex: 0x94_67BD)
    /// Magenta, `#E0119D`; stands out against gray-scale pictures.
    public static let magenta = RGB(hex: 0xE0_119D)
    /// Cyan, `#17BECF`.
    public static let cyan = RGB(hex: 0x17_BECF)
    /// Yellow, `#FFD700`.
    public static let yellow = RGB(hex: 0xFF_D700)

    /// The colour `fraction` of the way from `self` to `other` (0 gives `self`, 1 gives `other`).
    /// - Parameters:
    ///   - other: The colour to move towards.
    ///   - fraction: How far to move, clamped to [0, 1].
    public func mixed(with other: RGB, fraction: Double) -> RGB {
        let t = fraction.isNaN ? 0 : min(max(fraction, 0), 1)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 {
            UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded())
        }
        return RGB(mix(r, other.r), mix(g, other.g), mix(b, other.b))
    }

    /// Relative luminance in [0, 1] (sRGB decoded to linear light, Rec. 709 weights).
    public var luminance: Double {
        func linear(_ v: UInt8) -> Double {
            let c = Double(v) / 255
            return c <= 0.04045 ? c / 12.92 : powerOf((c + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }
}

/// A point in figure coordinates, in pixels; pixel `(i, j)` covers `[i, i+1) × [j, j+1)`,
/// so its centre is `(i + 0.5, j + 0.5)`. `y` grows downwards.
public struct Point2D: Sendable, Hashable {
    /// Horizontal coordinate.
    public var x: Double
    /// Vertical coordinate, growing downwards in a figure (upwards in chart data).
    public var y: Double

    /// Creates a point.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }

    /// Whether both coordinates are finite.
    public var isFinite: Bool { x.isFinite && y.isFinite }
}

