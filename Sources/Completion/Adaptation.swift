// Per-job adaptation: before filling a hole, fine-tune a copy of the model on crops of
// the job's own visible pixels. The shipped model never changes.

import Foundation
public import Imaging
public import PixelRNN

/// How a job's model copy is fine-tuned on its visible pixels.
public struct AdaptationOptions: Sendable, Equatable {
    /// Optimisation steps (the budget; 0 = no adaptation). Results are reproducible for a
    /// given seed and step count.
    public var steps: Int
    /// A safety cap on the wall time of the steps; when it cuts in, the report says so.
    public var maxSeconds: Double
    /// Side of the square training crops (smaller when the visible region is smaller,
    /// down to ``minimumCropSize``). Small crops make cheap steps: at an equal time budget
    /// many small steps teach the model more than a few of the training size (docs/adaptation.md).
    public var cropSize: Int
    /// Crops per step.
    public var batch: Int
    /// Peak learning rate (Adam, cosine decay to 5 % over `steps`, no warm-up).
    public var learningRate: Float
    /// The share of crops (0…1) drawn near the hole rather than uniformly: such a crop's
    /// position is drawn with weight e^{−d/(nearHoleScale·cropSize)}, d being the chessboard distance
    /// from its centre to the nearest occluded pixel, so the pixels most like the hole's
    /// surroundings are seen most. 0 draws every crop uniformly.
    public var nearHoleShare: Double
    /// The near-hole weight's decay length in crop sides: e^{−d/(scale·cropSize)}.
    public var nearHoleScale: Double

    /// The smallest crop adaptation uses.
    public static let minimumCropSize = 8
    /// Training crops that must fit in the visible region for adaptation to run.
    public static let minimumPositions = 16

    public init(
        steps: Int = 0, maxSeconds: Double = 60, cropSize: Int = 10, batch: Int = 2, learningRate: Float = 2.8e-4,
        nearHoleShare: Double = 1, nearHoleScale: Double = 1
    ) {
        self.steps = steps
        self.maxSeconds = maxSeconds
        self.cropSize = cropSize
        self.batch = batch
        self.learningRate = learningRate
        self.nearHoleShare = nearHoleShare
        self.nearHoleScale = nearHoleScale
    }
}

/// What adaptation did, for the report.
public struct AdaptationSummary: Codable, Sendable, Equatable {
    /// Whether the model was fine-tuned.
    public var adapted: Bool
    /// Why not, when it was not.
    public var reason: String?
    /// Steps asked for and steps taken.
    public var stepsRequested: Int
    public var steps: Int
    /// Wall time of the fine-tuning, seconds.
    public var seconds: Double
    /// Whether the time cap stopped it before its budget.
    public var cutByTimeLimit: Bool
    /// Crop side and the number of crop positions it trained on.
    public var cropSize: Int
    public var trainingPositions: Int
    /// Held-out visible crops (never trained on) and their bits/dim before and after.
    public var heldOutCrops: Int
    public var heldOutBitsPerDimBefore: Double?
    public var heldOutBitsPerDimAfter: Double?
}

/// Fine-tunes a copy of a model on one picture's visible pixels.
///
/// The visible region is tiled into non-overlapping crops; every 4th tile (at least
/// one) is held out, and training crops are drawn uniformly from the positions whose
/// crop covers only visible pixels outside the held-out tiles, so no crop touches an
/// occluded pixel and none overlaps what is scored as held out. Each step takes
/// `batch` crops (in a random scan orientation when the model supports them), split
/// into two fixed shards whose gradients are summed in a fixed order: the adapted
/// weights depend on the seed and the step count, not on the thread count.
public enum Adaptation {
    /// Crop positions of one picture: `(y, x)` of the top-left corner.
    public struct Plan: Sendable, Equatable {
        public var cropSize: Int
        public var training: [(y: Int, x: Int)]
        public var heldOut: [(y: Int, x: Int)]

        public static func == (a: Plan, b: Plan) -> Bool {
            a.cropSize == b.cropSize && a.training.elementsEqual(b.training, by: ==)
                && a.heldOut.elementsEqual(b.heldOut, by: ==)
        }

