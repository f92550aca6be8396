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

    /// The pixels a caption line takes in `font`.
    static func line(_ font: Font) -> Int { Int(font.lineHeight.rounded(.up)) }

    @Test func rowGeometryIsAsComputed() {
        let a = Image(width: 10, height: 8, channels: 1)
        let b = Image(width: 5, height: 5, channels: 3)
        var layout = PanelLayout(row: [Panel(a, caption: "a", scale: 2), Panel(b, scale: 3)])
        layout.margin = 10
        layout.spacing = 6
        layout.captionGap = 4
        let g = layout.geometry()
        // Columns 20 and 15 wide, pictures 16 high, one caption line under a gap of 4.
        #expect(g.width == 10 + 20 + 6 + 15 + 10)
        #expect(g.height == 10 + 16 + 4 + Self.line(layout.font) + 10)
        #expect(g.frames[0][0] == PixelRect(x: 10, y: 10, width: 20, height: 16))
        #expect(g.frames[0][1] == PixelRect(x: 36, y: 10, width: 15, height: 15))
        let image = layout.render()
        #expect(image.width == g.width && image.height == g.height)
        // The first panel is black (gray 0), pasted exactly into its frame.
        for y in 10..<26 { for x in 10..<30 { #expect(image[y, x, 0] == 0 && image[y, x, 2] == 0) } }
        #expect(image[10, 9, 0] == 255 && image[9, 10, 0] == 255 && image[26, 10, 0] == 255)
        // The caption is drawn under it, centred on the panel.
        let caption = PixelRect(x: 10, y: 30, width: 20, height: Self.line(layout.font))
        let ink = DrawingFigureTests.changed(image).filter { $0[1] >= 26 }
        #expect(!ink.isEmpty && ink.allSatisfy { caption.contains(x: $0[0], y: $0[1]) })
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
        #expect(lines.joined(separator: " ") == "a rather long caption that wraps")
        #expect(lines.allSatisfy { layout.font.measure($0).width <= 84 })
        #expect(layout.render().width == g.width)
        #expect(PanelLayout(rows: []).render().width >= 1)

        var headed = layout
        headed.columnHeaders = ["first column"]
        let h = headed.geometry()
        #expect(h.frames[0][0].y == g.frames[0][0].y + Self.line(layout.font) + headed.captionGap)
        headed.columnHeaders = ["", "a heading much wider than the panels"]
        let wide = headed.geometry()
        let headerWidth = Int(layout.font.measure(headed.columnHeaders[1]).width.rounded(.up))
        #expect(wide.frames[0][1].x - g.frames[0][1].x == (headerWidth - g.frames[0][1].width) / 2)
    }

    @Test func longTitlesWrapIntoBalancedLines() {
        let panel = Panel(Image(width: 10, height: 10, channels: 1), scale: 4)
        let title = (1...30).map { "word\($0)" }.joined(separator: " ")
        let layout = PanelLayout(row: [panel, panel], title: title)
        let g = layout.geometry()
        let lines = g.title.split(separator: "\n").map(String.init)
        #expect(lines.count > 1 && lines.joined(separator: " ") == title)
        let widths = lines.map { layout.titleFont.measure($0).width }
        #expect(widths.max()! - widths.min()! < 0.5 * widths.max()!)
        #expect(g.height > 40 + lines.count * Self.line(layout.titleFont))
    }

    @Test func completionPreviewAndGallery() throws {
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
        // Input, three completions and the heat map at 112 pixels each, plus the colour bar.
        #expect(preview.channels == 3 && preview.alpha == nil)
        #expect(preview.width > 5 * 112 + 4 * 12 + 40 && preview.height > 112 + 2 * 12)
        #expect(try Image.decode(bytes: preview.encodePNG()) == preview)
        let colors = Set(
            stride(from: 0, to: preview.pixels.count, by: 3).map {
                RGB(preview.pixels[$0], preview.pixels[$0 + 1], preview.pixels[$0 + 2])
            })
        #expect(colors.contains(ColorMap.inferno.color(at: 0)) && colors.contains(ColorMap.inferno.color(at: 1)))
        writePreview(preview, named: "preview")

        let marked = CompletionFigures.markedOcclusion(digit, mask: mask, scale: 2)
        #expect(marked.width == 56 && marked.height == 56)
        #expect(marked[0, 0, 0] == 0)  // unmasked, untouched
        #expect(marked[55, 0, 0] != marked[55, 0, 1])  // masked, tinted
        let filled = CompletionFigures.markedOcclusion(digit, mask: mask, scale: 1, marking: .fill(.gray))
        #expect(Array(filled.pixels[(27 * 28 + 13) * 3..<(27 * 28 + 14) * 3]) == [128, 128, 128])

        let gallery = CompletionFigures.gallery(
            (0..<3).map { _ in .init(original: digit, mask: mask, completions: completions, label: "bottom half") },
            scale: 3, title: "Completions")
        #expect(gallery.height > 3 * 84 && gallery.width > 5 * 84)
        writePreview(gallery, named: "gallery")
    }

    /// The daemon renders previews on several workers at once; they share the loaded font.
    @Test func previewsRenderConcurrentlyAndIdentically() async {
        func render() -> Image {
            CompletionFigures.preview(
                input: Self.digit, mask: Self.lowerHalf, completions: [Self.digit, Self.digit],
                nll: Self.lowerHalf.map { $0 ? 3 : .nan }, scale: 2, title: "job 7: 392 of 784 pixels occluded")
        }
        let reference = render()
        let images = await withTaskGroup(of: Image.self) { group in
            for _ in 0..<16 { group.addTask { render() } }
            return await group.reduce(into: [Image]()) { $0.append($1) }
        }
        #expect(images.count == 16 && images.allSatisfy { $0 == reference })
    }
}
