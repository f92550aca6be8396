import Testing
@testable import Imaging

@Suite struct DrawingTextTests {
    @Test(arguments: [1, 2, 3])
    func textWidthCountsAdvanceWithoutTrailingGap(scale: Int) {
        #expect(BitmapFont.textWidth("", scale: scale) == 0)
        #expect(BitmapFont.textWidth("A", scale: scale) == 5 * scale)
        #expect(BitmapFont.textWidth("Hello", scale: scale) == (5 * 6 - 1) * scale)
        #expect(BitmapFont.textWidth("ab\nlonger", scale: scale) == (6 * 6 - 1) * scale)
        #expect(BitmapFont.textHeight("x", scale: scale) == 8 * scale)
        #expect(BitmapFont.textHeight("x\ny", scale: scale) == 18 * scale)
    }

    @Test(arguments: [TextAlignment.left, .center, .right])
    func textInksOnlyInsideItsBox(alignment: TextAlignment) {
        var canvas = Canvas(width: 120, height: 40, background: .white)
        let box = canvas.drawText("Loss 3.14", x: 60, y: 10, color: .black, scale: 2, alignment: alignment)
        #expect(box.width == BitmapFont.textWidth("Loss 3.14", scale: 2))
        #expect(box.height == 16)
        switch alignment {
        case .left: #expect(box.x == 60)
        case .center: #expect(box.x == 60 - box.width / 2)
        case .right: #expect(box.maxX == 60)
        }
        var inked = 0
        for y in 0..<canvas.height {
            for x in 0..<canvas.width where canvas.color(x: x, y: y) != .white {
                #expect(box.contains(x: x, y: y))
                inked += 1
            }
        }
        #expect(inked > 50)
    }

    @Test func everyPrintableGlyphIsDistinctAndOnlySpaceIsBlank() {
        var seen = Set<UInt64>()
        for code in 32...126 {
            let glyph = BitmapFont.glyph(for: Character(Unicode.Scalar(UInt8(code))))
            #expect((glyph == 0) == (code == 32), "glyph \(code)")
            #expect(!seen.contains(glyph), "glyph \(code) duplicates another")
            seen.insert(glyph)
            // Five columns only.
            for row in 0..<8 { #expect((glyph >> UInt64(row * 8)) & 0xE0 == 0) }
        }
        #expect(BitmapFont.glyph(for: "é") == BitmapFont.glyph(for: "?"))
    }

    @Test func upwardTextFitsItsRotatedBox() {
        var canvas = Canvas(width: 40, height: 100)
        let box = canvas.drawText("bits/dim", x: 10, y: 50, color: .black, alignment: .center, orientation: .upward)
        #expect(box.width == 8 && box.height == BitmapFont.textWidth("bits/dim"))
        var inked = 0
        for y in 0..<canvas.height {
            for x in 0..<canvas.width where canvas.color(x: x, y: y) != .white {
                #expect(box.contains(x: x, y: y))
                inked += 1
            }
        }
        #expect(inked > 20)
    }

    @Test func fontSheetForInspection() {
        var canvas = Canvas(width: 16 * 6 * 3 + 12, height: 6 * 10 * 3 + 12 + 60)
        var line = ""
        var y = 6
        for code in 32...126 {
            line.append(Character(Unicode.Scalar(UInt8(code))))
            if line.count == 16 || code == 126 {
                canvas.drawText(line, x: 6, y: y, color: .black, scale: 3)
                y += 30
                line = ""
            }
        }
        canvas.drawText("The quick brown fox jumps over the lazy dog; loss 2.94 bits/dim @ step 12k",
                        x: 6, y: y + 4, color: .darkGray, scale: 1)
        canvas.drawText("NLL per pixel, y-axis: jpg", x: 6, y: y + 20, color: .blue, scale: 2)
        writePreview(canvas.image, named: "font")
    }
}