        /// The crop at `position` of an interleaved `width`-wide picture.
        func crop(at position: (y: Int, x: Int), of pixels: [UInt8], width: Int, channels: Int) -> [UInt8] {
            Completer.crop(pixels, width: width, channels: channels,
                           to: PixelRect(x: position.x, y: position.y, width: cropSize, height: cropSize))
        }
    }

    /// Why a picture is not adapted when it has no room for training crops.
    public static let tooSmall =
        "the visible region is too small for training crops of at least \(AdaptationOptions.minimumCropSize) pixels outside the hole"

    /// Chooses the crops (see the type's description); nil when fewer than
    /// ``AdaptationOptions/minimumPositions`` training positions exist even at the
    /// smallest crop size.
    public static func plan(occluded: [Bool], width: Int, height: Int, cropSize: Int) -> Plan? {
        var size = min(cropSize, width, height)
        while size >= AdaptationOptions.minimumCropSize {
            if let plan = plan(occluded: occluded, width: width, height: height, size: size) { return plan }
            size = size * 3 / 4
        }
        return nil
    }

    private static func plan(occluded: [Bool], width: Int, height: Int, size: Int) -> Plan? {
        // Held-out tiles: every 4th fully visible tile of the grid.
        let visible = SummedArea(width: width, height: height) { !occluded[$0] }
        var tiles: [(y: Int, x: Int)] = []
        for ty in stride(from: 0, through: height - size, by: size) {
            for tx in stride(from: 0, through: width - size, by: size) where visible.isFull(y: ty, x: tx, size: size) {
                tiles.append((ty, tx))
            }
        }
        guard tiles.count >= 2 else { return nil }
        let everyFourth = stride(from: 2, to: tiles.count, by: 4).map { tiles[$0] }
        let heldOut = everyFourth.isEmpty ? [tiles[tiles.count / 2]] : everyFourth
        var usable = occluded.map { !$0 }
        for tile in heldOut {
            for y in tile.y..<(tile.y + size) { for x in tile.x..<(tile.x + size) { usable[y * width + x] = false } }
        }
        let area = SummedArea(width: width, height: height) { usable[$0] }
        var training: [(y: Int, x: Int)] = []
        for y in 0...(height - size) {
            for x in 0...(width - size) where area.isFull(y: y, x: x, size: size) { training.append((y, x)) }
        }
        guard training.count >= AdaptationOptions.minimumPositions else { return nil }
        return Plan(cropSize: size, training: training, heldOut: heldOut)
    }

    /// Fine-tunes a copy of `model` on `image`'s visible pixels, converted to the
    /// model's channels exactly as the completer converts them.
    /// - Parameter occluded: `width × height` flags, `true` = occluded (never trained on).
    /// - Returns: the adapted copy (the original when adaptation did not run) and the summary.
    ///   - cancellation: checked before every step; once set, adaptation stops there.
    public static func adapt(
        _ model: PixelRNN, image: Image, occluded: [Bool], options: AdaptationOptions, seed: UInt64, threads: Int,
        cancellation: CancellationFlag? = nil
    ) -> (model: PixelRNN, summary: AdaptationSummary) {
        let (pixels, _) = ChannelConversion.convert(image, toChannels: model.configuration.channels)
        return adapt(model, pixels: pixels, occluded: occluded, width: image.width, height: image.height,
                     options: options, seed: seed, threads: threads, cancellation: cancellation)
    }

