import Foundation
import Testing
@testable import PixelRNN

/// A small model with random weights everywhere (biases and initial states too), so
/// that no connection is hidden by a zero.
func randomModel(
    channels: Int, hidden: Int = 6, blocks: Int = 2, seed: UInt64 = 7, architecture: Architecture = .rowLSTM,
    orientations: Int = 1, distribution: OutputDistribution = .softmax
) throws -> PixelRNN {
    let model = try PixelRNN(
        configuration: ModelConfiguration(
            architecture: architecture, channels: channels, hidden: hidden, blocks: blocks, outputHidden: 9, levels: 16,
            orientations: orientations, distribution: distribution),
        seed: seed)
    var random = SplitMix(seed: seed &+ 99)
    let v = model.parameters.values
    for i in 0..<model.parameters.count { v[i] += (random.nextUnitFloat() - 0.5) * 0.4 }
    model.parameters.applyMask(to: v)
    return model
}

func randomPixels(count: Int, levels: Int = 16, seed: UInt64) -> [UInt8] {
    var random = SplitMix(seed: seed)
    return (0..<count).map { _ in UInt8(random.next() % UInt64(levels)) }
}

@Suite struct CausalityTests {
    /// Changing sub-pixel t (raster order, then channel) must not change the logits of
    /// any sub-pixel s ≤ t, and must change the logits of the next sub-pixel in the same row.
    @Test(arguments: [(1, false), (3, false), (1, true), (3, true)])
    func noOutputDependsOnItsOwnOrLaterSubPixels(channels: Int, mixture: Bool) throws {
        let model = try randomModel(channels: channels, distribution: mixture ? .logisticMixture(components: 3) : .softmax)
        let height = 5, width = 6, levels = model.configuration.levels
        let base = randomPixels(count: height * width * channels, seed: 3)
        let reference = model.logits(of: base, height: height, width: width)
        let subPixels = height * width * channels
        for t in 0..<subPixels {
            var changed = base
            changed[t] = changed[t] &+ 7
            let logits = model.logits(of: changed, height: height, width: width)
            for s in 0...t {
                let a = reference[(s * levels)..<((s + 1) * levels)]
                let b = logits[(s * levels)..<((s + 1) * levels)]
                #expect(a == b, "sub-pixel \(s) depends on sub-pixel \(t)")
            }
            // The Row LSTM's context is triangular: the first pixel of a row does not
            // see the end of the row above, so dependence is checked within a row.
            if t + 1 < subPixels && (t + 1) / (width * channels) == t / (width * channels) {
                let s = t + 1
                let a = reference[(s * levels)..<((s + 1) * levels)]
                let b = logits[(s * levels)..<((s + 1) * levels)]
                #expect(a != b, "sub-pixel \(s) ignores sub-pixel \(t)")
            }
        }
    }

    /// A pixel far below and to the left still sees the far right of earlier rows
    /// (the Row LSTM's triangular receptive field grows by one column per row).
    @Test func rowLSTMSeesEarlierRowsAcrossTheWidth() throws {
        let model = try randomModel(channels: 1, blocks: 1)
        let height = 6, width = 6, levels = model.configuration.levels
        let base = randomPixels(count: height * width, seed: 5)
        let reference = model.logits(of: base, height: height, width: width)
        var changed = base
        changed[width - 1] &+= 5  // top-right pixel
        let logits = model.logits(of: changed, height: height, width: width)
        let s = (height - 1) * width  // bottom-left pixel
        #expect(reference[(s * levels)..<((s + 1) * levels)] != logits[(s * levels)..<((s + 1) * levels)])
    }
}

@Suite struct FastMathTests {
    @Test func fastExpIsAccurate() {
        var worst: Float = 0
        var x: Float = -80
        while x < 80 {
            let e = fastExp(x), r = Float(exp(Double(x)))
            worst = max(worst, abs(e - r) / r)
            x += 0.173
        }
        #expect(worst < 5e-7, "relative error \(worst)")
    }
}

@Suite struct GradientTests {
    /// Σ NLL over a batch, and its gradient from the backward pass.
    func lossAndGradient(_ model: PixelRNN, _ pixels: [UInt8], count: Int, height: Int, width: Int) -> (Double, [Float]) {
        let engine = Engine(model: model, workers: 1, microBatch: count)
        let nll = pixels.withUnsafeBufferPointer {
            engine.run(pixels: $0.baseAddress!, count: count, height: height, width: width, gradientScale: 1)
        }
        let g = Array(UnsafeBufferPointer(start: engine.gradients[0].pointer, count: model.parameters.count))
        return (nll.reduce(0, +), g)
    }

