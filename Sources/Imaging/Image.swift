/// An 8-bit raster image: `height × width` pixels of `channels` samples
/// (1 = gray, 3 = RGB), interleaved row-major, with an optional separate alpha plane.
public struct Image: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Colour samples per pixel: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// `height * width * channels` samples, row-major, channels interleaved.
    public var pixels: [UInt8]
    /// `height * width` alpha samples, or `nil` when the image has no alpha channel.
    public var alpha: [UInt8]?

    /// Creates an image from its samples.
    /// - Precondition: `channels` is 1 or 3 and the buffers have the sizes the geometry implies.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], alpha: [UInt8]? = nil) {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        precondition(width > 0 && height > 0, "empty image")
        precondition(pixels.count == width * height * channels, "pixel buffer size mismatch")
        precondition(alpha == nil || alpha!.count == width * height, "alpha buffer size mismatch")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.alpha = alpha
    }

    /// Creates an image of one colour (all samples `value`).
    public init(width: Int, height: Int, channels: Int, filledWith value: UInt8 = 0) {
        self.init(
            width: width, height: height, channels: channels,
            pixels: [UInt8](repeating: value, count: width * height * channels))
    }

    /// The sample at row `y`, column `x`, channel `c`.
    @inlinable
    public subscript(y: Int, x: Int, c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }
}
