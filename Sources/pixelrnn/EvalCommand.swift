import ArgumentParser
import Foundation
import Completion
import Dispatch
import Imaging
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
    @Option(help: "Measure completion instead: the conditional NLL of the true content of this region given the rest (top, bottom, left, right, centre, blotches).")
    var occlude: String?
    @Option(help: "With --occlude: particles per image.")
    var samples = 16
    @Option(help: "With --occlude: scan orientation, auto (as the completer chooses) or a fixed one such as upright.")
    var orientation = "auto"
    @Option(help: "With --occlude: Metropolis–Hastings moves per particle on each row of a hole that is not exact (0 = none).")
    var rowMoves = CompletionOptions().rowMoves
    @Option(help: "With --occlude: particles that resample together (an island); K particles form ⌈K / this⌉ independent islands.")
    var particlesPerIsland = CompletionOptions().particlesPerIsland
    @Option(help: "With --occlude: random seed of the particles.")
    var seed: UInt64 = 1
    @Flag(help: "Record the result (test NLL and per-image bits/dim percentiles) in the model file's metadata.")
    var record = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if let occlude, OcclusionRegion(rawValue: occlude) == nil {
            throw ValidationError("--occlude must be one of " + OcclusionRegion.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard orientation == "auto" || Orientation(name: orientation) != nil else {
            throw ValidationError("--orientation must be auto or an orientation name such as upright or vertical-flip")
        }
        guard (1...CompletionOptions.maximumSamples).contains(samples) else { throw ValidationError("--samples out of range") }
        guard !(record && occlude != nil) else { throw ValidationError("--record records the plain test NLL; drop --occlude") }
    }

    func run() throws {
        BLAS.setThreads(1)
        let (model, path) = try modelOption.load()
        if let occlude, let region = OcclusionRegion(rawValue: occlude) {
            let channels = model.configuration.channels
            var sets = try DataSource.load(data ?? (channels == 3 ? "wallpapers" : "fashion-mnist-test"), channels: channels)
            if let limit { sets = [sets[0].prefix(min(limit, sets[0].count))] }
            try evaluateCompletion(model: model, path: path, set: sets[0], region: region)
            return
        }
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
        print(String(format: "NLL         %.4f nats/image", stats.meanNats))
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

extension EvalCommand {
    /// `--occlude`: bits/dim of the true occluded sub-pixels given the visible ones.
    func evaluateCompletion(model: PixelRNN, path: String, set: ImageDataset, region: OcclusionRegion) throws {
        let completer = Completer(model: model)
        var chosen = CompletionOptions(samples: samples, seed: seed, threads: 1, orientation: Orientation(name: orientation))
        chosen.rowMoves = rowMoves
        chosen.particlesPerIsland = particlesPerIsland
        try chosen.validate()
        let options = chosen
        let started = Date()
        let results = UnsafeMutablePointer<ConditionalLikelihood?>.allocate(capacity: set.count)
        results.initialize(repeating: nil, count: set.count)
        defer { results.deallocate() }
        nonisolated(unsafe) let out = results
        let failure = FailureBox()
        let workers = max(1, min(compute.workers, set.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: set.count, by: workers) {
                let mask = region.mask(width: set.width, height: set.height, index: index)
                do { out[index] = try ConditionalLikelihood(completer: completer, image: set[index], occluded: mask, options: options) }
                catch { failure.set("\(error)") }
            }
        }
        if let message = failure.message { throw DataSourceError(message) }
        let all = (0..<set.count).map { results[$0]! }
        let seconds = Date().timeIntervalSince(started)
        let nats = all.reduce(0) { $0 + $1.nats }
        let dims = all.reduce(0) { $0 + $1.occludedSubPixels }
        let exact = all.allSatisfy(\.exact)
        let orientations = Dictionary(grouping: all, by: \.orientation).map { "\($0.key) \($0.value.count)" }.sorted()
        let ess = all.compactMap(\.effectiveSampleSize)
        print("model       \(path)")
        print("data        \(set.description), \(region.rawValue) occluded")
        print("orientation \(orientations.joined(separator: ", "))")
        print(String(format: "images      %d in %.1f s (%.1f ms/image), K = %d, %d row move%@", set.count, seconds,
                     1000 * seconds / Double(set.count), samples, rowMoves, rowMoves == 1 ? "" : "s"))
        print(String(format: "conditional %.4f bits/dim of the occluded sub-pixels (%.2f nats/image), %@",
                     nats / Double(dims) / log(2), nats / Double(set.count),
                     exact ? "exact" : "estimated (log p(visible) from the particles)"))
        if !exact, !ess.isEmpty {
            print(String(format: "final ESS   mean %.1f, min %.1f of %d", ess.reduce(0, +) / Double(ess.count), ess.min()!, samples))
        }
    }
}

/// The first error of a parallel loop.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var message: String?
    func set(_ text: String) { lock.withLock { if message == nil { message = text } } }
}
