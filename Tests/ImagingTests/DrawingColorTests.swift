import Testing
@testable import Imaging

@Suite struct DrawingColorTests {
    @Test func viridisAndInfernoEndpoints() {
        #expect(ColorMap.viridis.color(at: 0) == RGB(hex: 0x44_0154))
        #expect(ColorMap.viridis.color(at: 1) == RGB(hex: 0xFD_E725))
        #expect(ColorMap.inferno.color(at: 0) == RGB(hex: 0x00_0004))
        #expect(ColorMap.inferno.color(at: 1) == RGB(hex: 0xFC_FFA4))
        #expect(ColorMap.viridis.color(at: -3) == ColorMap.viridis.color(at: 0))
        #expect(ColorMap.viridis.color(at: 7) == ColorMap.viridis.color(at: 1))
        #expect(ColorMap.viridis.color(at: .nan) == ColorMap.viridis.color(at: 0))
        #expect(ColorMap.viridis.table.count == 256)
    }

    @Test(arguments: [ColorMap.viridis, .inferno, .grayscale])
    func luminanceRisesMonotonically(map: ColorMap) {
        let luminance = map.table.map(\.luminance)
        for k in 1..<luminance.count {
            #expect(luminance[k] >= luminance[k - 1] - 1e-3, "\(map.name) dips at \(k)")
        }
        #expect(luminance.last! - luminance.first! > 0.5)
    }

    @Test func heatMapRendering() {
        let values: [Double] = [0, 1, 2, .nan]
        let image = ColorMap.inferno.render(values: values, width: 2, height: 2, invalid: .cyan)
        #expect(image.channels == 3)
        #expect(Array(image.pixels[0..<3]) == [0x00, 0x00, 0x04])
        #expect(Array(image.pixels[6..<9]) == [0xFC, 0xFF, 0xA4])
        #expect(Array(image.pixels[9..<12]) == [RGB.cyan.r, RGB.cyan.g, RGB.cyan.b])
        #expect(ColorMap.finiteRange(of: [.nan, .infinity]) == nil)
    }

    @Test(arguments: [ColorBar.Orientation.vertical, .horizontal])
    func colorBarHasItsComputedSizeAndShowsBothEnds(orientation: ColorBar.Orientation) {
        let bar = ColorBar(
            colorMap: .inferno, range: 0.25...7.5, label: "NLL, bits", orientation: orientation, length: 100)
        let image = bar.render()
        #expect(image.width == bar.size.width && image.height == bar.size.height)
        let colors = Set(stride(from: 0, to: image.pixels.count, by: 3).map {
            RGB(image.pixels[$0], image.pixels[$0 + 1], image.pixels[$0 + 2])
        })
        #expect(colors.contains(ColorMap.inferno.color(at: 0)))
        #expect(colors.contains(ColorMap.inferno.color(at: 1)))
        #expect(bar.tickLabels.map(\.text) == ["0.3", "3.9", "7.5"])
        writePreview(image, named: "colorbar-\(orientation)")
        // Degenerate ranges do not crash.
        _ = ColorBar(range: 3...3, label: "x", orientation: orientation).render()
    }
}
