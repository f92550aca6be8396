import Imaging
import Testing

/// PNG encoding: every colour type we write decodes back to the same image.
@Suite struct RoundTripTests {
    /// A deterministic image with every sample value and odd dimensions.
    static func pattern(width: Int, height: Int, channels: Int, alpha: Bool) -> Image {
        var state: UInt32 = 0x1234_5678
        func next() -> UInt8 {
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let pixels = (0..<(width * height * channels)).map { _ in next() }
        let alphaPlane = alpha ? (0..<(width * height)).map { i in i % 7 == 0 ? 0 : next() } : nil
        return Image(width: width, height: height, channels: channels, pixels: pixels, alpha: alphaPlane)
    }

    @Test(arguments: [(1, false), (1, true), (3, false), (3, true)], [(1, 1), (37, 23), (256, 3)])
    func pngRoundTrip(layout: (channels: Int, alpha: Bool), size: (width: Int, height: Int)) throws {
        let image = Self.pattern(width: size.width, height: size.height, channels: layout.channels, alpha: layout.alpha)
        let bytes = try image.encodePNG()
        #expect(ImageFormat.sniff(bytes) == .png)
        let header = try Image.header(of: bytes)
        #expect(header.bitDepth == 8 && header.channels == layout.channels && header.hasAlpha == layout.alpha)
        let decoded = try Image.decode(bytes: bytes)
        #expect(decoded == image)
    }

    @Test func constantImagesCompress() throws {
        let image = Image(width: 512, height: 512, channels: 3, filledWith: 200)
        let bytes = try image.encodePNG()
        #expect(bytes.count < 10_000)
        #expect(try Image.decode(bytes: bytes) == image)
    }
}
