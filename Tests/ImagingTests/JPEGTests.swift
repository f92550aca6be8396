import Foundation
import Imaging
import Testing

/// libjpeg-turbo's test images: three codings of one 227×149 picture, against its
/// reference decode `testorig.ppm`.
@Suite struct JPEGTests {
    /// Allowed difference from the reference decode, per 8-bit sample.
    ///
    /// `testorig.ppm` is the reference decode of `testorig.jpg` by another libjpeg
    /// version, whose chroma upsampling differs slightly: measured max 3, mean 0.19;
    /// allowed max 4, mean 0.5. `testimgint.jpg` and `testimgari.jpg` were encoded
    /// separately from the same source picture (not from `testorig.jpg`), so they carry
    /// their own quantisation error: measured max 17, mean 0.47; allowed max 24, mean 1.0.
    /// A wrong colour conversion, a missing upsampling or garbage rows would exceed these
    /// many times over.
    struct Tolerance: Sendable, CustomTestStringConvertible {
        let maxAbs: Int
        let meanAbs: Double
        var testDescription: String { "max \(maxAbs), mean \(meanAbs)" }
    }

    @Test(arguments: [
        ("testorig.jpg", Tolerance(maxAbs: 4, meanAbs: 0.5)),
        ("testorig-progressive.jpg", Tolerance(maxAbs: 4, meanAbs: 0.5)),
        ("testimgint.jpg", Tolerance(maxAbs: 24, meanAbs: 1.0)),
        ("testimgari.jpg", Tolerance(maxAbs: 24, meanAbs: 1.0)),
    ])
    func decodesCloseToTheReference(file: String, tolerance: Tolerance) throws {
        let reference = try #require(Fixtures.readPPM(Fixtures.bytes("jpeg/testorig.ppm")))
        let bytes = try Fixtures.bytes("jpeg/\(file)")
        let image = try Image.decode(bytes: bytes)
        #expect(image.width == 227 && image.height == 149)
        #expect(image.channels == 3)
        #expect(image.alpha == nil)
        try #require(image.pixels.count == reference.pixels.count)
        var maxAbs = 0
        var sumAbs = 0
        for (a, b) in zip(image.pixels, reference.pixels) {
            let d = abs(Int(a) - Int(b))
            maxAbs = max(maxAbs, d)
            sumAbs += d
        }
        let meanAbs = Double(sumAbs) / Double(image.pixels.count)
        #expect(maxAbs <= tolerance.maxAbs, "\(file): max difference \(maxAbs), mean \(meanAbs)")
        #expect(meanAbs <= tolerance.meanAbs, "\(file): max difference \(maxAbs), mean \(meanAbs)")
    }

    @Test func headersDescribeTheCoding() throws {
        let baseline = try Image.header(of: Fixtures.bytes("jpeg/testorig.jpg"))
        #expect(baseline.format == .jpeg && !baseline.isInterlaced && baseline.channels == 3 && baseline.bitDepth == 8)
        #expect(baseline.width == 227 && baseline.height == 149 && !baseline.hasAlpha)
        let progressive = try Image.header(of: Fixtures.bytes("jpeg/testorig-progressive.jpg"))
        #expect(progressive.isInterlaced)
    }

    /// A lossless transcode to progressive holds the same coefficients: same pixels.
    @Test func progressiveDecodesExactlyLikeBaseline() throws {
        let baseline = try Image.decode(bytes: Fixtures.bytes("jpeg/testorig.jpg"))
        let progressive = try Image.decode(bytes: Fixtures.bytes("jpeg/testorig-progressive.jpg"))
        #expect(progressive == baseline)
    }

    /// Arithmetic coding is lossless entropy coding: the arithmetic-coded file holds the
    /// same coefficients as the Huffman-coded `testimgint.jpg`.
    @Test func arithmeticDecodesExactlyLikeHuffman() throws {
        let huffman = try Image.decode(bytes: Fixtures.bytes("jpeg/testimgint.jpg"))
        let arithmetic = try Image.decode(bytes: Fixtures.bytes("jpeg/testimgari.jpg"))
        #expect(arithmetic == huffman)
    }

    /// The progress monitor stops a progressive file with more scans than allowed.
    @Test func progressiveScansAreCapped() throws {
        var limits = ImageLimits.default
        limits.maxJPEGScans = 4
        let bytes = try Fixtures.bytes("jpeg/testorig-progressive.jpg")
        #expect {
            try Image.decode(bytes: bytes, limits: limits)
        } throws: { error in
            guard case .resourceLimit(.jpeg, let message) = error as? ImagingError else { return false }
            return message.contains("4 scans")
        }
        limits.maxJPEGScans = 10
        #expect(throws: Never.self) { try Image.decode(bytes: bytes, limits: limits) }
    }

    @Test func twelveBitIsRefusedClearly() throws {
        let bytes = try Fixtures.bytes("jpeg/monkey12.jpg")
        #expect {
            try Image.decode(bytes: bytes)
        } throws: { error in
            guard case .unsupported(.jpeg, let reason) = error as? ImagingError else { return false }
            return reason.contains("12")
        }
    }

    @Test func cmykIsRefusedClearly() {
        let bytes = Forge.jpegHeader(width: 16, height: 16, components: 4)
        #expect {
            try Image.decode(bytes: bytes)
        } throws: { error in
            guard case .unsupported(.jpeg, let reason) = error as? ImagingError else { return false }
            return reason.contains("CMYK")
        }
    }

    /// A one-component frame is announced as a one-channel (gray) image. (No gray JPEG
    /// fixture is available, so this checks the header path only.)
    @Test func grayHeaderDecodesAsOneChannel() throws {
        let header = try Image.header(of: Forge.jpegHeader(width: 8, height: 8, components: 1))
        #expect(header.channels == 1 && !header.hasAlpha)
    }
}
