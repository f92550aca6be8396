import Foundation

/// The distribution of one sub-pixel given everything before it (docs/model-format.md).
public enum OutputDistribution: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The paper's `levels`-way softmax: the output layer gives one logit per level.
    case softmax
    /// A discretized mixture of logistics (Salimans et al., "PixelCNN++", ICLR 2017)
    /// with `components` components per sub-pixel. The mean of channel c is shifted by
    /// a learned linear function of the pixel's earlier channels (G on R, B on R and G),
    /// as in PixelCNN++.
    case logisticMixture(components: Int)

    /// The name stored in a model file's `distribution` metadata key.
    public var fileName: String {
        switch self {
        case .softmax: "softmax"
        case .logisticMixture: "logistic_mixture"
        }
    }

    public var description: String {
        switch self {
        case .softmax: "softmax"
        case .logisticMixture(let k): "mixture of \(k) logistics"
        }
    }

    /// Output-layer features that describe channel `channel` (0-based) of a pixel.
    /// Softmax: `levels` logits. Mixture: K mixture logits, K means, K log-scales, then
    /// K coefficients for each earlier channel.
    public func outputs(forChannel channel: Int, levels: Int) -> Int {
        switch self {
        case .softmax: levels
        case .logisticMixture(let k): k * (3 + channel)
        }
    }

    /// Output-layer features of a whole pixel of `channels` channels.
    public func outputsPerPixel(channels: Int, levels: Int) -> Int {
        (0..<channels).reduce(0) { $0 + outputs(forChannel: $1, levels: levels) }
    }

    /// Offset of channel `channel`'s features within a pixel's outputs.
    func outputOffset(ofChannel channel: Int, levels: Int) -> Int {
        (0..<channel).reduce(0) { $0 + outputs(forChannel: $1, levels: levels) }
    }
}

/// The discretized logistic mixture of one sub-pixel (docs/model-format.md, "Output
/// distributions"). Values v ∈ 0..<L are mapped to x = 2v/(L−1) − 1 ∈ [−1, 1]; a
/// component with mean μ and log-scale ℓ gives v the logistic mass between
/// x ± 1/(L−1), the two end levels taking the tails. Every formula is written in a
/// form that stays finite in float arithmetic:
///
///     log p_k(v) = −softplus(−a) − softplus(b) + log(1 − e^{−(a−b)}),
///     a = (x − μ + δ)·e^{−ℓ},  b = (x − μ − δ)·e^{−ℓ},  δ = 1/(L−1)
///
/// (for v = 0 only the first term; for v = L−1 only the second).
struct LogisticMixture {
    /// Log-scales are clamped below at this value (PixelCNN++).
    static let minimumLogScale: Float = -7

    let components: Int
    let levels: Int

    /// The scaled value x of level `v`.
    @inline(__always)
    func scaled(_ v: Int) -> Float { Float(2 * v) / Float(levels - 1) - 1 }

