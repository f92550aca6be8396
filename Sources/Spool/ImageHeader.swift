/// What the spool learns about an image from its headers, without decoding pixels.
///
/// Used to decide whether a PNG carries its own occlusion (alpha) or must wait for a mask,
/// and by ``ValidatingCopyProcessor`` to check inputs before anything large is allocated.
public struct ImageHeader: Sendable, Equatable {
    /// The container format.
    public enum Format: String, Sendable {
        case png, jpeg
    }

    /// The container format.
    public var format: Format
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA); for JPEG the number of components.
    public var colourType: Int
    /// Bits per sample.
    public var bitDepth: Int
    /// Whether the image carries transparency (PNG colour type 4 or 6, or a `tRNS` chunk).
    public var hasAlpha: Bool

    /// The PNG signature.
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Parses the headers of a PNG or JPEG file.
    ///
    /// For PNG every chunk's length and CRC is checked, `IHDR` must come first with a valid
    /// bit depth / colour type pair, and `IDAT` and `IEND` must be present. For JPEG the
    /// markers are walked up to the first start-of-frame.
    /// - Parameter bytes: the whole file.
    /// - Throws: ``SpoolError/badInput(_:)`` with a reason a person can act on.
    public static func parse(_ bytes: [UInt8]) throws -> ImageHeader {
        if bytes.starts(with: pngSignature) { return try parsePNG(bytes) }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return try parseJPEG(bytes) }
        throw SpoolError.badInput("not a PNG or JPEG file (unrecognised signature)")
    }

    private static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static func parsePNG(_ b: [UInt8]) throws -> ImageHeader {
        var offset = 8
        var header: ImageHeader?
        var sawData = false
        var sawEnd = false
        while offset < b.count {
            guard offset + 12 <= b.count else { throw SpoolError.badInput("corrupt PNG: truncated chunk header at byte \(offset)") }
            let length = Int(be32(b, offset))
            let type = String(decoding: b[offset + 4 ..< offset + 8], as: UTF8.self)
            guard length <= 0x7FFF_FFFF, offset + 12 + length <= b.count else {
                throw SpoolError.badInput("corrupt PNG: chunk '\(type)' at byte \(offset) runs past the end of the file")
            }
            let crc = be32(b, offset + 8 + length)
            guard CRC32.checksum(b[offset + 4 ..< offset + 8 + length]) == crc else {
                throw SpoolError.badInput("corrupt PNG: bad CRC in chunk '\(type)' at byte \(offset)")
            }
            let data = offset + 8
            if header == nil && type != "IHDR" { throw SpoolError.badInput("corrupt PNG: first chunk is '\(type)', not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil, length == 13 else { throw SpoolError.badInput("corrupt PNG: bad IHDR chunk") }
                let width = Int(be32(b, data)), height = Int(be32(b, data + 4))
                let depth = Int(b[data + 8]), colour = Int(b[data + 9])
                guard width > 0, height > 0 else { throw SpoolError.badInput("corrupt PNG: zero width or height") }
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard let depths = allowed[colour], depths.contains(depth) else {
                    throw SpoolError.badInput("corrupt PNG: colour type \(colour) with bit depth \(depth) is not allowed")
                }
                guard b[data + 10] == 0, b[data + 11] == 0, b[data + 12] <= 1 else {
                    throw SpoolError.badInput("corrupt PNG: unknown compression, filter or interlace method")
                }
                header = ImageHeader(format: .png, width: width, height: height, colourType: colour,
                                     bitDepth: depth, hasAlpha: colour == 4 || colour == 6)
            case "tRNS":
                header?.hasAlpha = true
            case "IDAT":
                sawData = true
            case "IEND":
                sawEnd = true
            default:
                break
            }
            offset += 12 + length
            if sawEnd { break }
        }
        guard let header else { throw SpoolError.badInput("corrupt PNG: no IHDR chunk") }
        guard sawData else { throw SpoolError.badInput("corrupt PNG: no image data (IDAT)") }
        guard sawEnd else { throw SpoolError.badInput("corrupt PNG: truncated (no IEND chunk)") }
        return header
    }

    private static func parseJPEG(_ b: [UInt8]) throws -> ImageHeader {
        var offset = 2
        while offset + 4 <= b.count {
            guard b[offset] == 0xFF else { throw SpoolError.badInput("corrupt JPEG: expected a marker at byte \(offset)") }
            let marker = b[offset + 1]
            if marker == 0xFF { offset += 1; continue }
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { offset += 2; continue }
            if marker == 0xD9 || marker == 0xDA { break }
            let length = Int(b[offset + 2]) << 8 | Int(b[offset + 3])
            guard length >= 2, offset + 2 + length <= b.count else {
                throw SpoolError.badInput("corrupt JPEG: segment at byte \(offset) runs past the end of the file")
            }
            let isFrame = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
            if isFrame {
                guard length >= 8 else { throw SpoolError.badInput("corrupt JPEG: short frame header") }
                let depth = Int(b[offset + 4])
                let height = Int(b[offset + 5]) << 8 | Int(b[offset + 6])
                let width = Int(b[offset + 7]) << 8 | Int(b[offset + 8])
                let components = length >= 9 ? Int(b[offset + 9]) : 0
                guard width > 0, height > 0, components == 1 || components == 3 else {
                    throw SpoolError.badInput("unsupported JPEG: \(width)×\(height) with \(components) components")
                }
                return ImageHeader(format: .jpeg, width: width, height: height, colourType: components,
                                   bitDepth: depth, hasAlpha: false)
            }
            offset += 2 + length
        }
        throw SpoolError.badInput("corrupt JPEG: no frame header before the image data")
    }
}

/// CRC-32 (ISO 3309, as PNG uses it).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
