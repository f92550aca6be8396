import Foundation
import Testing
@testable import PixelRNN

/// A small model with random weights everywhere (biases and initial states too), so
/// that no connection is hidden by a zero.
func randomModel(channels: Int, hidden: Int = 6, blocks: Int = 2, seed: UInt64 = 7) throws -> PixelRNN {
    let model = try PixelRNN(
        configuration: ModelConfiguration(channels: channels, hidden: hidden, blocks: blocks, outputHidden: 9, levels: 16),
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
    @Test(arguments: [1, 3])
    func noOutputDependsOnItsOwnOrLaterSubPixels(channels: Int) throws {
        let model = try randomModel(channels: channels)
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