    /// log p(v) of one sub-pixel, and, when `gradient` is given, adds
    /// `scale × d(−log p)/d(outputs)` to it (same layout as `outputs`).
    /// - Parameters:
    ///   - outputs: the channel's `K·(3 + channel)` output features.
    ///   - earlier: the scaled values x of the pixel's earlier channels (`channel` of them).
    ///   - temperature: T of the tempered mixture (see ``prepare``); 1 is the model's own,
    ///     and a gradient is only given at 1.
    func logProbability(
        of v: Int, outputs: UnsafePointer<Float>, channel: Int, earlier: UnsafePointer<Float>,
        gradient: UnsafeMutablePointer<Float>? = nil, scale: Float = 1, temperature: Float = 1
    ) -> Float {
        precondition(gradient == nil || temperature == 1, "a gradient is only defined at temperature 1")
        let k = components
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * k) { buffer in
            let scratch = buffer.baseAddress!
            let means = scratch, inverseScales = scratch + k, logPriors = scratch + 2 * k
            let joint = scratch + 3 * k, dA = scratch + 4 * k, dB = scratch + 5 * k
            let aValues = scratch + 6 * k, bValues = scratch + 7 * k
            prepare(outputs: outputs, channel: channel, earlier: earlier, temperature: temperature,
                    means: means, inverseScales: inverseScales, logPriors: logPriors)
            let x = scaled(v)
            let delta = 1 / Float(levels - 1)
            let first = v == 0, last = v == levels - 1
            var maxJoint = -Float.infinity
            for i in 0..<k {
                let a = (x - means[i] + delta) * inverseScales[i], b = (x - means[i] - delta) * inverseScales[i]
                var logMass: Float = 0
                var da: Float = 0, db: Float = 0
                if !last {
                    logMass -= softplus(-a)
                    da = sigmoid(-a)
                }
                if !first {
                    logMass -= softplus(b)
                    db = -sigmoid(b)
                }
                if !first && !last {
                    let d = a - b
                    logMass += logOneMinusExp(d)
                    let r = 1 / expm1f(d)
                    da += r
                    db -= r
                }
                dA[i] = da
                dB[i] = db
                aValues[i] = a
                bValues[i] = b
                joint[i] = logPriors[i] + logMass
                maxJoint = max(maxJoint, joint[i])
            }
            var jointSum: Float = 0
            for i in 0..<k { jointSum += expf(joint[i] - maxJoint) }
            let logP = maxJoint + logf(jointSum)
            guard let gradient else { return logP }
            let logScales = outputs + 2 * k, coefficients = outputs + 3 * k
            let gLogits = gradient, gMeans = gradient + k, gLogScales = gradient + 2 * k, gCoefficients = gradient + 3 * k
            for i in 0..<k {
                let posterior = expf(joint[i] - logP)
                gLogits[i] += scale * (expf(logPriors[i]) - posterior)
                // d log p_k / dμ and / dℓ; the loss is −log p, each component weighted by its posterior.
                let dMean = -inverseScales[i] * (dA[i] + dB[i])
                let dLogScale = -(aValues[i] * dA[i] + bValues[i] * dB[i])
                gMeans[i] -= scale * posterior * dMean
                if logScales[i] > LogisticMixture.minimumLogScale { gLogScales[i] -= scale * posterior * dLogScale }
                for j in 0..<channel {
                    let t = tanhf(coefficients[j * k + i])
                    gCoefficients[j * k + i] -= scale * posterior * dMean * earlier[j] * (1 - t * t)
                }
            }
            return logP
        }
    }

    /// Each component's mean (with the linear terms of the earlier channels), inverse
    /// scale e^{−ℓ} and log mixture weight. At a temperature T ≠ 1 this is the tempered
    /// mixture: weights ∝ π_i^{1/T} and every scale times T (means unchanged), which
    /// sharpens each component instead of piling the end levels' tail mass up as p^{1/T}
    /// per level would.
    @inline(__always)
    private func prepare(
        outputs: UnsafePointer<Float>, channel: Int, earlier: UnsafePointer<Float>, temperature: Float = 1,
        means: UnsafeMutablePointer<Float>, inverseScales: UnsafeMutablePointer<Float>,
        logPriors: UnsafeMutablePointer<Float>
    ) {
        let k = components
        let logits = outputs, rawMeans = outputs + k, logScales = outputs + 2 * k, coefficients = outputs + 3 * k
        let inverseTemperature = 1 / temperature
        var maxLogit = -Float.infinity
        for i in 0..<k { maxLogit = max(maxLogit, logits[i] * inverseTemperature) }
        var logitSum: Float = 0
        for i in 0..<k { logitSum += expf(logits[i] * inverseTemperature - maxLogit) }
        let logNormaliser = maxLogit + logf(logitSum)
        for i in 0..<k {
            var mean = rawMeans[i]
            for j in 0..<channel { mean += tanhf(coefficients[j * k + i]) * earlier[j] }
            means[i] = mean
            inverseScales[i] = expf(-max(logScales[i], LogisticMixture.minimumLogScale)) * inverseTemperature
            logPriors[i] = logits[i] * inverseTemperature - logNormaliser
        }
    }

    /// The level whose cumulative probability first exceeds `uniform` (a draw from the
    /// mixture by inversion, one uniform number per draw as for the softmax): a binary
    /// search over the levels, each step one evaluation of the mixture's CDF in double
    /// precision, so a draw costs O(K log L) instead of the O(K·L) of every level's mass.
    /// At a temperature T ≠ 1 it draws from the tempered mixture (see ``prepare``).
    func draw(
        uniform: Double, outputs: UnsafePointer<Float>, channel: Int, earlier: UnsafePointer<Float>,
        temperature: Float = 1
    ) -> Int {
        let k = components
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * k) { buffer in
            let scratch = buffer.baseAddress!
            let means = scratch, inverseScales = scratch + k, logPriors = scratch + 2 * k
            prepare(outputs: outputs, channel: channel, earlier: earlier, temperature: temperature,
                    means: means, inverseScales: inverseScales, logPriors: logPriors)
            let delta = 1 / Double(levels - 1)
            /// P(value ≤ v).
            func cumulative(_ v: Int) -> Double {
                let edge = Double(scaled(v)) + delta
                var total = 0.0
                for i in 0..<k {
                    let z = (edge - Double(means[i])) * Double(inverseScales[i])
                    total += Foundation.exp(Double(logPriors[i])) / (1 + Foundation.exp(-z))
                }
                return total
            }
            var low = 0, high = levels - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative(middle) > uniform { high = middle } else { low = middle + 1 }
            }
            return low
        }
    }

    /// log p(v) for every level v, into `logProbabilities` (`levels` floats).
    func logProbabilities(
        outputs: UnsafePointer<Float>, channel: Int, earlier: UnsafePointer<Float>,
        into logProbabilities: UnsafeMutablePointer<Float>
    ) {
        let k = components
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * k) { buffer in
            let scratch = buffer.baseAddress!
            let means = scratch, inverseScales = scratch + k, logPriors = scratch + 2 * k
            prepare(outputs: outputs, channel: channel, earlier: earlier,
                    means: means, inverseScales: inverseScales, logPriors: logPriors)
            let delta = 1 / Float(levels - 1)
            for v in 0..<levels { logProbabilities[v] = -Float.infinity }
            for i in 0..<k {
                for v in 0..<levels {
                    let x = scaled(v)
                    let a = (x - means[i] + delta) * inverseScales[i], b = (x - means[i] - delta) * inverseScales[i]
                    var logMass: Float = 0
                    if v != levels - 1 { logMass -= softplus(-a) }
                    if v != 0 { logMass -= softplus(b) }
                    if v != 0 && v != levels - 1 { logMass += logOneMinusExp(a - b) }
                    let term = logPriors[i] + logMass
                    let current = logProbabilities[v]
                    let high = max(current, term), low = min(current, term)
                    logProbabilities[v] = high == -Float.infinity ? high : high + log1pf(expf(low - high))
                }
            }
        }
    }
}

