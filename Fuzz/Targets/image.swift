// libFuzzer target: PNG/JPEG bytes -> Imaging's header reader (Image.header(of:), what the
// daemon's alpha probe and the validate processor use) and Image.decode(bytes:limits:)
// with small limits. Whenever the decoder accepts an input, the header reader must accept
// it too and agree with the decoded image on its size, channels and alpha.
import Imaging

let fuzzLimits = ImageLimits(maxWidth: 256, maxHeight: 256, maxPixels: 65_536, maxFileBytes: 1 << 16, maxJPEGScans: 32)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let header = try? Image.header(of: bytes)
    if let header {
        precondition(header.width > 0 && header.height > 0 && (header.channels == 1 || header.channels == 3))
    }
    if let image = try? Image.decode(bytes: bytes, limits: fuzzLimits) {
        // Touch the result so a decoder that reports success with short planes is caught.
        precondition(image.width > 0 && image.height > 0)
        guard let header else { preconditionFailure("decoded, but Image.header(of:) refused the same bytes") }
        precondition(header.width == image.width && header.height == image.height, "header and image sizes differ")
        precondition(header.channels == image.channels && header.hasAlpha == image.hasAlpha, "header and image differ")
        _ = try? image.encodePNG()
    }
    return 0
}
