import CZlib
import Imaging
import Testing

/// The fast encoder for per-job figures (`PNGContent.jobFigure`): every file is a valid PNG
/// (chunk CRCs, a zlib stream whose Adler-32 zlib accepts) that decodes to the pixels given.
@Suite struct JobFigurePNGTests {
    /// A deterministic generator (SplitMix64), so that failures reproduce.
    struct Bytes {
        var state: UInt64
        mutating func next() -> UInt8 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }

    /// Pictures of every kind the encoder treats differently: noise (all literals), flat
    /// (one run much longer than a match), white (rows of 255, the checksum's largest sums), scaled up (repeats one pixel and one row back),
    /// a gradient (every row new), one pixel, and rows too long to refer back to.
    static func pictures(channels: Int) -> [(String, Image)] {
        var random = Bytes(state: UInt64(channels))
        func image(_ width: Int, _ height: Int, _ sample: (Int, Int, Int) -> UInt8) -> Image {
            var samples = [UInt8](repeating: 0, count: width * height * channels)
            for y in 0..<height { for x in 0..<width { for c in 0..<channels { samples[(y * width + x) * channels + c] = sample(x, y, c) } } }
            let colour = channels >= 3 ? 3 : 1, hasAlpha = channels == 2 || channels == 4
            var pixels = [UInt8](), alpha = [UInt8]()
            for i in 0..<(width * height) {
                pixels += samples[(i * channels)..<(i * channels + colour)]
                if hasAlpha { alpha.append(samples[i * channels + channels - 1]) }
            }
            return Image(width: width, height: height, channels: colour, pixels: pixels, alpha: hasAlpha ? alpha : nil)
        }
        let noise = (0..<(37 * 23 * channels)).map { _ in random.next() }
        let small = (0..<(12 * 9 * channels)).map { _ in random.next() }
        return [
            ("noise", image(37, 23) { x, y, c in noise[(y * 37 + x) * channels + c] }),
            ("flat", image(300, 40) { _, _, c in UInt8(200 + c) }),
            ("white", image(2000, 20) { _, _, _ in 255 }),  // the largest sums the checksum meets
            ("scaled", image(12 * 5, 9 * 5) { x, y, c in small[((y / 5) * 12 + x / 5) * channels + c] }),
            ("gradient", image(64, 300) { x, y, c in UInt8(truncatingIfNeeded: y * 3 + (x > 40 ? c : 0)) }),
            ("one pixel", image(1, 1) { _, _, c in UInt8(17 * (c + 1)) }),
            ("long rows", image(33_000 / channels + 1, 3) { x, y, c in x % 700 < 350 ? UInt8(y + c) : UInt8(truncatingIfNeeded: x) }),
        ]
    }

    @Test(arguments: 1...4) func decodesToThePixelsItWasGiven(channels: Int) throws {
        for (name, image) in Self.pictures(channels: channels) {
            let bytes = try image.encodePNG(content: .jobFigure)
            let back = try Image.decode(bytes: bytes, limits: ImageLimits(maxWidth: 40_000, maxHeight: 40_000, maxPixels: 1 << 24, maxFileBytes: 1 << 24))
            #expect(back.width == image.width && back.height == image.height && back.channels == image.channels, "\(name)")
            #expect(back.pixels == image.pixels, "\(name), \(channels) channels")
            #expect(back.alpha == image.alpha, "\(name), \(channels) channels")
            try Self.checkContainer(bytes, rawSize: (image.width * (image.channels + (image.alpha == nil ? 0 : 1)) + 1) * image.height)
        }
    }

    /// Every chunk's CRC is right and zlib itself inflates the stream (which checks its
    /// Adler-32) to exactly one filter byte of 0 and the samples of each row.
    static func checkContainer(_ bytes: [UInt8], rawSize: Int) throws {
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var at = 8, stream = [UInt8](), types = [String]()
        func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        while at < bytes.count {
            let length = u32(at)
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            let crc = bytes[(at + 4)..<(at + 8 + length)].withContiguousStorageIfAvailable { crc32(0, $0.baseAddress, uInt($0.count)) }!
            #expect(UInt32(crc) == UInt32(u32(at + 8 + length)), "CRC of \(type)")
            if type == "IDAT" { stream += bytes[(at + 8)..<(at + 8 + length)] }
            types.append(type)
            at += 12 + length
        }
        #expect(types.first == "IHDR" && types.last == "IEND" && types.contains("IDAT"))
        var raw = [UInt8](repeating: 0, count: rawSize + 1)
        var rawLength = uLongf(raw.count)
        let status = uncompress(&raw, &rawLength, stream, uLong(stream.count))
        #expect(status == Z_OK && Int(rawLength) == rawSize)
    }

    /// Drawn pictures shrink: a flat figure to almost nothing, a scaled-up one well below
    /// its raw size.
    @Test func drawnPicturesCompress() throws {
        for (name, image) in Self.pictures(channels: 3) where name == "flat" || name == "scaled" {
            let bytes = try image.encodePNG(content: .jobFigure)
            let raw = image.width * image.height * 3
            #expect(bytes.count * (name == "flat" ? 50 : 2) < raw, "\(name): \(bytes.count) of \(raw)")
        }
    }
}
