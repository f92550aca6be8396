import Testing
@testable import Imaging

@Suite struct DrawingPanelTests {
    /// A 28 × 28 gray test picture: a soft ring.
    static let digit: Image = {
        var pixels = [UInt8](repeating: 0, count: 28 * 28)
        for y in 0..<28 {
            for x in 0..<28 {
                let dx = Double(x) - 13.5, dy = Double(y) - 13.5
                let r = (dx * dx + dy * dy).squareRoot()
                pixels[y * 28 + x] = UInt8(max(0, 255 - abs(r - 8) * 90).rounded())
            }
        }
        return Image(width: 28, height: 28, channels: 1, pixels: pixels)
    }()

    static let lowerHalf: [Bool] = (0..<(28 * 28)).map { $0 / 28 >= 14 }

    @Test func rowGeometryIsAsComputed() {
        let a = Image(width: 10, height: 8, channels: 1)
        let b = Image(width: 5, height: 5, channels: 3)
        var layout = PanelLayout(row: [Panel(a, caption: "a", scale: 2), Panel(b, scale: 3)])
        layout.margin = 10
        layout.spacing = 6
        layout.captionGap = 4
        let g = layout.geometry()
        // Columns 20 and 15 wide, pictures 16 high, one caption line of 8 under a gap of 4.
        #expect(g.width == 10 + 20 + 6 + 15 + 10)
        #expect(g.height == 10 + 16 + 4 + 8 + 10)
        #expect(g.frames[0][0] == PixelRect(x: 10, y: 10, width: 20, height: 16))
        #expect(g.frames[0][1] == PixelRect(x: 36, y: 10, width: 15, height: 15))
        let image = layout.render()
        #expect(image.width == g.width && image.height == g.height)
        // The first panel is black (gray 0), pasted exactly into its frame.
        #expect(image[10, 10, 0] == 0 && image[25, 29, 2] == 0)
        #expect(image[9, 10, 0] == 255 && image[10, 30, 0] == 255)
    }

    @Test func gridAlignsColumnsAndWrapsLongCaptions() {
        let small = Image(width: 4, height: 4, channels: 1)
        var layout = PanelLayout(
            grid: (0..<5).map { Panel(small, caption: $0 == 0 ? "a rather long caption that wraps" : "", scale: 4) },
            columns: 3, title: "Grid")
        layout.margin = 0
        let g = layout.geometry()
        #expect(g.frames.count == 2 && g.frames[0].count == 3 && g.frames[1].count == 2)
        #expect(g.frames[0][1].x == g.frames[1][1].x)
        let lines = layout.wrap("a rather long caption that wraps", width: 84)
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { BitmapFont.textWidth($0) <= 84 })
        #expect(layout.render().width == g.width)
        #expect(PanelLayout(rows: []).render().width >= 1)

        var headed = layout
        headed.columnHeaders = ["first column"]
        let h = headed.geometry()
        #expect(h.frames[0][0].y == g.frames[0][0].y + 8 + headed.captionGap)
        #expect(h.frames[0][0].x == g.frames[0][0].x)  // the header is narrower than the column
        headed.columnHeaders = ["", "a heading much wider than the panels"]
        let wide = headed.geometry()
        #expect(wide.frames[0][1].x - g.frames[0][1].x == (BitmapFont.textWidth(headed.columnHeaders[1]) - 16) / 2)
    }

    @Test func completionPreviewAndGallery() {
        let digit = Self.digit
        let mask = Self.lowerHalf
        let completions = (1...3).map { k in
            Image(
                width: 28, height: 28, channels: 1,
                pixels: digit.pixels.enumerated().map { i, v in mask[i] ? UInt8((Int(v) * (4 - k) / 3)) : v })
        }
        let nll = mask.enumerated().map { i, m in m ? Double((i * 37) % 100) / 12 : .nan }
        let preview = CompletionFigures.preview(
            input: digit, mask: mask, completions: completions, nll: nll, scale: 4, title: "job 42")
        #expect(preview.channels == 3 && preview.width > 5 * 112)
        writePreview(preview, named: "preview")

        let marked = CompletionFigures.markedOcclusion(digit, mask: mask, scale: 2)
        #expect(marked.width == 56)
        #expect(marked[0, 0, 0] == 0)  // unmasked, untouched
        #expect(marked[55, 0, 0] != marked[55, 0, 1])  // masked, tinted

        let gallery = CompletionFigures.gallery(
            (0..<3).map { _ in .init(original: digit, mask: mask, completions: completions) }, scale: 3,
            title: "Completions")
        #expect(gallery.height > 3 * 84)
        writePreview(gallery, named: "gallery")
    }
}