    /// Fine-tunes a copy of `model` on `pixels` (the picture in the model's channels).
    static func adapt(
        _ model: PixelRNN, pixels: [UInt8], occluded: [Bool], width: Int, height: Int,
        options: AdaptationOptions, seed: UInt64, threads: Int, cancellation: CancellationFlag? = nil
    ) -> (model: PixelRNN, summary: AdaptationSummary) {
        var summary = AdaptationSummary(
            adapted: false, reason: nil, stepsRequested: options.steps, steps: 0, seconds: 0, cutByTimeLimit: false,
            cropSize: 0, trainingPositions: 0, heldOutCrops: 0)
        guard options.steps > 0 else {
            summary.reason = "no adaptation asked for"
            return (model, summary)
        }
        guard let plan = plan(occluded: occluded, width: width, height: height, cropSize: options.cropSize) else {
            summary.reason = tooSmall
            return (model, summary)
        }
        let c = model.configuration.channels, size = plan.cropSize
        let heldOutPixels = plan.heldOut.flatMap { plan.crop(at: $0, of: pixels, width: width, channels: c) }
        func heldOutBitsPerDim(_ m: PixelRNN) -> Double? {
            guard let nll = try? m.negativeLogLikelihoods(
                of: heldOutPixels, count: plan.heldOut.count, height: size, width: size, workers: 1) else { return nil }
            return nll.reduce(0, +) / Double(plan.heldOut.count * size * size * c) / log(2)
        }
        summary.cropSize = size
        summary.trainingPositions = plan.training.count
        summary.heldOutCrops = plan.heldOut.count
        summary.heldOutBitsPerDimBefore = heldOutBitsPerDim(model)

        let copy = model.copy()
        let started = Date()
        let run = StepRunner(model: copy, plan: plan, pixels: pixels, occluded: occluded, width: width, height: height,
                             options: options, seed: seed, threads: threads)
        for _ in 0..<options.steps {
            if cancellation?.isCancelled == true { break }
            if Date().timeIntervalSince(started) > options.maxSeconds {
                summary.cutByTimeLimit = true
                break
            }
            run.step()
            summary.steps += 1
        }
        summary.seconds = Date().timeIntervalSince(started)
        summary.adapted = summary.steps > 0
        if cancellation?.isCancelled == true { return (copy, summary) }
        summary.heldOutBitsPerDimAfter = heldOutBitsPerDim(copy)
        copy.metadata["adapted"] = "\(summary.steps) steps on the job's visible pixels"
        return (copy, summary)
    }
}

extension Adaptation {
    /// Seconds one step of `options` takes here on this picture, timed on a discarded copy
    /// (nothing is scored): steps for a quarter of `seconds` to warm up (a fresh process
    /// pays for its first touches of memory), then ten blocks of steps of a tenth of
    /// `seconds` each; the median block gives the figure, so that a pause of the machine
    /// in one block does not move it. Nil when the picture cannot be adapted.
    public static func secondsPerStep(
        _ model: PixelRNN, image: Image, occluded: [Bool], options: AdaptationOptions, seed: UInt64, threads: Int,
        timing seconds: Double = 1
    ) -> Double? {
        let (pixels, _) = ChannelConversion.convert(image, toChannels: model.configuration.channels)
        guard let plan = plan(occluded: occluded, width: image.width, height: image.height, cropSize: options.cropSize)
        else { return nil }
        var warm = options
        warm.steps = 100_000  // the schedule's length does not change a step's cost
        let run = StepRunner(model: model.copy(), plan: plan, pixels: pixels, occluded: occluded, width: image.width,
                             height: image.height, options: warm, seed: seed, threads: threads)
        func steps(for duration: Double) -> Double {
            let started = Date()
            var count = 0
            repeat {
                run.step()
                count += 1
            } while Date().timeIntervalSince(started) < duration && count < 100_000
            return Date().timeIntervalSince(started) / Double(count)
        }
        _ = steps(for: seconds / 4)
        let blocks = (0..<10).map { _ in steps(for: seconds / 10) }.sorted()
        return (blocks[4] + blocks[5]) / 2
    }
}

/// The training steps of one adaptation: draws each step's crops (near the hole or
/// uniformly, in a random orientation when the model supports them) and takes one
/// optimiser step on the model, which it changes in place.
private final class StepRunner {
    private let model: PixelRNN
    private let plan: Adaptation.Plan
    private let pixels: [UInt8]
    private let width: Int
    private let options: AdaptationOptions
    private let batch: Int
    private let trainer: Trainer
    private var random: RandomSource
    private var pixelsOfBatch: [UInt8]
    private let nearHole: NearHoleCrops?

    init(model: PixelRNN, plan: Adaptation.Plan, pixels: [UInt8], occluded: [Bool], width: Int, height: Int,
         options: AdaptationOptions, seed: UInt64, threads: Int) {
        self.model = model
        self.plan = plan
        self.pixels = pixels
        self.width = width
        self.options = options
        var adam = AdamConfiguration()
        adam.learningRate = options.learningRate
        adam.warmupSteps = 0
        adam.totalSteps = options.steps
        batch = max(2, options.batch)
        trainer = Trainer(model: model, batchSize: batch, workers: 2, optimizer: adam, threads: max(1, threads))
        random = RandomSource(seed: seed, stream: 0x6164_6170)
        let c = model.configuration.channels
        pixelsOfBatch = [UInt8](repeating: 0, count: batch * plan.cropSize * plan.cropSize * c)
        nearHole = options.nearHoleShare > 0
            ? NearHoleCrops(positions: plan.training, cropSize: plan.cropSize, decay: options.nearHoleScale,
                            occluded: occluded, width: width, height: height)
            : nil
    }

