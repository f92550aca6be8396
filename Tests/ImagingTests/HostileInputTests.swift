import Foundation
import Imaging
import TestSupport
import Testing

/// Inputs a daemon fed by strangers will see: empty, garbage, wrong or damaged magic,
/// truncated, and small files whose headers declare enormous images. Each must give
/// its typed error, quickly, without crashing and without allocating the declared image.
@Suite struct HostileInputTests {
    /// Decodes `bytes`, expecting failure; returns the error (without a file wrapper).
    func decodeError(_ bytes: [UInt8], limits: ImageLimits = .default) -> ImagingError? {
        do {
            let image = try Image.decode(bytes: bytes, limits: limits)
            Issue.record("decoded to a \(image.width)×\(image.height) image")
            return nil
        } catch {
            #expect(!error.description.isEmpty)
            return error.root
        }
    }

    @Test func zeroBytesAreEmpty() {
        #expect(decodeError([]) == .empty)
    }

    @Test func garbageIsAnUnknownFormat() {
        var generator = SystemRandomNumberGenerator()
        var garbage = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        garbage[0] = 0x00 // not 0x89 or 0xFF, so never a signature by chance
        guard case .unknownFormat(let leading) = decodeError(garbage) else {
            Issue.record("garbage not refused as an unknown format")
            return
        }
        #expect(leading == Array(garbage.prefix(8)))
    }

