// libFuzzer target: PNG/JPEG bytes -> Image.decode(bytes:limits:) with small limits,
// and the spool's header-only parser (ImageHeader.parse) on the same bytes.
import Imaging
import Spool

let fuzzLimits = ImageLimits(maxWidth: 256, maxHeight: 256, maxPixels: 65_536, maxFileBytes: 1 << 16, maxJPEGScans: 32)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = try? Spool.ImageHeader.parse(bytes)
    if let image = try? Image.decode(bytes: bytes, limits: fuzzLimits) {
        // Touch the result so a decoder that reports success with short planes is caught.
        precondition(image.width > 0 && image.height > 0)
        _ = try? image.encodePNG()
    }
    return 0
}
