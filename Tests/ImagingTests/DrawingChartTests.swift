import Foundation
import Testing
@testable import Imaging

@Suite struct DrawingChartTests {
    static func trainingCurve(_ n: Int) -> LineChart {
        let steps = (0..<n).map { Double($0 * 50) }
        let train = steps.map { step in
            2.9 + 4.5 / (1 + step / 800) + 0.05 * ((step / 50).truncatingRemainder(dividingBy: 7) - 3) / 3
        }
        let validationSteps = stride(from: 0, to: Double(n * 50), by: 2500).map { $0 }
        let validation = validationSteps.map { 3.0 + 4.4 * (1 / (1 + $0 / 800)) }
        return LineChart(
            title: "PixelRNN training", xLabel: "step", yLabel: "loss, bits/dim",
            series: [
                .init(name: "train", x: steps, y: train),
                .init(name: "validation", x: validationSteps, y: validation, style: .lineAndMarkers),
            ])
    }

    private func count(_ image: Image, _ color: RGB) -> Int {
        var n = 0
        for i in stride(from: 0, to: image.pixels.count, by: 3)
        where image.pixels[i] == color.r && image.pixels[i + 1] == color.g && image.pixels[i + 2] == color.b {
            n += 1
        }
        return n
    }

    @Test(arguments: [(1000, 600), (480, 300), (64, 40), (1, 1)])
    func chartHasTheRequestedSizeAndDrawsTheSeries(size: (Int, Int)) {
        let image = Self.trainingCurve(400).render(width: size.0, height: size.1)
        #expect(image.width == size.0 && image.height == size.1 && image.channels == 3)
        if size.0 >= 480 {
            #expect(count(image, LineChart.palette[0]) > 100)
            #expect(count(image, LineChart.palette[1]) > 20)
        }
        writePreview(image, named: "chart-\(size.0)x\(size.1)")
    }

    /// The training loss plot's chart (`pixelrnn train` writes it as loss.png): three series,
    /// a fixed vertical range, title, axis captions and legend.
    @Test func lossPlotRenders() {
        let steps = (1...3000).map(Double.init)
        let loss = steps.map { 2.8 + 1.5 / (1 + $0 / 400) + 0.2 * sin($0 * 1.7) }
        var chart = LineChart(
            title: "Training loss", xLabel: "step", yLabel: "bits/dim",
            series: [
                .init(name: "training (every 10th step)", x: steps, y: loss, color: RGB(gray: 190)),
                .init(
                    name: "training, moving average", x: steps, y: steps.map { 2.8 + 1.5 / (1 + $0 / 400) },
                    color: .blue),
                .init(
                    name: "validation", x: [1000, 2000, 3000], y: [3.3, 3.1, 3.0], color: .orange,
                    style: .lineAndMarkers),
            ])
        chart.yRange = 2.75...4.3
        let image = chart.render(width: 900, height: 520)
        #expect(image.width == 900 && image.height == 520)
        #expect(count(image, RGB(gray: 190)) > 1000)
        #expect(count(image, .blue) > 300)
        #expect(count(image, .orange) > 30)
        // Text: the title's ink in the top band, legend entries at the top right.
        func dark(_ area: PixelRect) -> Int {
            var n = 0
            for y in area.y..<area.maxY {
                for x in area.x..<area.maxX where image[y, x, 0] < 100 && image[y, x, 0] == image[y, x, 2] { n += 1 }
            }
            return n
        }
        #expect(dark(PixelRect(x: 350, y: 0, width: 200, height: 40)) > 100)
        #expect(dark(PixelRect(x: 600, y: 40, width: 300, height: 80)) > 300)
        #expect(dark(PixelRect(x: 0, y: 40, width: 900, height: 480)) > 1000)  // tick labels and captions
        writePreview(image, named: "loss")
    }

    @Test func degenerateDataRendersWithoutCrashing() {
        let cases: [[LineChart.Series]] = [
            [],
            [.init(name: "empty", points: [])],
            [.init(name: "one", points: [Point2D(x: 3, y: 4)])],
            [.init(name: "flat", x: [1, 2, 3], y: [5, 5, 5])],
            [.init(name: "nan", x: [.nan, 1, 2, .infinity, 4], y: [1, .nan, 2, 3, -.infinity])],
            [.init(name: "all nan", x: [.nan, .nan], y: [.nan, 1])],
            [.init(name: "huge", x: [0, 1e300], y: [-1e300, 1e300])],
        ]
        for (k, series) in cases.enumerated() {
            var chart = LineChart(title: "case \(k)", xLabel: "x", yLabel: "y", series: series)
            let image = chart.render(width: 320, height: 200)
            #expect(image.width == 320 && image.height == 200)
            chart.xScale = .logarithmic
            chart.yScale = .logarithmic
            #expect(chart.render(width: 320, height: 200).height == 200)
        }
        let single = LineChart(series: [.init(name: "one", points: [Point2D(x: 3, y: 4)])])
            .render(width: 320, height: 200)
        #expect(count(single, LineChart.palette[0]) > 4)  // a lone point shows as a dot
    }

    @Test func logarithmicStepsAxis() {
        var chart = Self.trainingCurve(2000)
        chart.series[0].points[0].x = 0  // not drawable on a log axis; skipped
        chart.xScale = .logarithmic
        let image = chart.render(width: 800, height: 480)
        #expect(count(image, LineChart.palette[0]) > 100)
        writePreview(image, named: "chart-logx")
    }

    @Test func niceTicks() {
        let (values, step) = Ticks.linear(0.13, 0.97, target: 5)
        #expect(step == 0.2)
        #expect(values.count == 4)
        #expect(values.map { Ticks.label($0, step: step) } == ["0.2", "0.4", "0.6", "0.8"])
        let big = Ticks.linear(0, 100_000, target: 5)
        #expect(big.values.map { Ticks.label($0, step: big.step) } == ["0", "20k", "40k", "60k", "80k", "100k"])
        #expect(
            Ticks.linear(-1, 1, target: 4).values.map { Ticks.label($0, step: 0.5) }
                == ["-1.0", "-0.5", "0.0", "0.5", "1.0"].map { $0 == "0.0" ? "0" : $0 })
        #expect(Ticks.logarithmic(1, 100_000, target: 6) == [1, 10, 100, 1000, 10000, 100_000])
        #expect(Ticks.label(2.5e-5, step: 5e-6) == "2.5e-5")
        #expect(Ticks.label(5000, step: 5000, largest: 20000) == "5k")  // same suffix as 20k
        #expect(Ticks.logarithmic(40, 120_000, target: 4) == [100, 1000, 10000, 100_000])
        #expect(Ticks.format(-0.0001, decimals: 2) == "0.00")
        #expect(Ticks.format(3.14159, decimals: 3) == "3.142")
    }

    @Test func largeChartRendersQuickly() {
        let chart = Self.trainingCurve(5000)
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = chart.render(width: 1000, height: 600) }
        // Generous bound: debug builds are far slower than release.
        #expect(elapsed < .seconds(5))
    }
}
