// Reading one image file for the folder loader.
//
// `decodeImageFile` is the only place where the data layer turns a file into an
// `Image`. It reads binary PGM/PPM (Netpbm P5/P6) itself; PNG and JPEG are decoded by
// the Imaging module (`Image.decode(contentsOf:limits:)`, libpng and libjpeg). A file
// that fails to decode is reported as unreadable, which the folder loader counts and skips.

import Imaging
import SystemIO
import SystemPackage

/// The file name extensions the folder loader considers, lower-case.
let imageFileExtensions: Set<String> = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm"]

/// Decodes the image file at `path`.
///
/// - Parameters:
///   - path: The file.
///   - maximumPixels: The largest `width × height` accepted, checked from the header
///     before the pixels are allocated.
/// - Returns: The image, 8 bits per sample, gray or RGB, with alpha when the file has it.
/// - Throws: ``DatasetError/unreadableImage(path:reason:)`` for a damaged, unsupported or
///   oversized file; ``DatasetError/io(path:call:errno:)`` when it cannot be read.
func decodeImageFile(_ path: String, maximumPixels: Int) throws(DatasetError) -> Image {
    let lowered = path.lowercased()
    if lowered.hasSuffix(".png") || lowered.hasSuffix(".jpg") || lowered.hasSuffix(".jpeg") {
        var limits = ImageLimits.default
        limits.maxPixels = maximumPixels
        do {
            return try Image.decode(contentsOf: path, limits: limits)
        } catch {
            throw .unreadableImage(path: path, reason: error.root.description)
        }
    }
    let bytes: [UInt8]
    do {
        bytes = try FileSystem.readFile(FilePath(path), followLinks: true)
    } catch {
        throw DatasetError(error, path: path)
    }
    return try decodeNetpbm(bytes, path: path, maximumPixels: maximumPixels)
}

/// Decodes a binary Netpbm image: P5 (gray) or P6 (RGB), maximum value 1…65535.
/// Samples are rescaled to 0…255 (rounded) when the maximum value is not 255; 16-bit
/// samples are big-endian, as the format specifies.
func decodeNetpbm(_ bytes: [UInt8], path: String, maximumPixels: Int) throws(DatasetError) -> Image {
    var position = 0
    func fail(_ reason: String) -> DatasetError { .unreadableImage(path: path, reason: reason) }
    func skipSpaceAndComments() {
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "#") {
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
            } else if c == 0x20 || (0x09...0x0D).contains(c) {
                position += 1
            } else {
                return
            }
        }
    }
    func number() throws(DatasetError) -> Int {
        skipSpaceAndComments()
        var value = 0
        var digits = 0
        while position < bytes.count, (0x30...0x39).contains(bytes[position]), digits < 9 {
            value = value * 10 + Int(bytes[position] - 0x30)
            position += 1
            digits += 1
        }
        guard digits > 0 else { throw fail("malformed Netpbm header") }
        return value
    }

    guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "6")
    else { throw fail("not a binary PGM/PPM file") }
    let channels = bytes[1] == UInt8(ascii: "5") ? 1 : 3
    position = 2
    let width = try number()
    let height = try number()
    let maximum = try number()
    guard width > 0, height > 0 else { throw fail("empty image") }
    guard (1...65535).contains(maximum) else { throw fail("maximum sample value \(maximum) out of range") }
    guard width <= maximumPixels / height else {
        throw fail("\(width)×\(height) pixels exceeds the limit of \(maximumPixels)")
    }
    guard position < bytes.count, bytes[position] == 0x20 || (0x09...0x0D).contains(bytes[position]) else {
        throw fail("malformed Netpbm header")
    }
    position += 1  // the single whitespace byte before the raster

    let sampleCount = width * height * channels
    let bytesPerSample = maximum > 255 ? 2 : 1
    guard bytes.count - position >= sampleCount * bytesPerSample else {
        throw fail("truncated: \(bytes.count - position) of \(sampleCount * bytesPerSample) raster bytes")
    }
    let start = position
    let pixels = [UInt8](unsafeUninitializedCapacity: sampleCount) { out, initialized in
        bytes.withUnsafeBufferPointer { input in
            if maximum == 255 {
                _ = out.initialize(from: input[start..<start + sampleCount])
            } else {
                let scale = 255.0 / Double(maximum)
                for i in 0..<sampleCount {
                    let raw = bytesPerSample == 1
                        ? Int(input[start + i])
                        : Int(input[start + 2 * i]) << 8 | Int(input[start + 2 * i + 1])
                    out[i] = UInt8(min(255, (Double(min(raw, maximum)) * scale).rounded()))
                }
            }
        }
        initialized = sampleCount
    }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

/// Encodes an image as binary PGM (gray) or PPM (RGB), maximum value 255; alpha is dropped.
func encodeNetpbm(_ image: Image) -> [UInt8] {
    let magic = image.channels == 1 ? "P5" : "P6"
    return Array("\(magic)\n\(image.width) \(image.height)\n255\n".utf8) + image.pixels
}
