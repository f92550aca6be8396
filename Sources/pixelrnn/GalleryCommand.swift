import ArgumentParser
import Completion
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn gallery`: the README's pictures — completions of test images under three
/// kinds of occlusion, a grid of unconditional samples, and one job preview.
struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Draw completions of Fashion-MNIST test images and unconditional samples as PNG figures.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "Output folder.")
    var out = "docs/images"
    @Option(help: "Test images shown (spread over the test set).")
    var images = 4
    @Option(help: "Completions per occlusion.")
    var completions = 4
    @Option(help: "Particles per completion (the shown completion is drawn by weight).")
    var particles = 8
    @Option(help: "Random seed.")
    var seed: UInt64 = 3
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        BLAS.setThreads(1)
        let loaded = try LoadedModel.load(path: modelOption.model ?? DefaultModel.path())
        let model = loaded.model
        guard model.configuration.channels == 1 else { throw ValidationError("the gallery uses Fashion-MNIST: a gray model is needed") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let test = try FashionMNIST.load(.test)
        let completer = loaded.completer
        let size = 28
        let occlusions: [(String, [Bool])] = [
            ("bottom half", (0..<(size * size)).map { $0 / size >= size / 2 }),
            ("centre square", (0..<(size * size)).map { abs($0 / size - 14) < 7 && abs($0 % size - 14) < 7 }),
            ("random blotches", blotches(size: size, seed: seed)),
        ]
        var rows: [CompletionFigures.GalleryRow] = []
        var firstResult: CompletionResult?
        for i in 0..<images {
            let index = (i * 2503 + 17) % test.count
            let original = test.image(at: index)
            for (name, mask) in occlusions {
                var samples: [Image] = []
                for k in 0..<completions {
                    let options = CompletionOptions(samples: particles, seed: seed &+ UInt64(k * 100 + i), threads: compute.workers)
                    let result = try completer.complete(original, occluded: mask, options: options)
                    samples.append(result.completed)
                    if firstResult == nil { firstResult = result }
                }
                rows.append(CompletionFigures.GalleryRow(original: original, mask: mask, completions: samples,
                                                         label: name))
            }
            printError("image \(i + 1)/\(images) done")
        }
        let title = "Completions by \(model.metadata["name"] ?? "the default model"), Fashion-MNIST test images\n(each completion drawn by weight from \(particles) particles)"
        try CompletionFigures.gallery(rows, scale: 3, title: title).writePNG(to: out + "/gallery.png", content: .figure)
        let unconditional = try UnconditionalSampler.sample(model: model, count: 32, height: size, width: size, seed: seed)
        var layout = PanelLayout(grid: unconditional.map { Panel($0, scale: 3) }, columns: 8,
                                 title: "Unconditional samples (T = 1)")
        layout.spacing = 4
        try layout.render().writePNG(to: out + "/samples.png", content: .figure)
        if let firstResult { try previewImage(firstResult).writePNG(to: out + "/preview-example.png", content: .figure) }
        print("wrote \(out)/gallery.png, \(out)/samples.png, \(out)/preview-example.png")
    }

    /// A few random discs of occlusion (seeded).
    func blotches(size: Int, seed: UInt64) -> [Bool] {
        var random = RandomSource(seed: seed &+ 77)
        var mask = [Bool](repeating: false, count: size * size)
        for _ in 0..<5 {
            let cy = Double(random.nextInt(below: size)), cx = Double(random.nextInt(below: size))
            let r = 2.5 + 3 * random.nextDouble()
            for y in 0..<size {
                for x in 0..<size where (Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx) <= r * r {
                    mask[y * size + x] = true
                }
            }
        }
        return mask
    }
}
