/// One of the 8 ways to lay a picture on the raster (the dihedral group of the square):
/// the scan order a raster model sees.
///
/// An orientation maps the stored picture to the *scanned* picture. Orientations 0–3
/// keep rows as rows; 4–7 transpose first (rows become columns) and then flip the
/// same way as 0–3. The raw values are the indices of the model file's
/// `orientation_embedding` rows (docs/model-format.md); the order is also the
/// tie-break order of the completer.
public enum Orientation: Int, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// As stored: top to bottom, left to right.
    case upright = 0
    /// Flipped top to bottom: scanning starts at the bottom row.
    case verticalFlip = 1
    /// Flipped left to right: each row is scanned from its right end.
    case horizontalFlip = 2
    /// Turned 180°: scanning starts at the bottom-right corner.
    case halfTurn = 3
    /// Transposed: columns are scanned as rows, left column first.
    case transpose = 4
    /// Transposed, then flipped top to bottom: the right column first.
    case transposeVerticalFlip = 5
    /// Transposed, then flipped left to right: each column scanned bottom to top.
    case transposeHorizontalFlip = 6
    /// Transposed, then turned 180°: the right column first, bottom to top.
    case transposeHalfTurn = 7

    /// The name used in reports and on the command line (`upright`, `vertical-flip`, …).
    public var description: String {
        switch self {
        case .upright: "upright"
        case .verticalFlip: "vertical-flip"
        case .horizontalFlip: "horizontal-flip"
        case .halfTurn: "half-turn"
        case .transpose: "transpose"
        case .transposeVerticalFlip: "transpose-vertical-flip"
        case .transposeHorizontalFlip: "transpose-horizontal-flip"
        case .transposeHalfTurn: "transpose-half-turn"
        }
    }

    /// Parses ``description``.
    public init?(name: String) {
        guard let match = Orientation.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }

    /// Whether rows and columns swap.
    public var transposes: Bool { rawValue >= 4 }
    var flipsRows: Bool { rawValue & 1 != 0 }
    var flipsColumns: Bool { rawValue & 2 != 0 }

    /// The size of the scanned picture of a stored `width × height` picture.
    public func scannedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        transposes ? (height, width) : (width, height)
    }

    /// The stored coordinates of scanned position (`y`, `x`) of a picture stored as
    /// `width × height`.
    @inline(__always)
    public func storedPosition(y: Int, x: Int, width: Int, height: Int) -> (y: Int, x: Int) {
        let (sw, sh) = scannedSize(width: width, height: height)
        let fy = flipsRows ? sh - 1 - y : y
        let fx = flipsColumns ? sw - 1 - x : x
        return transposes ? (fx, fy) : (fy, fx)
    }

    /// Rearranges interleaved samples (`channels` per pixel) of a `width × height`
    /// picture into the scanned order.
    public func scan<T>(_ samples: [T], width: Int, height: Int, channels: Int) -> [T] {
        precondition(samples.count == width * height * channels, "sample count differs from the geometry")
        if self == .upright { return samples }
        let (sw, sh) = scannedSize(width: width, height: height)
        var out: [T] = []
        out.reserveCapacity(samples.count)
        for y in 0..<sh {
            for x in 0..<sw {
                let (yy, xx) = storedPosition(y: y, x: x, width: width, height: height)
                let base = (yy * width + xx) * channels
                for c in 0..<channels { out.append(samples[base + c]) }
            }
        }
        return out
    }

    /// The inverse of ``scan(_:width:height:channels:)``: scanned samples of a picture
    /// stored as `width × height` back to stored order.
    public func unscan<T>(_ scanned: [T], width: Int, height: Int, channels: Int) -> [T] {
        precondition(scanned.count == width * height * channels, "sample count differs from the geometry")
        if self == .upright { return scanned }
        let (sw, sh) = scannedSize(width: width, height: height)
        var out = scanned
        for y in 0..<sh {
            for x in 0..<sw {
                let (yy, xx) = storedPosition(y: y, x: x, width: width, height: height)
                let src = (y * sw + x) * channels, dst = (yy * width + xx) * channels
                for c in 0..<channels { out[dst + c] = scanned[src + c] }
            }
        }
        return out
    }
}

extension Image {
    /// The picture as a model scanning in `orientation` sees it (alpha follows the pixels).
    public func scanned(_ orientation: Orientation) -> Image {
        let (w, h) = orientation.scannedSize(width: width, height: height)
        return Image(
            width: w, height: h, channels: channels,
            pixels: orientation.scan(pixels, width: width, height: height, channels: channels),
            alpha: alpha.map { orientation.scan($0, width: width, height: height, channels: 1) })
    }

    /// The inverse of ``scanned(_:)``: `self` is a scanned picture, the result is stored upright.
    public func unscanned(_ orientation: Orientation) -> Image {
        let (w, h) = orientation.scannedSize(width: width, height: height)  // the size maps back the same way
        return Image(
            width: w, height: h, channels: channels,
            pixels: orientation.unscan(pixels, width: w, height: h, channels: channels),
            alpha: alpha.map { orientation.unscan($0, width: w, height: h, channels: 1) })
    }
}

extension Mask {
    /// The mask as a model scanning in `orientation` sees it.
    public func scanned(_ orientation: Orientation) -> Mask {
        let (w, h) = orientation.scannedSize(width: width, height: height)
        return Mask(width: w, height: h, occluded: orientation.scan(occluded, width: width, height: height, channels: 1))
    }

    /// The inverse of ``scanned(_:)``.
    public func unscanned(_ orientation: Orientation) -> Mask {
        let (w, h) = orientation.scannedSize(width: width, height: height)
        return Mask(width: w, height: h, occluded: orientation.unscan(occluded, width: w, height: h, channels: 1))
    }
}