@inline(__always)
private func softplus(_ x: Float) -> Float {
    x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x))
}

@inline(__always)
private func sigmoid(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x))
}

/// log(1 − e^{−d}) for d > 0, accurate for small and large d.
@inline(__always)
private func logOneMinusExp(_ d: Float) -> Float {
    d < 0.693_147_2 ? logf(-expm1f(-d)) : log1pf(-expf(-d))
}

extension PixelRNN {
    /// log p(value) of channel `channel` of a pixel, from the pixel's output features
    /// (`outputWidth` floats) and its values (the earlier channels are read from them).
    @inline(__always)
    func subPixelLogProbability(
        of value: Int, pixelOutputs: UnsafePointer<Float>, channel: Int, pixelValues: UnsafePointer<UInt8>
    ) -> Double {
        let levels = configuration.levels
        let offset = configuration.distribution.outputOffset(ofChannel: channel, levels: levels)
        switch configuration.distribution {
        case .softmax:
            let l = pixelOutputs + offset
            return Double(l[value] - logSumExp(l, count: levels))
        case .logisticMixture(let k):
            let mixture = LogisticMixture(components: k, levels: levels)
            return withUnsafeTemporaryAllocation(of: Float.self, capacity: max(channel, 1)) { earlier in
                for j in 0..<channel { earlier[j] = mixture.scaled(Int(pixelValues[j])) }
                return Double(mixture.logProbability(
                    of: value, outputs: pixelOutputs + offset, channel: channel, earlier: earlier.baseAddress!))
            }
        }
    }

    /// A draw from channel `channel`'s distribution, tempered by `temperature` (the
    /// mixture's weights ∝ π^{1/T}, its scales times T), by inversion of its cumulative
    /// distribution with `uniform` ∈ [0, 1): the value, its log-probability under the
    /// model (logP) and under the tempered distribution it was drawn from (logQ, = logP
    /// at T = 1). Nil for the softmax, whose callers invert the logits themselves.
    @inline(__always)
    func subPixelDraw(
        uniform: Double, pixelOutputs: UnsafePointer<Float>, channel: Int, pixelValues: UnsafePointer<UInt8>,
        temperature: Float = 1
    ) -> (value: Int, logP: Double, logQ: Double)? {
        guard case .logisticMixture(let k) = configuration.distribution else { return nil }
        let levels = configuration.levels
        let offset = configuration.distribution.outputOffset(ofChannel: channel, levels: levels)
        let mixture = LogisticMixture(components: k, levels: levels)
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: max(channel, 1)) { earlier in
            for j in 0..<channel { earlier[j] = mixture.scaled(Int(pixelValues[j])) }
            let e = earlier.baseAddress!, o = pixelOutputs + offset
            let value = mixture.draw(uniform: uniform, outputs: o, channel: channel, earlier: e, temperature: temperature)
            let logP = Double(mixture.logProbability(of: value, outputs: o, channel: channel, earlier: e))
            guard temperature != 1 else { return (value, logP, logP) }
            let logQ = mixture.logProbability(of: value, outputs: o, channel: channel, earlier: e, temperature: temperature)
            return (value, logP, Double(logQ))
        }
    }

    /// The `levels` logits of channel `channel`'s distribution (any constant shift
    /// allowed; the mixture gives normalised log-probabilities), from the pixel's output
    /// features and its earlier channels' values.
    @inline(__always)
    func subPixelLogits(
        pixelOutputs: UnsafePointer<Float>, channel: Int, pixelValues: UnsafePointer<UInt8>,
        into logits: UnsafeMutablePointer<Float>
    ) {
        let levels = configuration.levels
        let offset = configuration.distribution.outputOffset(ofChannel: channel, levels: levels)
        switch configuration.distribution {
        case .softmax:
            logits.update(from: pixelOutputs + offset, count: levels)
        case .logisticMixture(let k):
            let mixture = LogisticMixture(components: k, levels: levels)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(channel, 1)) { earlier in
                for j in 0..<channel { earlier[j] = mixture.scaled(Int(pixelValues[j])) }
                mixture.logProbabilities(
                    outputs: pixelOutputs + offset, channel: channel, earlier: earlier.baseAddress!, into: logits)
            }
        }
    }
}
