import Testing
@testable import Imaging

@Suite struct DrawingTextTests {
    /// The font is a declared dependency (fonts-dejavu-core); without it figures lose their text.
    @Test func theFigureFontIsInstalled() {
        #expect(Font.isAvailable, "install fonts-dejavu-core: \(Font.regularFiles[0])")
        #expect(FontFaces.shared.bold != nil)
    }

    @Test func measuresGrowWithTextAndSize() {
        let font = Font(size: 12)
        #expect(font.measure("") == TextSize(width: 0, height: 0))
        let short = font.measure("Loss"), long = font.measure("Loss 3.14 bits/dim")
        #expect(short.width > 10 && long.width > short.width)
        #expect(short.height == font.lineHeight && font.lineHeight > 12 && font.lineHeight < 18)
        #expect(font.measure("a\nb\nc").height == 3 * font.lineHeight)
        #expect(font.measure("ab\nlonger line").width == font.measure("longer line").width)
        #expect(Font(size: 24).measure("Loss").width > 1.8 * short.width)
        #expect(Font(size: 12, weight: .bold).measure("Loss").width > short.width)
    }

    @Test(arguments: [TextAlignment.left, .center, .right])
    func textInksInsideItsBoxAndIsAntialiased(alignment: TextAlignment) {
        let figure = Figure(width: 200, height: 50)
        let font = Font(size: 16)
        let box = figure.text("Loss 3.14 gy", x: 100, y: 10, font: font, color: .black, alignment: alignment)
        let width = Int(font.measure("Loss 3.14 gy").width.rounded(.up))
        #expect(abs(box.width - width) <= 1 && box.y == 10)
        switch alignment {
        case .left: #expect(box.x == 100)
        case .center: #expect(abs(box.x + box.width / 2 - 100) <= 1)
        case .right: #expect(abs(box.maxX - 100) <= 1)
        }
        let image = figure.image
        let ink = DrawingFigureTests.changed(image)
        #expect(ink.count > 100)
        for p in ink { #expect(box.insetBy(dx: -1, dy: -1).contains(x: p[0], y: p[1]), "ink at \(p) outside \(box)") }
        let levels = Set(ink.map { DrawingFigureTests.color(image, $0[0], $0[1]).r })
        #expect(levels.contains(0) && levels.count > 5, "solid strokes with antialiased edges")
    }

    @Test func textColourAndAnchors() {
        let figure = Figure(width: 120, height: 60)
        let font = Font(size: 20)
        let top = figure.text("H", x: 10, y: 10, font: font, color: .blue)
        let baseline = figure.text("H", x: 50, y: 40, font: font, color: .blue, anchor: .baseline)
        let middle = figure.text("H", x: 90, y: 30, font: font, color: .blue, anchor: .middle)
        let image = figure.image
        let ink = DrawingFigureTests.changed(image)
        #expect(ink.contains { DrawingFigureTests.color(image, $0[0], $0[1]) == .blue })
        // The capital sits on the baseline: ink ends at row 39 and starts a cap height above.
        let column = ink.filter { $0[0] >= 50 && $0[0] < 70 }.map { $0[1] }
        #expect(column.max() == 39)
        #expect(top.y == 10 && baseline.y < 40 && baseline.maxY > 40)
        // Centred on the capitals: as much H above row 30 as below.
        let middleRows = ink.filter { $0[0] >= 90 }.map { $0[1] }
        #expect(abs((middleRows.min()! + middleRows.max()! + 1) - 60) <= 2)
        #expect(middle.y < 30)
    }

    @Test func upwardTextFitsItsRotatedBox() {
        let figure = Figure(width: 40, height: 120)
        let font = Font(size: 12)
        let box = figure.text(
            "bits/dim", x: 10, y: 60, font: font, color: .black, alignment: .center, orientation: .upward)
        #expect(box.height > box.width && box.x == 10)
        #expect(abs(box.height - Int(font.measure("bits/dim").width.rounded())) <= 2)
        let ink = DrawingFigureTests.changed(figure.image)
        #expect(ink.count > 40)
        for p in ink { #expect(box.insetBy(dx: -1, dy: -1).contains(x: p[0], y: p[1]), "ink at \(p) outside \(box)") }
    }

    @Test func nonASCIITextRenders() {
        let figure = Figure(width: 100, height: 30)
        let box = figure.text("T = 1.0 · σ ≤ 2 é", x: 2, y: 2, font: Font(size: 12), color: .black)
        #expect(box.width > 40 && !DrawingFigureTests.changed(figure.image).isEmpty)
    }

    /// Without a font file, text is left out: nothing is drawn, nothing measures, nothing crashes.
    @Test func missingFontFilesLeaveTextOut() {
        let none = FontFaces(regular: ["/nonexistent/DejaVuSans.ttf"], bold: ["/nonexistent/DejaVuSans-Bold.ttf"])
        #expect(none.regular == nil && none.face(.bold) == nil)
        #expect(FontFace.load(path: #filePath) == nil)  // not a font
        let figure = Figure(width: 60, height: 20)
        figure.fonts = none
        let box = figure.text("hello", x: 5, y: 5, font: Font(size: 12), color: .black)
        #expect(box.width == 0 && box.height == 0)
        #expect(DrawingFigureTests.changed(figure.image).isEmpty)
        #expect(Font(size: 12).measure("hello", faces: none) == TextSize(width: 0, height: 0))
    }
}
