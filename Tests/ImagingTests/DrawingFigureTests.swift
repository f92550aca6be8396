import Testing
@testable import Imaging

@Suite struct DrawingFigureTests {
    /// The colour of pixel `(x, y)` of an RGB image.
    static func color(_ image: Image, _ x: Int, _ y: Int) -> RGB {
        RGB(image[y, x, 0], image[y, x, 1], image[y, x, 2])
    }

    /// Whether two colours differ by at most one level per channel (8-bit blending rounds).
    static func close(_ a: RGB, _ b: RGB) -> Bool {
        abs(Int(a.r) - Int(b.r)) <= 1 && abs(Int(a.g) - Int(b.g)) <= 1 && abs(Int(a.b) - Int(b.b)) <= 1
    }

    /// The pixels whose colour differs from `background`, as `[x, y]` pairs.
    static func changed(_ image: Image, from background: RGB = .white) -> Set<[Int]> {
        var set = Set<[Int]>()
        for y in 0..<image.height {
            for x in 0..<image.width where color(image, x, y) != background { set.insert([x, y]) }
        }
        return set
    }

    @Test func backgroundReadsBackAsOpaqueRGB() {
        let image = Figure(width: 3, height: 2, background: RGB(1, 2, 3)).image
        #expect(image.width == 3 && image.height == 2 && image.channels == 3 && image.alpha == nil)
        #expect(image.pixels == [UInt8]([1, 2, 3]).repeated(6))
    }

    /// cairo stores premultiplied 0xAARRGGBB words (B, G, R, A bytes on little-endian
    /// machines); pure primaries read back in the right channels.
    @Test func channelsAreInRGBOrder() {
        let figure = Figure(width: 3, height: 1)
        figure.fill(PixelRect(x: 0, y: 0, width: 1, height: 1), color: RGB(255, 0, 0))
        figure.fill(PixelRect(x: 1, y: 0, width: 1, height: 1), color: RGB(0, 255, 0))
        figure.fill(PixelRect(x: 2, y: 0, width: 1, height: 1), color: RGB(10, 20, 250))
        #expect(figure.image.pixels == [255, 0, 0, 0, 255, 0, 10, 20, 250])
    }

