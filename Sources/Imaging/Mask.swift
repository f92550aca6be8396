/// Which pixels of an image are occluded (to be filled in) and which are visible.
///
/// Two extremes are valid values, and the completion layer gives them a meaning rather
/// than refusing them:
/// - an **empty** mask (nothing occluded, ``isEmpty``): there is nothing to fill, so a
///   job produces only the likelihood report of the image as it is;
/// - a **full** mask (nothing visible, ``isFull``): nothing constrains the model, so a
///   job is unconditional sampling of an image of that size.
public struct Mask: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `height * width` flags, row-major; `true` means occluded.
    public private(set) var occluded: [Bool]

    /// Creates a mask from its flags.
    /// - Parameters:
    ///   - width: width in pixels (positive).
    ///   - height: height in pixels (positive).
    ///   - occluded: `width * height` flags, row-major; `true` means occluded.
    /// - Precondition: the sizes agree.
    public init(width: Int, height: Int, occluded: [Bool]) {
        precondition(width > 0 && height > 0, "empty mask")
        precondition(occluded.count == width * height, "mask size mismatch")
        self.width = width
        self.height = height
        self.occluded = occluded
    }

    /// A mask with every pixel occluded (`true`) or every pixel visible (`false`).
    /// - Parameters:
    ///   - width: width in pixels (positive).
    ///   - height: height in pixels (positive).
    ///   - occluded: the value of every flag.
    public init(width: Int, height: Int, allOccluded occluded: Bool) {
        self.init(width: width, height: height, occluded: [Bool](repeating: occluded, count: width * height))
    }

    /// The mask of an image with alpha: a pixel with alpha < 128 is occluded.
    /// - Parameter image: an image with an alpha plane.
    /// - Throws: ``ImagingError/noAlpha(width:height:)`` if the image has none.
    public init(alphaOf image: Image) throws(ImagingError) {
        guard let alpha = image.alpha else { throw .noAlpha(width: image.width, height: image.height) }
        self.init(width: image.width, height: image.height, occluded: alpha.map { $0 < 128 })
    }

    /// The mask drawn in a separate mask image: a pixel whose value is ≥ 128 is occluded.
    ///
    /// For a gray mask the value is the gray sample. For an RGB mask it is the largest of
    /// the three samples, so any light or saturated colour (white, red, yellow...) marks a
    /// pixel occluded and only dark pixels (every channel < 128) are visible. The mask
    /// image's own alpha plane, if any, is ignored.
    /// - Parameters:
    ///   - maskImage: the decoded mask image (gray or RGB).
    ///   - expectedWidth: the width of the image it masks.
    ///   - expectedHeight: the height of the image it masks.
    /// - Throws: ``ImagingError/maskSizeMismatch(expectedWidth:expectedHeight:width:height:)``
    ///   if the sizes differ.
    public init(maskImage: Image, expectedWidth: Int, expectedHeight: Int) throws(ImagingError) {
        guard maskImage.width == expectedWidth, maskImage.height == expectedHeight else {
            throw .maskSizeMismatch(
                expectedWidth: expectedWidth, expectedHeight: expectedHeight,
                width: maskImage.width, height: maskImage.height)
        }
        let count = maskImage.width * maskImage.height
        var flags = [Bool](repeating: false, count: count)
        let channels = maskImage.channels
        maskImage.pixels.withUnsafeBufferPointer { samples in
            for i in 0..<count {
                var value: UInt8 = 0
                for c in 0..<channels { value = max(value, samples[i * channels + c]) }
                flags[i] = value >= 128
            }
        }
        self.init(width: maskImage.width, height: maskImage.height, occluded: flags)
    }

    /// Whether the pixel at row `y`, column `x` is occluded.
    public subscript(y: Int, x: Int) -> Bool {
        get { occluded[y * width + x] }
        set { occluded[y * width + x] = newValue }
    }

    /// How many pixels are occluded.
    public var occludedCount: Int { occluded.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// How many pixels are visible.
    public var visibleCount: Int { width * height - occludedCount }

    /// Whether no pixel is occluded (the completion layer then only reports likelihoods).
    public var isEmpty: Bool { !occluded.contains(true) }

    /// Whether no pixel is visible (the completion layer then samples unconditionally).
    public var isFull: Bool { !occluded.contains(false) }
}