    @Test(arguments: [
        Array("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8),
        Array("BM6\u{0}\u{0}\u{0}".utf8),
        Array("<svg xmlns=".utf8),
        [0xFF, 0xD8],  // a JPEG SOI without any marker after it
    ])
    func wrongMagicIsAnUnknownFormat(bytes: [UInt8]) {
        guard case .unknownFormat = decodeError(bytes) else {
            Issue.record("not refused as an unknown format")
            return
        }
        #expect(ImagingError.unknownFormat(leadingBytes: Array(bytes.prefix(8))).description.contains("PNG or JPEG"))
    }

    @Test func extensionsDoNotMatter() throws {
        // A JPEG named .png decodes as JPEG: sniffing is by magic bytes only.
        let image = try withTemporaryDirectory { (directory: String) throws -> Image in
            let path = directory + "/really-a-jpeg.png"
            try Data(Fixtures.bytes("jpeg/testorig.jpg")).write(to: URL(fileURLWithPath: path))
            return try Image.decode(contentsOf: path)
        }
        #expect(image.width == 227 && image.channels == 3)
        #expect(ImageFormat.sniff(try Fixtures.bytes("jpeg/testorig.jpg")) == .jpeg)
        #expect(ImageFormat.sniff(try Fixtures.bytes("pngsuite/basn2c08.png")) == .png)
    }

    /// Cut points: inside the IHDR, inside the first chunk after it, in the image data,
    /// just before IEND, and inside the IEND chunk (negative: from the end).
    @Test(arguments: ["basn2c08", "basi6a16", "basn3p04"], [12, 20, 33, 60, -20, -12, -1])
    func truncatedPNGIsTruncated(file: String, cut: Int) throws {
        let bytes = try Fixtures.bytes("pngsuite/\(file).png")
        let length = cut >= 0 ? cut : bytes.count + cut
        let error = decodeError(Array(bytes.prefix(length)))
        guard case .truncated(.png, let message) = error else {
            Issue.record("\(file) cut at \(length) of \(bytes.count): \(String(describing: error))")
            return
        }
        #expect(!message.isEmpty)
    }

    @Test(arguments: ["testorig.jpg", "testorig-progressive.jpg", "testimgari.jpg"], [0.1, 0.5, 0.9])
    func truncatedJPEGIsTruncated(file: String, fraction: Double) throws {
        let bytes = try Fixtures.bytes("jpeg/\(file)")
        let error = decodeError(Array(bytes.prefix(Int(Double(bytes.count) * fraction))))
        guard case .truncated(.jpeg, let message) = error else {
            Issue.record("\(file) cut at \(fraction): \(String(describing: error))")
            return
        }
        #expect(!message.isEmpty)
    }

    @Test func corruptJPEGDataIsAnError() throws {
        // Overwrite part of the entropy-coded data (after the headers) with a pattern.
        var bytes = try Fixtures.bytes("jpeg/testorig.jpg")
        let start = bytes.count / 2
        for i in start..<start + 64 { bytes[i] = UInt8(truncatingIfNeeded: i &* 37) | 0x01 }
        // libjpeg only warns about corrupt entropy data; warnings are errors here.
        let error = decodeError(bytes)
        switch error {
        case .corrupt(.jpeg, _), .truncated(.jpeg, _): break
        default: Issue.record("corrupt JPEG: \(String(describing: error))")
        }
    }

    @Test func damagedPNGSignatureIsCorrupt() throws {
        var bytes = try Fixtures.bytes("pngsuite/basn2c08.png")
        bytes[4] = 0x0A // CR → LF, as a text-mode transfer does
        guard case .corrupt(.png, let message) = decodeError(bytes) else {
            Issue.record("not corrupt")
            return
        }
        #expect(message.contains("signature"))
    }

    @Test func badCRCIsCorrupt() throws {
        var bytes = try Fixtures.bytes("pngsuite/basn2c08.png")
        bytes[29] ^= 0xFF // last byte of the IHDR CRC
        guard case .corrupt(.png, _) = decodeError(bytes) else {
            Issue.record("bad CRC not refused")
            return
        }
    }

    // MARK: - Decompression bombs

    /// A tiny PNG (valid CRCs) declaring 100000×100000 is refused from its header: no
    /// 30 GB allocation, no inflating, and well within a second.
    @Test(arguments: [(UInt32(100_000), UInt32(100_000)), (8000, 8000), (1, 2_000_000_000), (20000, 20000)])
    func pngHeaderBombIsTooLarge(width: UInt32, height: UInt32) throws {
        let bytes = Forge.png(width: width, height: height)
        #expect(bytes.count < 1024)
        let header = try Image.header(of: bytes)
        #expect(header.width == Int(width) && header.height == Int(height))

        let clock = ContinuousClock()
        let start = clock.now
        let error = decodeError(bytes)
        #expect(clock.now - start < .seconds(2))
        #expect(error == .tooLarge(width: Int(width), height: Int(height), limits: .default))
        #expect(error?.description.contains("\(width)×\(height)") == true)
    }

    /// A JPEG header declaring 65000×65000 (4.2 gigapixels) in a 40-byte file.
    @Test func jpegHeaderBombIsTooLarge() throws {
        let bytes = Forge.jpegHeader(width: 65000, height: 65000)
        #expect(bytes.count < 64)
        let clock = ContinuousClock()
        let start = clock.now
        let error = decodeError(bytes)
        #expect(clock.now - start < .seconds(2))
        #expect(error == .tooLarge(width: 65000, height: 65000, limits: .default))
    }

    /// Within limits, a forged PNG whose data is far too short fails cleanly while decoding.
    @Test func shortImageDataWithinLimitsIsAnError() {
        let bytes = Forge.png(width: 4000, height: 4000, idatBytes: 100)
        switch decodeError(bytes) {
        case .truncated(.png, _), .corrupt(.png, _): break
        case let other: Issue.record("unexpected \(String(describing: other))")
        }
    }

    @Test func eachLimitIsEnforced() throws {
        let bytes = try Fixtures.bytes("pngsuite/basn2c08.png") // 32×32
        let fits = ImageLimits(maxWidth: 32, maxHeight: 32, maxPixels: 1024, maxFileBytes: bytes.count)
        #expect(throws: Never.self) { try Image.decode(bytes: bytes, limits: fits) }
        let narrow = ImageLimits(maxWidth: 31, maxHeight: 32, maxPixels: 1024, maxFileBytes: 1 << 20)
        #expect(decodeError(bytes, limits: narrow) == .tooLarge(width: 32, height: 32, limits: narrow))
        let short = ImageLimits(maxWidth: 32, maxHeight: 31, maxPixels: 1024, maxFileBytes: 1 << 20)
        #expect(decodeError(bytes, limits: short) == .tooLarge(width: 32, height: 32, limits: short))
        let few = ImageLimits(maxWidth: 32, maxHeight: 32, maxPixels: 1023, maxFileBytes: 1 << 20)
        #expect(decodeError(bytes, limits: few) == .tooLarge(width: 32, height: 32, limits: few))
        let small = ImageLimits(maxWidth: 32, maxHeight: 32, maxPixels: 1024, maxFileBytes: bytes.count - 1)
        #expect(decodeError(bytes, limits: small) == .fileTooLarge(bytes: bytes.count, limit: bytes.count - 1))
    }
}
