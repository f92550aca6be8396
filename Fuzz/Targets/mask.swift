// libFuzzer target: decode bytes as an image, then interpret it as a mask
// (Mask(maskImage:expectedWidth:expectedHeight:) and Mask(alphaOf:)).
import Imaging

let fuzzLimits = ImageLimits(maxWidth: 256, maxHeight: 256, maxPixels: 65_536, maxFileBytes: 1 << 16, maxJPEGScans: 32)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMask(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let image = try? Image.decode(bytes: bytes, limits: fuzzLimits) else { return 0 }
    _ = try? Mask(maskImage: image, expectedWidth: image.width, expectedHeight: image.height)
    // A mask whose size does not match the image must be refused, not trapped on.
    _ = try? Mask(maskImage: image, expectedWidth: image.width + 1, expectedHeight: image.height)
    _ = try? Mask(alphaOf: image)
    return 0
}
