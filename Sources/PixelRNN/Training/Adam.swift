internal import CKernels
import Foundation

/// Adam (Kingma & Ba, 2015) with global gradient-norm clipping and a learning-rate
/// schedule: linear warm-up, then cosine decay to `finalLearningRateFraction`.
public struct AdamConfiguration: Sendable, Codable, Equatable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Gradients whose global L2 norm exceeds this are scaled down to it (0 = no clipping).
    public var clipNorm: Float = 1.0
    /// Steps of linear warm-up from 0.
    public var warmupSteps: Int = 200
    /// Total steps of the schedule (cosine decay ends here); 0 = constant after warm-up.
    public var totalSteps: Int = 0
    /// Learning rate at the end of the cosine decay, as a fraction of `learningRate`.
    public var finalLearningRateFraction: Float = 0.05

    public init() {}

    /// The learning rate at `step` (0-based).
    public func learningRate(at step: Int) -> Float {
        let warm = warmupSteps > 0 ? min(1, Float(step + 1) / Float(warmupSteps)) : 1
        guard totalSteps > 0 else { return learningRate * warm }
        let progress = min(1, max(0, Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))))
        let cosine = 0.5 * (1 + cos(Float.pi * progress))
        return learningRate * warm * (finalLearningRateFraction + (1 - finalLearningRateFraction) * cosine)
    }
}

/// Adam's moment estimates for one parameter slab.
final class AdamState: @unchecked Sendable {
    let configuration: AdamConfiguration
    let firstMoment: FloatBuffer
    let secondMoment: FloatBuffer
    private(set) var step = 0

    init(configuration: AdamConfiguration, parameterCount: Int, step: Int = 0) {
        self.configuration = configuration
        firstMoment = FloatBuffer(parameterCount)
        secondMoment = FloatBuffer(parameterCount)
        self.step = step
    }

    /// Applies one update to `values` from `gradient` (which may be scaled in place by clipping).
    /// - Returns: the gradient's global L2 norm before clipping.
    @discardableResult
    func update(values: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) -> Float {
        let cfg = configuration
        var sq = 0.0
        for i in 0..<count { sq += Double(gradient[i] * gradient[i]) }
        let norm = Float(sq.squareRoot())
        var scale: Float = 1
        if cfg.clipNorm > 0 && norm > cfg.clipNorm { scale = cfg.clipNorm / norm }
        let lr = cfg.learningRate(at: step)
        step += 1
        let b1 = cfg.beta1, b2 = cfg.beta2
        let correction1 = 1 - pow(b1, Float(step)), correction2 = 1 - pow(b2, Float(step))
        let stepSize = lr * correction2.squareRoot() / correction1
        let eps = cfg.epsilon * correction2.squareRoot()
        let m = firstMoment.pointer, v = secondMoment.pointer
        // Sources/CKernels, dispatched at run time.
        pk_adam(values, gradient, m, v, count, scale, b1, b2, stepSize, eps)
        return norm
    }

    /// Restores the step counter (used when resuming).
    func setStep(_ value: Int) { step = value }
}
