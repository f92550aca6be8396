/// Caps on the images a decoder accepts, checked against the file size and the
/// header before any pixel buffer is allocated.
///
/// A decompression bomb (a small file whose header declares a huge image) is refused
/// from its header: a 1 KB PNG that claims 100000×100000 pixels costs a few
/// microseconds and no allocation. The width and height caps are also handed to
/// libpng (`png_set_user_limits`) as a second line of defence.
public struct ImageLimits: Sendable, Equatable, CustomStringConvertible {
    /// Largest accepted width in pixels.
    public var maxWidth: Int
    /// Largest accepted height in pixels.
    public var maxHeight: Int
    /// Largest accepted `width × height`.
    public var maxPixels: Int
    /// Largest accepted encoded size in bytes.
    public var maxFileBytes: Int
    /// Most scans a progressive JPEG may have (normal files have about 10).
    public var maxJPEGScans: Int

    /// Creates limits.
    /// - Parameters:
    ///   - maxWidth: largest width in pixels (at least 1).
    ///   - maxHeight: largest height in pixels (at least 1).
    ///   - maxPixels: largest `width × height` (at least 1).
    ///   - maxFileBytes: largest encoded size in bytes (at least 1).
    ///   - maxJPEGScans: most scans of a progressive JPEG (at least 1).
    /// - Precondition: every value is positive.
    public init(maxWidth: Int, maxHeight: Int, maxPixels: Int, maxFileBytes: Int, maxJPEGScans: Int = 256) {
        precondition(maxWidth > 0 && maxHeight > 0 && maxPixels > 0 && maxFileBytes > 0 && maxJPEGScans > 0,
                     "image limits must be positive")
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.maxJPEGScans = maxJPEGScans
    }

    /// 8192×8192 at most, 16 megapixels (64 MiB as RGBA), 64 MiB of file, 256 JPEG scans.
    public static let `default` = ImageLimits(
        maxWidth: 8192, maxHeight: 8192, maxPixels: 16 * 1024 * 1024, maxFileBytes: 64 * 1024 * 1024)

    /// Which limit a `width × height` image exceeds, in words, or `nil` if it fits.
    /// - Parameters:
    ///   - width: width in pixels.
    ///   - height: height in pixels.
    public func exceeded(width: Int, height: Int) -> String? {
        if width > maxWidth { return "width \(width) > maxWidth \(maxWidth)" }
        if height > maxHeight { return "height \(height) > maxHeight \(maxHeight)" }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maxPixels { return "\(width)×\(height) pixels > maxPixels \(maxPixels)" }
        return nil
    }

    /// Throws ``ImagingError/tooLarge(width:height:limits:)`` unless the size fits.
    func check(width: Int, height: Int) throws(ImagingError) {
        if exceeded(width: width, height: height) != nil {
            throw .tooLarge(width: width, height: height, limits: self)
        }
    }

    /// libjpeg's working-memory cap for an image that fits these limits: the
    /// coefficient buffer of a progressive 4:4:4 image (6 bytes a pixel) with slack.
    var jpegWorkingMemory: Int {
        let (bytes, overflow) = maxPixels.multipliedReportingOverflow(by: 8)
        return overflow ? Int.max : bytes + 32 * 1024 * 1024
    }

    public var description: String {
        "maxWidth \(maxWidth), maxHeight \(maxHeight), maxPixels \(maxPixels), maxFileBytes \(maxFileBytes)"
    }
}
