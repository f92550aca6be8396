/// How a mask drawn for one size is laid on an image of another: the same size only,
/// anchored to a corner, an edge or the centre, or scaled to the image.
///
/// Meant for one mask shared by many pictures, such as a watermark that sits in the same
/// corner of pictures of several sizes. An anchored mask must fit inside the image; the
/// image's pixels it does not cover are visible.
public enum MaskAnchor: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    /// The mask must have the image's size (the default).
    case none
    case topLeft = "top-left"
    case top
    case topRight = "top-right"
    case left
    case centre
    case right
    case bottomLeft = "bottom-left"
    case bottom
    case bottomRight = "bottom-right"
    /// Scaled to the image's size by nearest neighbour: an image pixel is occluded when
    /// the mask pixel under its centre is.
    case scale

    /// The name used in options, reports and on the command line (`bottom-right`, …).
    public var description: String { rawValue }

    /// The anchor of a name; `center` is taken for `centre`.
    public init?(name: String) {
        self.init(rawValue: name == "center" ? "centre" : name)
    }

    /// Every accepted name, in declaration order.
    public static var names: [String] { allCases.map(\.rawValue) }
}

extension Mask {
    /// This mask laid on a `width × height` image by `anchor`.
    /// - Parameters:
    ///   - width: the image's width in pixels.
    ///   - height: the image's height in pixels.
    ///   - anchor: how to lay it (see ``MaskAnchor``).
    /// - Returns: a mask of the image's size (`self` when the sizes already agree, whatever
    ///   the anchor).
    /// - Throws: ``ImagingError/maskSizeMismatch(expectedWidth:expectedHeight:width:height:)``
    ///   when the sizes differ and `anchor` is `none`, or when an anchored mask is wider or
    ///   higher than the image.
    public func placed(onWidth width: Int, height: Int, anchor: MaskAnchor) throws(ImagingError) -> Mask {
        if width == self.width && height == self.height { return self }
        let mismatch = ImagingError.maskSizeMismatch(
            expectedWidth: width, expectedHeight: height, width: self.width, height: self.height)
        switch anchor {
        case .none:
            throw mismatch
        case .scale:
            var flags = [Bool](repeating: false, count: width * height)
            for y in 0..<height {
                let sy = min(self.height - 1, (2 * y + 1) * self.height / (2 * height))
                for x in 0..<width {
                    let sx = min(self.width - 1, (2 * x + 1) * self.width / (2 * width))
                    flags[y * width + x] = occluded[sy * self.width + sx]
                }
            }
            return Mask(width: width, height: height, occluded: flags)
        default:
            guard self.width <= width, self.height <= height else { throw mismatch }
            let (x0, y0) = anchor.origin(of: self.width, self.height, in: width, height)
            var flags = [Bool](repeating: false, count: width * height)
            for y in 0..<self.height {
                let row = (y0 + y) * width + x0
                for x in 0..<self.width where occluded[y * self.width + x] { flags[row + x] = true }
            }
            return Mask(width: width, height: height, occluded: flags)
        }
    }
}

extension MaskAnchor {
    /// Top-left corner of a `w × h` mask anchored in a `width × height` image (centred
    /// positions round down).
    func origin(of w: Int, _ h: Int, in width: Int, _ height: Int) -> (x: Int, y: Int) {
        let left = 0, middleX = (width - w) / 2, rightX = width - w
        let top = 0, middleY = (height - h) / 2, bottomY = height - h
        switch self {
        case .topLeft: return (left, top)
        case .top: return (middleX, top)
        case .topRight: return (rightX, top)
        case .left: return (left, middleY)
        case .centre, .none, .scale: return (middleX, middleY)
        case .right: return (rightX, middleY)
        case .bottomLeft: return (left, bottomY)
        case .bottom: return (middleX, bottomY)
        case .bottomRight: return (rightX, bottomY)
        }
    }
}