    @Test(arguments: [
        PixelRect(x: 2, y: 3, width: 4, height: 5),
        PixelRect(x: -3, y: -2, width: 5, height: 4),
        PixelRect(x: 17, y: 8, width: 10, height: 10),
        PixelRect(x: 0, y: 0, width: 0, height: 3),
    ])
    func fillCoversExactlyItsPixels(rect: PixelRect) {
        let figure = Figure(width: 20, height: 12)
        figure.fill(rect, color: RGB(200, 30, 60))
        let image = figure.image
        var expected = Set<[Int]>()
        for y in 0..<12 { for x in 0..<20 where rect.contains(x: x, y: y) { expected.insert([x, y]) } }
        #expect(Self.changed(image) == expected)
        for p in expected { #expect(Self.color(image, p[0], p[1]) == RGB(200, 30, 60)) }
    }

    @Test func strokeDrawsOnlyTheBorderInsideTheRect() {
        let figure = Figure(width: 10, height: 10)
        let rect = PixelRect(x: 1, y: 2, width: 6, height: 5)
        figure.stroke(rect, color: .black)
        let image = figure.image
        let ink = Self.changed(image)
        #expect(ink.count == 2 * 6 + 2 * 3)
        for p in ink {
            #expect(rect.contains(x: p[0], y: p[1]))
            #expect(p[0] == 1 || p[0] == 6 || p[1] == 2 || p[1] == 6)
            #expect(Self.color(image, p[0], p[1]) == .black)
        }
    }

    @Test func clipLimitsDrawing() {
        let figure = Figure(width: 10, height: 10)
        figure.withClip(PixelRect(x: 2, y: 2, width: 3, height: 3)) {
            figure.fill(figure.bounds, color: .black)
            figure.line(from: Point2D(x: 0, y: 0), to: Point2D(x: 10, y: 10), color: .red, width: 3)
        }
        figure.fill(PixelRect(x: 9, y: 9, width: 1, height: 1), color: .blue)  // the clip has ended
        let ink = Self.changed(figure.image)
        #expect(ink.count == 10)
        #expect(ink.allSatisfy { ($0[0] >= 2 && $0[0] < 5 && $0[1] >= 2 && $0[1] < 5) || $0 == [9, 9] })
    }

    @Test func opacityBlendsOverWhatIsThere() {
        let figure = Figure(width: 4, height: 4, background: .black)
        figure.fill(PixelRect(x: 0, y: 0, width: 2, height: 4), color: .white, opacity: 0.5)
        figure.fill(figure.bounds, color: .white, opacity: .nan)  // NaN counts as transparent
        let image = figure.image
        #expect(Self.color(image, 0, 0) == RGB(gray: 128))
        #expect(Self.color(image, 2, 0) == .black)
    }

    /// A transparent figure reads back with an alpha plane and straight (not premultiplied) colour.
    @Test func transparentPixelsComeBackWithStraightAlpha() {
        let figure = Figure(width: 2, height: 1, background: nil)
        figure.fill(PixelRect(x: 0, y: 0, width: 1, height: 1), color: RGB(200, 100, 50), opacity: 0.5)
        let image = figure.image
        #expect(image.alpha == [128, 0])
        #expect(abs(Int(image[0, 0, 0]) - 200) <= 1 && abs(Int(image[0, 0, 1]) - 100) <= 1)
        #expect(abs(Int(image[0, 0, 2]) - 50) <= 1)
        #expect(Array(image.pixels[3..<6]) == [0, 0, 0])
    }

    @Test func pixelAlignedHorizontalLineCoversOneRow() {
        let figure = Figure(width: 20, height: 5)
        figure.line(from: Point2D(x: 2, y: 2.5), to: Point2D(x: 13, y: 2.5), color: .black, width: 1)
        let image = figure.image
        // Round caps reach half a pixel past the ends; the solid run is exactly the segment.
        #expect((2..<13).allSatisfy { Self.color(image, $0, 2) == .black })
        #expect(Self.changed(image).allSatisfy { $0[1] == 2 })
    }

    @Test func antialiasedDiagonalIsConnectedAndBlended() {
        let figure = Figure(width: 30, height: 30)
        figure.line(from: Point2D(x: 2, y: 3), to: Point2D(x: 27, y: 21), color: .black, width: 2)
        let image = figure.image
        for x in 3..<27 {
            #expect((0..<30).contains { Self.color(image, x, $0) != .white }, "column \(x) empty")
        }
        let grays = Set(Self.changed(image).map { Self.color(image, $0[0], $0[1]).r })
        #expect(grays.count > 3)  // partial coverage at the edges
        #expect(grays.contains(0))  // solid in the middle
    }

    @Test func polylineBreaksAtNonFinitePoints() {
        let figure = Figure(width: 40, height: 20)
        let points = [
            Point2D(x: 2, y: 10), Point2D(x: 10, y: 10), Point2D(x: 18, y: 10), Point2D(x: .nan, y: 3),
            Point2D(x: 30, y: 10), Point2D(x: 38, y: .infinity), Point2D(x: 36, y: 15),
        ]
        figure.polyline(points, color: .black, width: 2)
        let image = figure.image
        #expect(Self.color(image, 6, 9) == .black && Self.color(image, 14, 10) == .black)
        // Nothing is drawn between the break at 18 and 30, nor around the lone point at 30.
        #expect((0..<20).allSatisfy { Self.color(image, 24, $0) == .white })
        #expect((0..<20).allSatisfy { Self.color(image, 30, $0) == .white })
        // A line of nothing but breaks draws nothing.
        let empty = Figure(width: 5, height: 5)
        empty.polyline([Point2D(x: .nan, y: 1), Point2D(x: 2, y: 2)], color: .black)
        #expect(Self.changed(empty.image).isEmpty)
    }

    @Test func circleIsRoundAndFilled() {
        let figure = Figure(width: 21, height: 21)
        figure.fillCircle(center: Point2D(x: 10.5, y: 10.5), radius: 6, color: .black)
        let image = figure.image
        #expect(Self.color(image, 10, 10) == .black)
        #expect(Self.color(image, 15, 10) == .black)
        #expect(Self.color(image, 17, 10) == .white)
        #expect(Self.color(image, 15, 15) == .white)  // corner of the bounding square
    }

    @Test func picturesAreEnlargedByNearestNeighbour() {
        let gray = Image(width: 2, height: 2, channels: 1, pixels: [0, 50, 100, 150])
        let figure = Figure(width: 10, height: 10)
        figure.draw(gray, x: 1, y: 2, scale: 3)
        let rgb = Image(width: 1, height: 2, channels: 3, pixels: [10, 20, 30, 40, 50, 60])
        figure.draw(rgb, x: 8, y: 8, scale: 2)  // partly off the figure
        let image = figure.image
        for y in 0..<6 {
            for x in 0..<6 {
                #expect(Self.color(image, 1 + x, 2 + y) == RGB(gray: gray.pixels[(y / 3) * 2 + x / 3]))
            }
        }
        #expect(Self.color(image, 9, 9) == RGB(10, 20, 30))
        #expect(Self.changed(image).count == 36 + 4)

        let translucent = Image(width: 1, height: 1, channels: 1, pixels: [0], alpha: [128])
        let over = Figure(width: 1, height: 1)
        over.draw(translucent, x: 0, y: 0)
        #expect(abs(Int(over.image[0, 0, 0]) - 127) <= 1)
    }

    @Test func maskMarkingTouchesOnlyMaskedBlocks() {
        let mask = [false, true, false, false, true, true]  // 3 × 2
        for opacity in [0.5, 1] {
            let figure = Figure(width: 20, height: 20)
            figure.markMask(mask, maskWidth: 3, maskHeight: 2, x: 2, y: 4, scale: 4, color: .red, opacity: opacity)
            let image = figure.image
            var expected = Set<[Int]>()
            for y in 4..<12 { for x in 2..<14 where mask[((y - 4) / 4) * 3 + (x - 2) / 4] { expected.insert([x, y]) } }
            #expect(Self.changed(image) == expected)
            let solid = opacity == 1
            #expect((Self.color(image, 6, 4) == .red) == solid)
            #expect(Self.close(Self.color(image, 6, 4), RGB.white.mixed(with: .red, fraction: opacity)))
        }
        let outlined = Figure(width: 20, height: 20)
        outlined.markMask(
            mask, maskWidth: 3, maskHeight: 2, x: 0, y: 0, scale: 4, color: .red, opacity: 0, outline: .black)
        let image = outlined.image
        #expect(Self.color(image, 4, 0) == .black)  // left edge of the masked cell (1, 0)
        #expect(Self.color(image, 7, 2) == .black)  // its right edge: (2, 0) is not masked
        #expect(Self.color(image, 5, 5) == .white)  // inside the masked area, away from edges
        #expect(Self.color(image, 5, 4) == .white)  // (1, 0)-(1, 1) is an inner edge
        #expect(Self.color(image, 11, 6) == .black)  // the mask's right border at cell (2, 1)
        #expect(Self.changed(image).allSatisfy { mask[($0[1] / 4) * 3 + $0[0] / 4] })
    }
}

extension Array {
    fileprivate func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}
