import Foundation
import Imaging
import Testing

/// The PNG conformance suite (Willem van Schaik), against the reference pixels in
/// `expected-rgba8.json.gz` (gamma not applied; see the suite's README).
@Suite struct PNGSuiteTests {
    static let valid = Fixtures.pngSuiteNames.filter { !$0.hasPrefix("x") }
    static let invalid = Fixtures.pngSuiteNames.filter { $0.hasPrefix("x") }

    // The suite's README notes that for `tbbn0g04` (4-bit gray with a tRNS gray value)
    // an independent decoder differs from the reference in how the tRNS value becomes
    // alpha. libpng matches the reference exactly, so no file is exempted here;
    // `grayTRNSFollowsTheSpecification` checks that file's alpha against the spec too.

    @Test func fixturesArePresent() {
        #expect(Self.valid.count == 161)
        #expect(Self.invalid.count == 14)
        #expect(Fixtures.pngSuiteReference.count == 192)
    }

    @Test(arguments: valid)
    func decodesToTheReferencePixels(name: String) throws {
        let image = try Image.decode(bytes: Fixtures.bytes("pngsuite/\(name).png"))
        let actual = image.rgba
        let exactReference = try #require(Fixtures.pngSuiteReference[name])
        #expect(actual.count == exactReference.count, "\(name): pixel count")
        guard actual.count == exactReference.count else { return }

        let expected: [Int]
        let tolerance: Int
        if let reduced = Fixtures.pngSuiteReference[name + "_to8"] {
            // A 16-bit file reduced to 8 bits by the reference: its rounding differs, ±1.
            (expected, tolerance) = (reduced, 1)
        } else if exactReference.contains(where: { $0 > 255 }) {
            // A 16-bit file without a reduced reference: round v·255/65535 as we do.
            (expected, tolerance) = (exactReference.map { ($0 * 255 + 32767) / 65535 }, 0)
        } else {
            (expected, tolerance) = (exactReference, 0)
        }
        var mismatches = 0
        var first: String?
        for i in actual.indices {
            if abs(actual[i] - expected[i]) > tolerance {
                mismatches += 1
                if first == nil { first = "sample \(i): \(actual[i]) vs \(expected[i])" }
            }
        }
        #expect(mismatches == 0, "\(name): \(mismatches) samples differ; first \(first ?? "")")
    }

    @Test(arguments: invalid)
    func corruptFilesAreRefusedWithATypedError(name: String) throws {
        let bytes = try Fixtures.bytes("pngsuite/\(name).png")
        do {
            let image = try Image.decode(bytes: bytes)
            Issue.record("\(name) decoded to a \(image.width)×\(image.height) image")
        } catch {
            switch error {
            case .corrupt(.png, let message), .truncated(.png, let message):
                #expect(!message.isEmpty, "\(name): empty message")
            case .unknownFormat:
                #expect(name.hasPrefix("xs"), "\(name): only bad signatures are unknown formats")
            default:
                Issue.record("\(name): unexpected error \(error)")
            }
            #expect(!error.description.isEmpty)
        }
    }

    /// libpng's specific warning is kept in the message, not only its generic error.
    @Test(arguments: [("xd0n2c08", "bit depth"), ("xc1n0g08", "color type"), ("xcsn0g01", "CRC"),
                      ("xhdn0g08", "CRC"), ("xlfn0g04", "signature")])
    func corruptFileMessagesSayWhy(name: String, detail: String) throws {
        #expect {
            try Image.decode(bytes: Fixtures.bytes("pngsuite/\(name).png"))
        } throws: { error in
            guard case .corrupt(.png, let message) = error as? ImagingError else { return false }
            return message.localizedCaseInsensitiveContains(detail)
        }
    }

    /// tRNS for gray: the pixel whose sample equals the tRNS gray value is transparent,
    /// every other pixel opaque (PNG spec 11.3.2.1).
    @Test func grayTRNSFollowsTheSpecification() throws {
        let image = try Image.decode(bytes: Fixtures.bytes("pngsuite/tbbn0g04.png"))
        let alpha = try #require(image.alpha)
        #expect(image.channels == 1)
        let transparent = Set(zip(image.pixels, alpha).filter { $0.1 == 0 }.map { $0.0 })
        let opaque = Set(zip(image.pixels, alpha).filter { $0.1 == 255 }.map { $0.0 })
        #expect(alpha.allSatisfy { $0 == 0 || $0 == 255 })
        #expect(transparent.count == 1, "exactly one gray value is transparent")
        #expect(transparent.isDisjoint(with: opaque))
    }

    /// The decoded layout follows the colour type: gray stays one channel, palette
    /// becomes RGB, alpha (or tRNS) becomes the alpha plane.
    @Test(arguments: [
        ("basn0g01", 1, false), ("basn0g16", 1, false), ("basn2c08", 3, false), ("basn3p04", 3, false),
        ("basn4a08", 1, true), ("basn6a16", 3, true), ("tbbn3p08", 3, true), ("tbrn2c08", 3, true),
        ("basi0g02", 1, false), ("basi3p08", 3, false),
    ])
    func decodedLayoutFollowsTheColourType(name: String, channels: Int, hasAlpha: Bool) throws {
        let bytes = try Fixtures.bytes("pngsuite/\(name).png")
        let image = try Image.decode(bytes: bytes)
        #expect(image.channels == channels)
        #expect(image.hasAlpha == hasAlpha)
        let header = try Image.header(of: bytes)
        #expect(header.format == .png)
        #expect(header.width == image.width && header.height == image.height)
        #expect(header.channels == channels && header.hasAlpha == hasAlpha)
        #expect(header.isInterlaced == name.hasPrefix("basi"))
    }
}
