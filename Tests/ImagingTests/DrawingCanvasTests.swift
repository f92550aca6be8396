import Testing
@testable import Imaging

@Suite struct DrawingCanvasTests {
    private func changed(_ canvas: Canvas, from background: RGB = .white) -> Set<[Int]> {
        var set = Set<[Int]>()
        for y in 0..<canvas.height {
            for x in 0..<canvas.width where canvas.color(x: x, y: y) != background { set.insert([x, y]) }
        }
        return set
    }

    @Test func imageIsRGBWithTheBackground() {
        let image = Canvas(width: 3, height: 2, background: RGB(1, 2, 3)).image
        #expect(image.width == 3 && image.height == 2 && image.channels == 3)
        #expect(image.pixels == [UInt8]([1, 2, 3]).repeated(6))
    }

    @Test(arguments: [
        PixelRect(x: 2, y: 3, width: 4, height: 5),
        PixelRect(x: -3, y: -2, width: 5, height: 4),
        PixelRect(x: 17, y: 8, width: 10, height: 10),
        PixelRect(x: 0, y: 0, width: 0, height: 3),
    ])
    func fillCoversExactlyItsPixels(rect: PixelRect) {
        var canvas = Canvas(width: 20, height: 12)
        canvas.fill(rect, with: .red)
        var expected = Set<[Int]>()
        for y in 0..<12 { for x in 0..<20 where rect.contains(x: x, y: y) { expected.insert([x, y]) } }
        #expect(changed(canvas) == expected)
        for p in expected { #expect(canvas.color(x: p[0], y: p[1]) == .red) }
    }

    @Test func strokeDrawsOnlyTheBorderInsideTheRect() {
        var canvas = Canvas(width: 10, height: 10)
        let rect = PixelRect(x: 1, y: 2, width: 6, height: 5)
        canvas.stroke(rect, with: .black, thickness: 1)
        let ink = changed(canvas)
        #expect(ink.count == 2 * 6 + 2 * 3)
        for p in ink {
            #expect(rect.contains(x: p[0], y: p[1]))
            #expect(p[0] == 1 || p[0] == 6 || p[1] == 2 || p[1] == 6)
        }
    }

    @Test func clipLimitsDrawing() {
        var canvas = Canvas(width: 10, height: 10)
        canvas.clip = PixelRect(x: 2, y: 2, width: 3, height: 3)
        canvas.fill(canvas.bounds, with: .black)
        canvas.drawLine(from: Point2D(x: 0, y: 0), to: Point2D(x: 10, y: 10), color: .red, thickness: 3)
        #expect(changed(canvas).allSatisfy { $0[0] >= 2 && $0[0] < 5 && $0[1] >= 2 && $0[1] < 5 })
        #expect(changed(canvas).count == 9)
    }

    @Test func blendMixesByOpacity() {
        var canvas = Canvas(width: 4, height: 4, background: .black)
        canvas.blend(PixelRect(x: 0, y: 0, width: 2, height: 4), with: .white, opacity: 0.5)
        #expect(canvas.color(x: 0, y: 0) == RGB(gray: 128))
        #expect(canvas.color(x: 2, y: 0) == .black)
        canvas.blend(canvas.bounds, with: .white, opacity: .nan)
        #expect(canvas.color(x: 3, y: 3) == .black)
    }

    @Test func crispHorizontalLineCoversOneRow() {
        var canvas = Canvas(width: 20, height: 5)
        canvas.drawLine(
            from: Point2D(x: 2.5, y: 2.5), to: Point2D(x: 12.5, y: 2.5), color: .black, antialiased: false)
        let ink = changed(canvas)
        #expect(ink == Set((2...12).map { [$0, 2] }))
    }

    @Test func antialiasedDiagonalIsConnectedAndBlended() {
        var canvas = Canvas(width: 30, height: 30)
        canvas.drawLine(from: Point2D(x: 2, y: 3), to: Point2D(x: 27, y: 21), color: .black, thickness: 2)
        for x in 3..<27 {
            #expect((0..<30).contains { canvas.color(x: x, y: $0) != .white }, "column \(x) empty")
        }
        let grays = Set(changed(canvas).map { canvas.color(x: $0[0], y: $0[1]).r })
        #expect(grays.count > 3)  // partial coverage at the edges
        #expect(grays.contains(0))  // solid in the middle
    }

    @Test func polylineSkipsNonFinitePointsWithoutJointArtifacts() {
        var canvas = Canvas(width: 40, height: 20)
        let points = [
            Point2D(x: 2, y: 10), Point2D(x: 10, y: 10), Point2D(x: 18, y: 10), Point2D(x: .nan, y: 3),
            Point2D(x: 30, y: 10), Point2D(x: 38, y: .infinity), Point2D(x: 36, y: 15),
        ]
        canvas.drawPolyline(points, color: .black, thickness: 1, antialiased: true)
        // The joint at x = 10 is blended once: the same as the rest of the line.
        #expect(canvas.color(x: 10, y: 9) == canvas.color(x: 6, y: 9))
        // Nothing is drawn between the break at 18 and 30.
        #expect((0..<20).allSatisfy { canvas.color(x: 24, y: $0) == .white })
        // A lone finite point between breaks draws nothing (it has no segment).
        #expect((0..<20).allSatisfy { canvas.color(x: 30, y: $0) == .white })
    }

    @Test func circleIsRoundAndFilled() {
        var canvas = Canvas(width: 21, height: 21)
        canvas.fillCircle(center: Point2D(x: 10.5, y: 10.5), radius: 6, color: .black, antialiased: false)
        #expect(canvas.color(x: 10, y: 10) == .black)
        #expect(canvas.color(x: 16, y: 10) == .black)
        #expect(canvas.color(x: 17, y: 10) == .white)
        #expect(canvas.color(x: 15, y: 15) == .white)  // corner of the bounding square
    }

    @Test func pastedImagesAreUpscaledByNearestNeighbour() {
        let gray = Image(width: 2, height: 2, channels: 1, pixels: [0, 50, 100, 150])
        var canvas = Canvas(width: 10, height: 10)
        canvas.draw(gray, x: 1, y: 2, scale: 3)
        for y in 0..<6 {
            for x in 0..<6 {
                let expected = gray.pixels[(y / 3) * 2 + x / 3]
                #expect(canvas.color(x: 1 + x, y: 2 + y) == RGB(gray: expected))
            }
        }
        #expect(changed(canvas).count == 36)

        let rgb = Image(width: 1, height: 2, channels: 3, pixels: [10, 20, 30, 40, 50, 60])
        canvas.draw(rgb, x: 8, y: 8, scale: 2)  // partly off the canvas
        #expect(canvas.color(x: 9, y: 9) == RGB(10, 20, 30))

        let translucent = Image(width: 1, height: 1, channels: 1, pixels: [0], alpha: [128])
        var over = Canvas(width: 1, height: 1)
        over.draw(translucent, x: 0, y: 0)
        #expect(over.color(x: 0, y: 0) == RGB(gray: 127))
    }

    @Test func maskMarkingTouchesOnlyMaskedBlocks() {
        let mask = [false, true, false, false, true, true]  // 3 × 2
        for style in [MaskMarking.tint(.red, opacity: 0.5), .fill(.red), .hatch(.red, spacing: 3, opacity: 1)] {
            var canvas = Canvas(width: 20, height: 20)
            canvas.markMask(mask, maskWidth: 3, maskHeight: 2, x: 2, y: 4, scale: 4, style: style)
            for p in changed(canvas) {
                let mx = (p[0] - 2) / 4, my = (p[1] - 4) / 4
                #expect(p[0] >= 2 && p[1] >= 4 && mx < 3 && my < 2 && mask[my * 3 + mx])
            }
            #expect(!changed(canvas).isEmpty)
        }
        var outlined = Canvas(width: 20, height: 20)
        outlined.markMask(
            mask, maskWidth: 3, maskHeight: 2, x: 0, y: 0, scale: 4, style: .tint(.red, opacity: 0), outline: .black)
        #expect(outlined.color(x: 4, y: 0) == .black)  // left edge of the masked cell (1, 0)
        #expect(outlined.color(x: 5, y: 5) == .white)  // inside the masked area, away from edges
        #expect(outlined.color(x: 5, y: 4) == .white)  // (1,0)-(1,1) is an inner edge
    }
}

extension Array {
    fileprivate func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}
