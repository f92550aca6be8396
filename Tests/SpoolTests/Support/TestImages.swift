/// Small valid PNG and JPEG files, written byte by byte (the zlib stream uses stored blocks).
enum TestImages {
    static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    /// Samples per pixel for an 8-bit PNG colour type.
    static func channels(_ colourType: UInt8) -> Int {
        switch colourType {
        case 0: return 1
        case 2: return 3
        case 4: return 2
        case 6: return 4
        default: preconditionFailure("colour type \(colourType) not supported here")
        }
    }

    /// An 8-bit PNG; `sample(x, y, channel)` gives each sample.
    static func png(width: Int, height: Int, colourType: UInt8,
                    sample: (Int, Int, Int) -> UInt8 = { x, y, c in UInt8((x * 37 + y * 11 + c * 5) & 0xFF) }) -> [UInt8] {
        let n = channels(colourType)
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0)  // filter: none
            for x in 0..<width { for c in 0..<n { raw.append(sample(x, y, c)) } }
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65535, raw.count - offset)
            let final: UInt8 = offset + length == raw.count ? 1 : 0
            zlib += [final, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
            zlib += raw[offset ..< offset + length]
            offset += length
        } while offset < raw.count
        zlib += be32(adler32(raw))
        let header = be32(UInt32(width)) + be32(UInt32(height)) + [8, colourType, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    /// A PNG whose header declares `width × height` but which carries almost no data.
    static func hugeHeaderPNG(width: UInt32, height: UInt32) -> [UInt8] {
        let header = be32(width) + be32(height) + [8, 6, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", [0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1]) + chunk("IEND", [])
    }

    /// A baseline JPEG's headers (SOI, APP0, SOF0, SOS, EOI), with no scan data: enough for
    /// libjpeg to read the header (it stops at the start of scan), not to decode pixels.
    static func jpegHeader(width: Int, height: Int) -> [UInt8] {
        let app0: [UInt8] = [0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
        let sof0: [UInt8] = [0xFF, 0xC0, 0x00, 0x11, 8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), 3,
                             1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
        let sos: [UInt8] = [0xFF, 0xDA, 0x00, 0x0C, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]
        return [0xFF, 0xD8] + app0 + sof0 + sos + [0xFF, 0xD9]
    }

    /// A file that looks like a safetensors model (8-byte header length, then a JSON object).
    static func safetensors() -> [UInt8] {
        let header = Array(#"{"__metadata__":{"kind":"test"}}"#.utf8)
        var bytes: [UInt8] = []
        var length = UInt64(header.count)
        for _ in 0..<8 { bytes.append(UInt8(length & 0xFF)); length >>= 8 }
        return bytes + header
    }
}
