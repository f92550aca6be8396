import ArgumentParser
import Foundation
import PixelRNN

/// `pixelrnn eval`: held-out negative log-likelihood in nats and bits/dim.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Held-out negative log-likelihood of a model.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "Data: fashion-mnist-test (10,000 images) or fashion-mnist.")
    var data = "fashion-mnist-test"
    @Option(help: "Evaluate only the first N images.")
    var limit: Int?
    @Flag(help: "Record the result (test NLL and per-image bits/dim percentiles) in the model file's metadata.")
    var record = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        BLAS.setThreads(1)
        let (model, path) = try modelOption.load()
        var set = try DataSource.load(data)
        if let limit { set = set.prefix(min(limit, set.count)) }
        let started = Date()
        let nll = try model.negativeLogLikelihoods(
            of: set.pixels, count: set.count, height: set.height, width: set.width, workers: compute.workers)
        let seconds = Date().timeIntervalSince(started)
        let stats = NLLStatistics(imageNLL: nll, dimensions: set.height * set.width * set.channels)
        print("model       \(path)")
        print("data        \(set.description)")
        print(String(format: "images      %d in %.1f s (%.0f images/s)", set.count, seconds, Double(set.count) / seconds))
        print(String(format: "NLL         %.2f nats/image", stats.meanNats))
        print(String(format: "bits/dim    %.4f", stats.meanBitsPerDim))
        print("percentiles " + stats.percentiles.map { String(format: "p%02d %.3f", $0.0, $0.1) }.joined(separator: "  "))
        if record {
            for (k, v) in stats.metadata(prefix: "test") { model.metadata[k] = v }
            model.metadata["test_data"] = set.description
            try model.save(to: path)
            print("recorded in \(path)")
        }
    }
}
