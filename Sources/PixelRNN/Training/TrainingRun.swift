import Foundation
import Imaging

/// Settings of a training run.
public struct TrainingOptions: Sendable {
    /// Images per step.
    public var batchSize = 16
    /// Total steps (the learning-rate schedule ends here).
    public var steps = 10_000
    /// Worker threads.
    public var workers = 2
    /// Adam settings; `totalSteps` is set from `steps`.
    public var optimizer = AdamConfiguration()
    /// Seed of the batch order.
    public var seed: UInt64 = 1
    /// Steps between validation passes (0 = only at the end).
    public var validateEvery = 1000
    /// Images of the validation set used by the periodic passes (the final pass uses all).
    public var validationSample = 2000
    /// Stop after this many seconds of training (nil = no limit).
    public var timeLimit: Double?

    public init() {}
}

/// One progress report of a training run.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    /// Mean training loss of the last step and an exponential moving average, in bits/dim.
    public var lossBitsPerDim: Double
    public var smoothedLossBitsPerDim: Double
    /// Validation bits/dim, when this report follows a validation pass.
    public var validationBitsPerDim: Double?
    public var imagesPerSecond: Double
    public var learningRate: Float
    public var elapsedSeconds: Double
    /// Estimated seconds to the end of the run.
    public var remainingSeconds: Double
}

/// Drives a `Trainer` over an `ImageDataset`: shuffled batches (reproducible from the
/// seed and step, so a resumed run sees the same batches), periodic validation and a
/// callback for progress and checkpoints.
public final class TrainingRun: @unchecked Sendable {
    public let trainer: Trainer
    public private(set) var training: ImageDataset
    /// When set, supplies the training images of each epoch (e.g. fresh random crops).
    public var epochData: (@Sendable (Int) -> ImageDataset)?
    private var currentEpoch = 0
    public let validation: ImageDataset
    public let options: TrainingOptions

    /// Creates a run, resuming at `startStep` (for a fresh run, 0).
    public init(model: PixelRNN, training: ImageDataset, validation: ImageDataset,
                options: TrainingOptions, startStep: Int = 0) throws(ModelError) {
        guard training.channels == model.configuration.channels,
              validation.channels == model.configuration.channels
        else { throw .shapeMismatch("data has \(training.channels) channels, the model \(model.configuration.channels)") }
        guard training.count >= options.batchSize else {
            throw .shapeMismatch("\(training.count) training images is fewer than one batch of \(options.batchSize)")
        }
        var optimizer = options.optimizer
        optimizer.totalSteps = options.steps
        self.training = training
        self.validation = validation
        self.options = options
        trainer = Trainer(model: model, batchSize: options.batchSize, workers: options.workers,
                          optimizer: optimizer, startStep: startStep)
    }

    /// The indices of the images of batch `step`.
    func batchIndices(step: Int) -> [Int] {
        let n = training.count, b = options.batchSize
        let perEpoch = n / b
        let epoch = step / perEpoch, within = step % perEpoch
        var random = RandomSource(seed: options.seed, stream: UInt64(epoch))
        let order = random.permutation(n)
        return Array(order[(within * b)..<((within + 1) * b)])
    }

    /// The scan orientation of each image of batch `step`: uniform over all 8 for a
    /// model with orientation support and square images (over the 4 flips for other
    /// shapes, which a transpose would change); empty for an upright-only model.
    /// Reproducible from the seed and the step, like the batch itself.
    func batchOrientations(step: Int) -> [Int] {
        guard trainer.model.configuration.supportsOrientations else { return [] }
        let choices = training.height == training.width ? 8 : 4
        var random = RandomSource(seed: options.seed ^ 0x6F72_6965_6E74, stream: UInt64(step))
        return (0..<options.batchSize).map { _ in random.nextInt(below: choices) }
    }

