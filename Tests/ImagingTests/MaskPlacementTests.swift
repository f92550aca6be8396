import Imaging
import Testing

/// Laying a mask drawn for one size on an image of another (``MaskAnchor``).
struct MaskPlacementTests {
    /// A 2×1 mask whose left pixel is occluded.
    static let small = Mask(width: 2, height: 1, occluded: [true, false])

    static func occludedPoints(_ mask: Mask) -> [[Int]] {
        var points: [[Int]] = []
        for y in 0..<mask.height { for x in 0..<mask.width where mask[y, x] { points.append([x, y]) } }
        return points
    }

    @Test(arguments: [
        (MaskAnchor.topLeft, [0, 0]), (.top, [1, 0]), (.topRight, [3, 0]), (.left, [0, 1]), (.centre, [1, 1]),
        (.right, [3, 1]), (.bottomLeft, [0, 2]), (.bottom, [1, 2]), (.bottomRight, [3, 2]),
    ])
    func anchoredMasksSitAtTheirCornerOrEdge(anchor: MaskAnchor, point: [Int]) throws {
        let placed = try Self.small.placed(onWidth: 5, height: 3, anchor: anchor)
        #expect(placed.width == 5 && placed.height == 3)
        #expect(Self.occludedPoints(placed) == [point])
    }

    @Test func scalingIsNearestNeighbourByPixelCentres() throws {
        let placed = try Self.small.placed(onWidth: 4, height: 2, anchor: .scale)
        #expect(Self.occludedPoints(placed) == [[0, 0], [1, 0], [0, 1], [1, 1]])
        let down = try Mask(width: 4, height: 2, occluded: [true, true, false, false, true, true, false, false])
            .placed(onWidth: 2, height: 1, anchor: .scale)
        #expect(down.occluded == [true, false])
    }

    @Test func sizesMustAgreeWithoutAnAnchorAndAnAnchoredMaskMustFit() throws {
        #expect(throws: ImagingError.maskSizeMismatch(expectedWidth: 5, expectedHeight: 3, width: 2, height: 1)) {
            try Self.small.placed(onWidth: 5, height: 3, anchor: .none)
        }
        #expect(throws: ImagingError.maskSizeMismatch(expectedWidth: 1, expectedHeight: 4, width: 2, height: 1)) {
            try Self.small.placed(onWidth: 1, height: 4, anchor: .bottomRight)
        }
        // The same size is used as it is, whatever the anchor.
        #expect(try Self.small.placed(onWidth: 2, height: 1, anchor: .none) == Self.small)
    }

    @Test func anchorNamesRoundTripAndCenterIsAccepted() {
        for anchor in MaskAnchor.allCases { #expect(MaskAnchor(name: anchor.description) == anchor) }
        #expect(MaskAnchor(name: "center") == .centre)
        #expect(MaskAnchor(name: "middle") == nil)
    }
}
