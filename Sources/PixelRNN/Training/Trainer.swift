/// Trains a `PixelRNN` by minibatch gradient descent with Adam.
///
/// The loss is the mean negative log-likelihood per sub-pixel in nats; divide by ln 2
/// for bits/dim. The images of a batch are spread over `workers` threads (BLAS runs
/// single-threaded in each).
public final class Trainer: @unchecked Sendable {
    /// The model being trained (updated in place).
    public let model: PixelRNN
    /// Images per step.
    public let batchSize: Int
    private let engine: Engine
    private let optimizer: AdamState

    /// Creates a trainer.
    /// - Parameters:
    ///   - model: the model to update.
    ///   - batchSize: images per step.
    ///   - workers: threads (the batch is split between them).
    ///   - optimizer: Adam settings and learning-rate schedule.
    ///   - startStep: the schedule's step to resume from.
    ///   - threads: how many of the workers' shares run at once (default: all); with fewer
    ///     threads than workers the shares run one after the other, with the same result.
    public init(
        model: PixelRNN, batchSize: Int, workers: Int, optimizer: AdamConfiguration, startStep: Int = 0,
        threads: Int? = nil
    ) {
        precondition(batchSize >= 1 && workers >= 1)
        self.model = model
        self.batchSize = batchSize
        let w = min(workers, batchSize)
        engine = Engine(model: model, workers: w, microBatch: (batchSize + w - 1) / w)
        engine.parallel = (threads ?? w) >= w
        self.optimizer = AdamState(configuration: optimizer, parameterCount: model.parameters.count, step: startStep)
    }

    /// Steps taken so far (including `startStep`).
    public var step: Int { optimizer.step }

    /// The learning rate the next step will use.
    public var learningRate: Float { optimizer.configuration.learningRate(at: optimizer.step) }

    /// One optimisation step on `count` images (`count × H × W × C` bytes).
    /// - Parameter orientations: the scan orientation index of each image, already applied
    ///   to its pixels (empty: all upright).
    /// - Returns: the batch's mean NLL per sub-pixel in nats, and the gradient norm before clipping.
    public func trainStep(pixels: UnsafePointer<UInt8>, count: Int, height: Int, width: Int, orientations: [Int] = [])
        -> (loss: Double, gradientNorm: Float)
    {
        let dims = Double(height * width * model.configuration.channels)
        let scale = Float(1.0 / (Double(count) * dims))
        let nll = engine.run(pixels: pixels, count: count, height: height, width: width, gradientScale: scale,
                             orientations: orientations)
        let norm = optimizer.update(
            values: model.parameters.values, gradient: engine.gradients[0].pointer, count: model.parameters.count)
        return (nll.reduce(0, +) / (Double(count) * dims), norm)
    }

    func setStep(_ value: Int) { optimizer.setStep(value) }

    /// Adam's moment estimates, for checkpoints: (first, second) in slab order.
    var optimizerState: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        (optimizer.firstMoment.pointer, optimizer.secondMoment.pointer)
    }
}