    func step() {
        let c = model.configuration.channels, size = plan.cropSize
        var orientations: [Int] = []
        for k in 0..<batch {
            var index: Int? = nil
            if let nearHole, random.nextDouble() < options.nearHoleShare { index = nearHole.draw(random.nextDouble()) }
            let position = plan.training[index ?? random.nextInt(below: plan.training.count)]
            var sample = plan.crop(at: position, of: pixels, width: width, channels: c)
            if model.configuration.supportsOrientations {
                let orientation = Orientation(rawValue: random.nextInt(below: 8))!
                sample = orientation.scan(sample, width: size, height: size, channels: c)
                orientations.append(orientation.rawValue)
            }
            pixelsOfBatch.replaceSubrange((k * sample.count)..<((k + 1) * sample.count), with: sample)
        }
        _ = pixelsOfBatch.withUnsafeBufferPointer {
            trainer.trainStep(pixels: $0.baseAddress!, count: batch, height: size, width: size, orientations: orientations)
        }
    }
}

/// Crop positions weighted by their nearness to the hole: e^{−d/(decay·size)}, d being the
/// chessboard distance from the crop's centre to the nearest occluded pixel.
private struct NearHoleCrops {
    /// Cumulative weights over the positions, in their order.
    private var cumulative: [Double] = []

    init(positions: [(y: Int, x: Int)], cropSize size: Int, decay: Double, occluded: [Bool], width: Int, height: Int) {
        let distance = chessboardDistances(to: occluded, width: width, height: height)
        var total = 0.0
        cumulative.reserveCapacity(positions.count)
        for position in positions {
            let d = distance[(position.y + size / 2) * width + position.x + size / 2]
            total += d == Int.max ? 0 : exp(-Double(d) / (decay * Double(size)))
            cumulative.append(total)
        }
    }

    /// The index of the position whose cumulative weight first exceeds `uniform` × total;
    /// nil when no position has weight (nothing is occluded).
    func draw(_ uniform: Double) -> Int? {
        guard let total = cumulative.last, total > 0 else { return nil }
        let target = uniform * total
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > target { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

/// For every pixel, the chessboard distance to the nearest flagged pixel (`Int.max` when
/// none is flagged): a forward raster pass over the neighbours above and to the left, then
/// a backward one over those below and to the right.
func chessboardDistances(to flagged: [Bool], width: Int, height: Int) -> [Int] {
    let far = width + height + 1, count = width * height
    var d = flagged.map { $0 ? 0 : far }
    for direction in [-1, 1] {
        for step in 0..<count {
            let p = direction < 0 ? step : count - 1 - step
            guard d[p] > 0 else { continue }
            let y = p / width, x = p % width
            var best = d[p]
            if (0..<width).contains(x + direction) { best = min(best, d[p + direction] + 1) }
            if (0..<height).contains(y + direction) {
                for dx in -1...1 where (0..<width).contains(x + dx) { best = min(best, d[(y + direction) * width + x + dx] + 1) }
            }
            d[p] = best
        }
    }
    return d.map { $0 >= far ? Int.max : $0 }
}

/// Counts of flagged pixels over rectangles in constant time.
private struct SummedArea {
    let width: Int
    var sums: [Int]

    init(width: Int, height: Int, flag: (Int) -> Bool) {
        self.width = width
        sums = [Int](repeating: 0, count: (width + 1) * (height + 1))
        for y in 0..<height {
            var row = 0
            for x in 0..<width {
                row += flag(y * width + x) ? 1 : 0
                sums[(y + 1) * (width + 1) + x + 1] = sums[y * (width + 1) + x + 1] + row
            }
        }
    }

    /// Whether every pixel of the `size × size` square at (`y`, `x`) is flagged.
    func isFull(y: Int, x: Int, size: Int) -> Bool {
        let w = width + 1
        let total = sums[(y + size) * w + x + size] - sums[y * w + x + size] - sums[(y + size) * w + x] + sums[y * w + x]
        return total == size * size
    }
}
