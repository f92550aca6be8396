import CImageCodecs
import Imaging
import Testing

/// The C shim's contract, below the Swift wrappers: its second line of defence
/// (libpng's user limits, libjpeg's memory cap) and its argument checks.
@Suite struct CodecShimTests {
    /// Calls `CImageCodecs_png_decode` on `bytes`; returns the status and message.
    func pngDecode(_ bytes: [UInt8], width: UInt32, height: UInt32, channels: Int32,
                   maxWidth: UInt32 = 1 << 20, maxHeight: UInt32 = 1 << 20, outSize: Int? = nil) -> (Int32, String) {
        var out = [UInt8](repeating: 0, count: outSize ?? Int(width) * Int(height) * Int(channels))
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                CImageCodecs_png_decode(input.baseAddress, input.count, width, height, channels, maxWidth, maxHeight,
                                        output.baseAddress, output.count, &message, message.count)
            }
        }
        return (status, String(cString: message))
    }

    @Test func pngUserLimitsAreASecondLineOfDefence() {
        let bytes = Forge.png(width: 9000, height: 10)
        let (status, message) = pngDecode(bytes, width: 9000, height: 10, channels: 3, maxWidth: 8192, maxHeight: 8192)
        #expect(status == CImageCodecs_LIMIT_EXCEEDED)
        #expect(message.contains("user limit"), "\(message)")
    }

    @Test func pngDecodeChecksItsArguments() throws {
        let bytes = try Fixtures.bytes("pngsuite/basn2c08.png")  // 32×32 RGB
        #expect(pngDecode(bytes, width: 32, height: 32, channels: 3).0 == CImageCodecs_OK)
        #expect(pngDecode(bytes, width: 32, height: 32, channels: 3, outSize: 32 * 32 * 3 - 1).0
            == CImageCodecs_INVALID_ARGUMENT)
        #expect(pngDecode(bytes, width: 31, height: 32, channels: 3).0 == CImageCodecs_INVALID_ARGUMENT)
        #expect(pngDecode(bytes, width: 32, height: 32, channels: 4).0 == CImageCodecs_INVALID_ARGUMENT)
    }

    @Test func aMissingMessageBufferIsAllowed() throws {
        let bytes = Array(try Fixtures.bytes("pngsuite/basn2c08.png").prefix(40))
        var info = CImageCodecs_image_info()
        let status = bytes.withUnsafeBytes { CImageCodecs_png_read_header($0.baseAddress, $0.count, &info, nil, 0) }
        #expect(status == CImageCodecs_TRUNCATED)
    }

    @Test func pngEncodeRefusesBadChannelCountsAndContents() {
        let pixels = [UInt8](repeating: 0, count: 16)
        var output: UnsafeMutableRawPointer?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        for (channels, content): (Int32, Int32) in [(0, 0), (5, 0), (1, -1), (1, 3)] {
            let status = pixels.withUnsafeBytes {
                CImageCodecs_png_encode($0.baseAddress, 2, 2, channels, content, &output, &size, &message, message.count)
            }
            #expect(status == CImageCodecs_INVALID_ARGUMENT)
            #expect(output == nil && size == 0)
        }
    }

    /// A figure is compressed differently from a photo, and both decode to the same pixels.
    @Test func figureAndPhotoEncodingsDecodeToTheSamePixels() throws {
        var pixels = [UInt8](repeating: 255, count: 64 * 48 * 3)
        for y in 8..<40 { for x in 10..<50 { pixels[(y * 64 + x) * 3] = UInt8(x * 4); pixels[(y * 64 + x) * 3 + 2] = UInt8(y) } }
        let image = Image(width: 64, height: 48, channels: 3, pixels: pixels)
        let photo = try image.encodePNG(content: .photo), figure = try image.encodePNG(content: .figure)
        #expect(photo != figure)
        #expect(try Image.decode(bytes: photo).pixels == image.pixels)
        #expect(try Image.decode(bytes: figure).pixels == image.pixels)
    }

    @Test func jpegWorkingMemoryIsCapped() throws {
        // A progressive decode buffers every coefficient (~100 KB here); allow 20 KB.
        let bytes = try Fixtures.bytes("jpeg/testorig-progressive.jpg")
        var out = [UInt8](repeating: 0, count: 227 * 149 * 3)
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                CImageCodecs_jpeg_decode(input.baseAddress, input.count, 227, 149, 3, 100, 20_000,
                                         output.baseAddress, output.count, &message, message.count)
            }
        }
        #expect(status == CImageCodecs_LIMIT_EXCEEDED, "\(String(cString: message))")
    }

    @Test func versionsAreReported() {
        #expect(CImageCodecs_png_version() >= 10600)
        #expect(CImageCodecs_jpeg_version() >= 62)
    }
}