    /// Lays out each image of `batch` in its scan orientation.
    private func orient(_ batch: inout [UInt8], _ orientations: [Int], imageBytes: Int) {
        let h = training.height, w = training.width, c = training.channels
        for (k, raw) in orientations.enumerated() where raw != 0 {
            let range = (k * imageBytes)..<((k + 1) * imageBytes)
            let scanned = Orientation(rawValue: raw)!.scan(Array(batch[range]), width: w, height: h, channels: c)
            batch.replaceSubrange(range, with: scanned)
        }
    }

    /// Mean bits/dim of `dataset` (its first `limit` images).
    public func validate(limit: Int? = nil) -> Double {
        let set = limit.map { validation.prefix(min($0, validation.count)) } ?? validation
        guard set.count > 0 else { return .nan }
        let nll = (try? trainer.model.negativeLogLikelihoods(
            of: set.pixels, count: set.count, height: set.height, width: set.width, workers: options.workers)) ?? []
        let dims = Double(set.height * set.width * set.channels)
        return nll.reduce(0, +) / Double(set.count) / dims / log(2)
    }

    /// Trains until `options.steps`, the time limit, or `shouldStop()`.
    /// - Parameters:
    ///   - shouldStop: polled between steps (e.g. set by SIGINT).
    ///   - progress: called after every step with the current figures.
    /// - Returns: the step reached.
    @discardableResult
    public func run(shouldStop: () -> Bool, progress: (TrainingProgress) -> Void) -> Int {
        let start = Date()
        let imageBytes = training.imageByteCount
        var batch = [UInt8](repeating: 0, count: options.batchSize * imageBytes)
        var smoothed = Double.nan
        var recentImages = 0.0, recentTime = 0.0
        var lastTick = Date()
        let startStep = trainer.step
        while trainer.step < options.steps && !shouldStop() {
            if let limit = options.timeLimit, Date().timeIntervalSince(start) >= limit { break }
            let epoch = trainer.step / max(1, training.count / options.batchSize)
            if let epochData, epoch != currentEpoch {
                training = epochData(epoch)
                currentEpoch = epoch
            }
            let indices = batchIndices(step: trainer.step)
            batch.withUnsafeMutableBufferPointer { buffer in
                for (k, index) in indices.enumerated() {
                    training.copyImage(index, into: UnsafeMutableBufferPointer(
                        rebasing: buffer[(k * imageBytes)..<((k + 1) * imageBytes)]))
                }
            }
            let orientations = batchOrientations(step: trainer.step)
            if !orientations.isEmpty { orient(&batch, orientations, imageBytes: imageBytes) }
            let lr = trainer.learningRate
            let (loss, _) = batch.withUnsafeBufferPointer {
                trainer.trainStep(pixels: $0.baseAddress!, count: options.batchSize,
                                  height: training.height, width: training.width, orientations: orientations)
            }
            let bits = loss / log(2)
            smoothed = smoothed.isNaN ? bits : 0.98 * smoothed + 0.02 * bits
            let now = Date()
            recentTime = 0.95 * recentTime + now.timeIntervalSince(lastTick)
            recentImages = 0.95 * recentImages + Double(options.batchSize)
            lastTick = now
            var validationBits: Double?
            if options.validateEvery > 0 && trainer.step % options.validateEvery == 0 {
                validationBits = validate(limit: options.validationSample)
            }
            let rate = recentImages / max(recentTime, 1e-9)
            var remaining = Double(options.steps - trainer.step) * Double(options.batchSize) / max(rate, 1e-9)
            if let limit = options.timeLimit { remaining = min(remaining, max(0, limit - now.timeIntervalSince(start))) }
            progress(TrainingProgress(
                step: trainer.step, totalSteps: options.steps, lossBitsPerDim: bits,
                smoothedLossBitsPerDim: smoothed, validationBitsPerDim: validationBits,
                imagesPerSecond: rate, learningRate: lr, elapsedSeconds: now.timeIntervalSince(start),
                remainingSeconds: remaining))
        }
        _ = startStep
        return trainer.step
    }
}
