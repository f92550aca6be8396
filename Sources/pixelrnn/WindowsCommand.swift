import ArgumentParser
import Completion
import Dispatch
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn windows`: what a window's context margin costs. For each picture, the exact
/// raster-order NLL of the true content of a centred square hole is computed once over
/// the whole picture and once inside the window of each margin; the difference is what
/// the pixels outside the window would have told the model.
struct WindowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "windows",
        abstract: "Measure the window margin: hole NLL inside windows versus the whole picture.")

    @Argument(help: "A folder of PNG/JPEG pictures.")
    var folder: String
    @Option(help: "Margins to measure, in pixels.")
    var margins = "0,4,8,16,32,64"
    @Option(help: "Side of the centred square hole, in pixels.")
    var hole = 32
    @Option(help: "Pictures are first scaled down so that their longer side is at most this.")
    var longSide = 512
    @OptionGroup var modelOption: ModelOption
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        BLAS.setThreads(1)
        let (model, path) = try modelOption.load()
        let list = margins.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--margins: a list of pixels ≥ 0") }
        let c = model.configuration.channels
        var pictures: [Image] = []
        for set in try DataSource.folderAsItIs(folder, channels: c) {
            for index in 0..<set.count {
                let image = set[index]
                let s = min(1, Double(longSide) / Double(max(image.width, image.height)))
                let w = Int((Double(image.width) * s).rounded()), h = Int((Double(image.height) * s).rounded())
                guard min(w, h) > hole else { continue }
                pictures.append(s < 1 ? ImageFolderDataset.resize(image, width: w, height: h, channels: c) : image)
            }
        }
        guard !pictures.isEmpty else { throw DataSourceError("no picture in \(folder) is larger than the hole") }
        print("model   \(path)")
        print("data    \(pictures.count) pictures of \(folder), long side ≤ \(longSide), centred \(hole)×\(hole) hole")
        // rows[i] = (whole, [per margin]) hole NLL in nats, and seconds.
        let results = UnsafeMutablePointer<(Double, [Double], Double, [Double])>.allocate(capacity: pictures.count)
        results.initialize(repeating: (0, [], 0, []), count: pictures.count)
        defer { results.deinitialize(count: pictures.count); results.deallocate() }
        nonisolated(unsafe) let out = results
        let images = pictures, margins = list, side = hole
        DispatchQueue.concurrentPerform(iterations: max(1, min(compute.workers, images.count))) { worker in
            for i in stride(from: worker, to: images.count, by: max(1, min(compute.workers, images.count))) {
                let image = images[i]
                let holeRect = PixelRect(x: (image.width - side) / 2, y: (image.height - side) / 2, width: side, height: side)
                func holeNLL(_ rect: PixelRect) -> (Double, Double) {
                    let started = Date()
                    let pixels = Completer.crop(image.pixels, width: image.width, channels: c, to: rect)
                    let nll = UnsafeMutablePointer<Float>.allocate(capacity: rect.area * c)
                    defer { nll.deallocate() }
                    _ = try? model.streamingNegativeLogLikelihood(of: pixels, height: rect.height, width: rect.width, subPixelNLL: nll)
                    var sum = 0.0
                    for y in (holeRect.y - rect.y)..<(holeRect.maxY - rect.y) {
                        for x in (holeRect.x - rect.x)..<(holeRect.maxX - rect.x) {
                            for ch in 0..<c { sum += Double(nll[(y * rect.width + x) * c + ch]) }
                        }
                    }
                    return (sum, Date().timeIntervalSince(started))
                }
                let whole = holeNLL(PixelRect(x: 0, y: 0, width: image.width, height: image.height))
                let windows = margins.map { m in
                    let x0 = max(0, holeRect.x - m), y0 = max(0, holeRect.y - m)
                    return holeNLL(PixelRect(x: x0, y: y0, width: min(image.width, holeRect.maxX + m) - x0,
                                              height: min(image.height, holeRect.maxY + m) - y0))
                }
                out[i] = (whole.0, windows.map(\.0), whole.1, windows.map(\.1))
            }
        }
        let n = Double(pictures.count), dims = Double(hole * hole * c)
        let whole = (0..<pictures.count).reduce(0.0) { $0 + results[$1].0 } / n
        let wholeTime = (0..<pictures.count).reduce(0.0) { $0 + results[$1].2 } / n
        print(String(format: "whole picture: hole %.4f bits/dim, %.3f s per picture", whole / dims / log(2), wholeTime))
        print("margin  hole bits/dim  Δ vs whole (bits/dim)  Δ (nats/picture)  worst Δ (nats)  s per window")
        for (k, m) in list.enumerated() {
            let deltas = (0..<pictures.count).map { results[$0].1[k] - results[$0].0 }
            let mean = deltas.reduce(0, +) / n
            let time = (0..<pictures.count).reduce(0.0) { $0 + results[$1].3[k] } / n
            print(String(format: "%6d  %13.4f  %21.4f  %16.2f  %14.2f  %12.4f",
                         m, (whole + mean) / dims / log(2), mean / dims / log(2), mean, deltas.max() ?? 0, time))
        }
    }
}
