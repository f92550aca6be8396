import ArgumentParser
import Foundation
import PixelRNN

/// `pixelrnn eval`: held-out negative log-likelihood in nats and bits/dim.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Held-out negative log-likelihood of a model.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "Data: fashion-mnist-test (10,000 images), fashion-mnist, wallpapers (its 2,368 test tiles), or a folder of PNG/JPEG images scored as they are. Default: fashion-mnist-test for a gray model, wallpapers for a colour one.")
    var data: String?
    @Option(help: "Evaluate only the first N images.")
    var limit: Int?
    @Flag(help: "Record the result (test NLL and per-image bits/dim percentiles) in the model file's metadata.")
    var record = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        BLAS.setThreads(1)
        let (model, path) = try modelOption.load()
        let channels = model.configuration.channels
        let spec = data ?? (channels == 3 ? "wallpapers" : "fashion-mnist-test")
        var sets = try DataSource.load(spec, channels: channels)
        if let limit {
            var left = limit
            sets = sets.compactMap { set in
                defer { left -= min(left, set.count) }
                return left > 0 ? set.prefix(min(left, set.count)) : nil
            }
        }
        guard sets.allSatisfy({ $0.channels == channels }) else {
            throw DataSourceError("\(spec) has \(sets[0].channels) channels; the model has \(channels)")
        }
        let started = Date()
        var nll: [Double] = [], dims = 0
        for set in sets {
            let part = try model.negativeLogLikelihoods(
                of: set.pixels, count: set.count, height: set.height, width: set.width, workers: compute.workers)
            nll += part.map { $0 / Double(set.imageByteCount) }
            dims += set.imageByteCount * set.count
        }
        let count = nll.count
        let seconds = Date().timeIntervalSince(started)
        // Per-image NLL in nats per sub-pixel, scaled to the mean image size, so that
        // images of different sizes weigh by their sub-pixels in the mean.
        let meanDims = Double(dims) / Double(count)
        let stats = NLLStatistics(imageNLL: nll.map { $0 * meanDims }, dimensions: Int(meanDims.rounded()))
        print("model       \(path)")
        print("data        \(sets.map(\.description).joined(separator: "; "))")
        print(String(format: "images      %d in %.1f s (%.0f images/s)", count, seconds, Double(count) / seconds))
        print(String(format: "NLL         %.2f nats/image", stats.meanNats))
        print(String(format: "bits/dim    %.4f", stats.meanBitsPerDim))
        print("percentiles " + stats.percentiles.map { String(format: "p%02d %.3f", $0.0, $0.1) }.joined(separator: "  "))
        if record {
            for (k, v) in stats.metadata(prefix: "test") { model.metadata[k] = v }
            model.metadata["test_data"] = sets.map(\.description).joined(separator: "; ")
            try model.save(to: path)
            print("recorded in \(path)")
        }
    }
}
