import Imaging
import Testing

@Suite struct OrientationTests {
    /// A 3-wide, 2-high RGB picture with alpha whose samples are all different.
    static let picture = Image(
        width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0) }, alpha: (0..<6).map { UInt8(100 + $0) })

    @Test(arguments: Orientation.allCases)
    func unscanInvertsScan(orientation: Orientation) {
        let image = Self.picture
        let scanned = image.scanned(orientation)
        #expect(scanned.unscanned(orientation) == image)
        let size = orientation.scannedSize(width: 3, height: 2)
        #expect(scanned.width == size.width && scanned.height == size.height)
        let mask = Mask(width: 3, height: 2, occluded: [true, false, false, true, true, false])
        #expect(mask.scanned(orientation).unscanned(orientation) == mask)
        #expect(Orientation(name: orientation.description) == orientation)
    }

    /// The first scanned pixel of each orientation is the corner the name says, and the
    /// second is its neighbour along the scanned row.
    @Test func scanStartsAtTheNamedCorner() {
        // Stored pixel (y, x) has R = 3·(3y + x).
        func firstTwo(_ o: Orientation) -> [Int] {
            let s = Self.picture.scanned(o)
            return [Int(s.pixels[0]) / 3, Int(s.pixels[3]) / 3]
        }
        #expect(firstTwo(.upright) == [0, 1])  // (0,0) then (0,1)
        #expect(firstTwo(.verticalFlip) == [3, 4])  // bottom-left, then right
        #expect(firstTwo(.horizontalFlip) == [2, 1])  // top-right, then left
        #expect(firstTwo(.halfTurn) == [5, 4])  // bottom-right, then left
        #expect(firstTwo(.transpose) == [0, 3])  // top-left, then down
        #expect(firstTwo(.transposeVerticalFlip) == [2, 5])  // top-right, then down
        #expect(firstTwo(.transposeHorizontalFlip) == [3, 0])  // bottom-left, then up
        #expect(firstTwo(.transposeHalfTurn) == [5, 2])  // bottom-right, then up
    }

    /// Alpha follows its pixel, and channels stay in R, G, B order.
    @Test func channelsAndAlphaMoveWithTheirPixel() {
        for o in Orientation.allCases {
            let s = Self.picture.scanned(o)
            for p in 0..<6 {
                let r = Int(s.pixels[p * 3])
                #expect(Int(s.pixels[p * 3 + 1]) == r + 1 && Int(s.pixels[p * 3 + 2]) == r + 2)
                #expect(Int(s.alpha![p]) == 100 + r / 3)
            }
        }
    }
}
