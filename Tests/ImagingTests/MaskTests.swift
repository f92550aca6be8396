import Imaging
import Testing

/// Both mask conventions, the size check, and the empty and full extremes.
@Suite struct MaskTests {
    @Test func alphaBelow128IsOccluded() throws {
        let image = Image(width: 4, height: 1, channels: 3, pixels: [UInt8](repeating: 9, count: 12),
                          alpha: [0, 127, 128, 255])
        let mask = try Mask(alphaOf: image)
        #expect(mask.occluded == [true, true, false, false])
        #expect(mask.occludedCount == 2 && mask.visibleCount == 2)
        #expect(mask[0, 1] && !mask[0, 2])
    }

    @Test func noAlphaIsAnError() {
        let image = Image(width: 3, height: 2, channels: 1)
        #expect(throws: ImagingError.noAlpha(width: 3, height: 2)) { try Mask(alphaOf: image) }
    }

    @Test func grayMaskValueAtLeast128IsOccluded() throws {
        let maskImage = Image(width: 2, height: 2, channels: 1, pixels: [0, 127, 128, 255])
        let mask = try Mask(maskImage: maskImage, expectedWidth: 2, expectedHeight: 2)
        #expect(mask.occluded == [false, false, true, true])
        #expect(mask[1, 0] && !mask[0, 1])
    }

    /// RGB masks use the largest channel: any light or saturated colour occludes.
    @Test func rgbMaskUsesTheBrightestChannel() throws {
        let pixels: [UInt8] = [
            0, 0, 0,  // black: visible
            127, 127, 127,  // dark gray: visible
            255, 0, 0,  // red: occluded
            0, 0, 200,  // blue: occluded
            255, 255, 255,  // white: occluded
            100, 20, 127,  // dark purple: visible
        ]
        let maskImage = Image(width: 3, height: 2, channels: 3, pixels: pixels)
        let mask = try Mask(maskImage: maskImage, expectedWidth: 3, expectedHeight: 2)
        #expect(mask.occluded == [false, false, true, true, true, false])
    }

    @Test func maskFromADecodedPNG() throws {
        // basn4a08: gray + alpha, alpha ramps across the image.
        let image = try Image.decode(bytes: Fixtures.bytes("pngsuite/basn4a08.png"))
        let mask = try Mask(alphaOf: image)
        let alpha = try #require(image.alpha)
        #expect(mask.occludedCount == alpha.filter { $0 < 128 }.count)
        #expect(mask.occludedCount > 0 && mask.visibleCount > 0)
        // Its gray plane as a mask image of the same size.
        let gray = Image(width: image.width, height: image.height, channels: 1, pixels: image.pixels)
        let grayMask = try Mask(maskImage: gray, expectedWidth: 32, expectedHeight: 32)
        #expect(grayMask.occludedCount == image.pixels.filter { $0 >= 128 }.count)
    }

    @Test(arguments: [(3, 4), (4, 3), (1, 1)])
    func wrongSizeIsAnError(expectedWidth: Int, expectedHeight: Int) {
        let maskImage = Image(width: 4, height: 4, channels: 1)
        let expected = ImagingError.maskSizeMismatch(
            expectedWidth: expectedWidth, expectedHeight: expectedHeight, width: 4, height: 4)
        #expect(throws: expected) {
            try Mask(maskImage: maskImage, expectedWidth: expectedWidth, expectedHeight: expectedHeight)
        }
        #expect(expected.description.contains("4×4"))
    }

    @Test func emptyAndFullMasksAreValues() throws {
        let empty = try Mask(maskImage: Image(width: 5, height: 3, channels: 1, filledWith: 0),
                             expectedWidth: 5, expectedHeight: 3)
        #expect(empty.isEmpty && !empty.isFull)
        #expect(empty.occludedCount == 0 && empty.visibleCount == 15)
        let full = try Mask(maskImage: Image(width: 5, height: 3, channels: 3, filledWith: 255),
                            expectedWidth: 5, expectedHeight: 3)
        #expect(full.isFull && !full.isEmpty)
        #expect(full.occludedCount == 15 && full.visibleCount == 0)
        #expect(Mask(width: 5, height: 3, allOccluded: true) == full)
        #expect(Mask(width: 5, height: 3, allOccluded: false) == empty)
    }
}
