import ArgumentParser
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn sample`: unconditional samples written as one PNG grid.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Draw unconditional samples and write them as a PNG grid.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "Number of samples.")
    var count = 16
    @Option(help: "Image height and width.")
    var size = 28
    @Option(help: "Random seed.")
    var seed: UInt64 = 1
    @Option(help: "Softmax temperature (1 = the model's distribution).")
    var temperature: Double = 1
    @Option(help: "Grid columns.")
    var columns = 8
    @Option(help: "Pixel scale of the grid.")
    var scale = 3
    @Option(help: "Output PNG.")
    var out = "samples.png"

    func validate() throws {
        guard (1...1024).contains(count), (1...512).contains(size) else { throw ValidationError("--count or --size out of range") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
    }

    func run() throws {
        BLAS.setThreads(1)
        let (model, _) = try modelOption.load()
        let started = Date()
        let images = try UnconditionalSampler.sample(model: model, count: count, height: size, width: size,
                                                     seed: seed, temperature: temperature)
        let panels = images.map { Panel($0, caption: "", scale: scale) }
        var layout = PanelLayout(grid: panels, columns: min(columns, count),
                                 title: "\(count) samples, seed \(seed), T = \(temperature)")
        layout.spacing = 4
        try layout.render().writePNG(to: out, content: .figure)
        print(String(format: "wrote %@ (%d samples in %.2f s)", out, count, Date().timeIntervalSince(started)))
    }
}