    func loss(_ model: PixelRNN, _ pixels: [UInt8], count: Int, height: Int, width: Int) -> Double {
        let nll = try! model.negativeLogLikelihoods(of: pixels, count: count, height: height, width: width)
        return nll.reduce(0, +)
    }

    /// Each parameter tensor's gradient against central finite differences, along the
    /// gradient's own direction and along a random (masked) direction.
    /// Tolerance: 2 % of the gradient's norm (float32 central differences, ε = 1e-3; larger steps cross ReLU kinks).
    @Test(arguments: Architecture.allCases, [1, 3])
    func everyTensorMatchesFiniteDifferences(architecture: Architecture, channels: Int) throws {
        try checkGradients(architecture: architecture, channels: channels, distribution: .softmax)
    }

    /// The same for the discretized logistic mixture output (its loss, log-scale clamp
    /// and linear channel coefficients included).
    @Test(arguments: [(Architecture.rowLSTM, 1), (.rowLSTM, 3), (.pixelCNN, 3), (.diagonalBiLSTM, 3)])
    func mixtureOutputMatchesFiniteDifferences(architecture: Architecture, channels: Int) throws {
        try checkGradients(architecture: architecture, channels: channels, distribution: .logisticMixture(components: 3))
    }

    func checkGradients(architecture: Architecture, channels: Int, distribution: OutputDistribution) throws {
        let model = try randomModel(
            channels: channels, hidden: 6, blocks: 2, seed: 11, architecture: architecture, distribution: distribution)
        if architecture != .rowLSTM { liftReLUBiases(model) }
        let count = 2, height = 4, width = 5
        let pixels = randomPixels(count: count * height * width * channels, seed: 9)
        let (_, gradient) = lossAndGradient(model, pixels, count: count, height: height, width: width)
        let values = model.parameters.values, mask = model.parameters.mask
        var random = SplitMix(seed: 1234)
        let epsilon: Float = 1e-3
        for entry in model.parameters.entries {
            let range = entry.offset..<(entry.offset + entry.count)
            let g = range.map { gradient[$0] }
            let gNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(gNorm > 0, "\(entry.name) has a zero gradient")
            guard gNorm > 0 else { continue }
            let randomDirection = range.map { (random.nextUnitFloat() - 0.5) * mask[$0] }
            let rNorm = randomDirection.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for direction in [g.map { $0 / gNorm }, randomDirection.map { $0 / rNorm }] {
                let original = range.map { values[$0] }
                for (k, i) in range.enumerated() { values[i] = original[k] + epsilon * direction[k] }
                let plus = loss(model, pixels, count: count, height: height, width: width)
                for (k, i) in range.enumerated() { values[i] = original[k] - epsilon * direction[k] }
                let minus = loss(model, pixels, count: count, height: height, width: width)
                for (k, i) in range.enumerated() { values[i] = original[k] }
                let numeric = (plus - minus) / Double(2 * epsilon)
                let analytic = zip(g, direction).reduce(0.0) { $0 + Double($1.0 * $1.1) }
                #expect(
                    abs(numeric - analytic) <= 0.02 * Double(gNorm),
                    "\(entry.name): finite difference \(numeric), backward \(analytic), |g| \(gNorm)")
            }
        }
    }

    /// Gradients summed over two workers equal those of one worker.
    @Test(arguments: Architecture.allCases)
    func workersGiveTheSameGradient(architecture: Architecture) throws {
        let model = try randomModel(channels: 1, seed: 4, architecture: architecture)
        let count = 5, height = 4, width = 4
        let pixels = randomPixels(count: count * height * width, seed: 2)
        let (l1, g1) = lossAndGradient(model, pixels, count: count, height: height, width: width)
        let engine = Engine(model: model, workers: 2, microBatch: 2)
        let nll = pixels.withUnsafeBufferPointer {
            engine.run(pixels: $0.baseAddress!, count: count, height: height, width: width, gradientScale: 1)
        }
        let g2 = Array(UnsafeBufferPointer(start: engine.gradients[0].pointer, count: model.parameters.count))
        #expect(abs(nll.reduce(0, +) - l1) < 1e-3)
        let diff = zip(g1, g2).map { abs($0 - $1) }.max() ?? 0
        #expect(diff < 1e-4)
    }
}
