import Foundation
import Imaging
import Testing
@testable import PixelRNN

@Suite struct LogisticMixtureTests {
    /// Random mixture parameters for one channel, with log-scales spread from the
    /// clamp (−7, a near point mass) to wide (+3).
    func randomOutputs(components k: Int, channel: Int, seed: UInt64) -> [Float] {
        var random = SplitMix(seed: seed)
        func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * random.nextUnitFloat() }
        var outputs: [Float] = []
        for _ in 0..<k { outputs.append(uniform(-3, 3)) }           // mixture logits
        for _ in 0..<k { outputs.append(uniform(-1.3, 1.3)) }       // means (some beyond the ends)
        for _ in 0..<k { outputs.append(uniform(-9, 3)) }           // log-scales
        for _ in 0..<(k * channel) { outputs.append(uniform(-2, 2)) } // coefficients
        return outputs
    }

    /// The mass of every level, from the logistic CDF in double precision.
    func referenceMasses(_ outputs: [Float], components k: Int, channel: Int, earlier: [Float], levels: Int) -> [Double] {
        var masses = [Double](repeating: 0, count: levels)
        let logits = (0..<k).map { Double(outputs[$0]) }
        let top = logits.max()!
        let weights = logits.map { exp($0 - top) }
        let total = weights.reduce(0, +)
        for i in 0..<k {
            var mean = Double(outputs[k + i])
            for j in 0..<channel { mean += tanh(Double(outputs[3 * k + j * k + i])) * Double(earlier[j]) }
            let s = exp(max(Double(outputs[2 * k + i]), -7))
            func cdf(_ x: Double) -> Double { 1 / (1 + exp(-(x - mean) / s)) }
            for v in 0..<levels {
                let x = 2 * Double(v) / Double(levels - 1) - 1, d = 1 / Double(levels - 1)
                let upper = v == levels - 1 ? 1 : cdf(x + d), lower = v == 0 ? 0 : cdf(x - d)
                masses[v] += weights[i] / total * (upper - lower)
            }
        }
        return masses
    }

    /// Probabilities sum to 1 over the levels and equal the double-precision CDF
    /// differences wherever the mass is not negligible, for 16 and 256 levels and every
    /// channel position (0, 1 or 2 earlier channels).
    @Test(arguments: [16, 256], [0, 1, 2])
    func probabilitiesMatchTheLogisticCDF(levels: Int, channel: Int) {
        let k = 4
        let mixture = LogisticMixture(components: k, levels: levels)
        let earlier: [Float] = [-0.4, 0.9]
        for seed in UInt64(1)...20 {
            let outputs = randomOutputs(components: k, channel: channel, seed: seed)
            var logP = [Float](repeating: 0, count: levels)
            outputs.withUnsafeBufferPointer { o in
                earlier.withUnsafeBufferPointer { e in
                    mixture.logProbabilities(outputs: o.baseAddress!, channel: channel, earlier: e.baseAddress!,
                                             into: &logP)
                }
            }
            let total = logP.reduce(0.0) { $0 + exp(Double($1)) }
            #expect(abs(total - 1) < 1e-4, "seed \(seed): masses sum to \(total)")
            let reference = referenceMasses(outputs, components: k, channel: channel, earlier: earlier, levels: levels)
            for v in 0..<levels where reference[v] > 1e-6 {
                #expect(abs(Double(logP[v]) - log(reference[v])) < 2e-3, "seed \(seed), level \(v)")
            }
            #expect(logP.allSatisfy { $0.isFinite }, "seed \(seed): a level has log-probability \(logP.first { !$0.isFinite }!)")
        }
    }

    /// The single-value path agrees with the all-levels path.
    @Test func singleValueAgreesWithAllLevels() {
        let mixture = LogisticMixture(components: 5, levels: 256)
        let earlier: [Float] = [0.2, -0.7]
        let outputs = randomOutputs(components: 5, channel: 2, seed: 77)
        var all = [Float](repeating: 0, count: 256)
        outputs.withUnsafeBufferPointer { o in
            earlier.withUnsafeBufferPointer { e in
                mixture.logProbabilities(outputs: o.baseAddress!, channel: 2, earlier: e.baseAddress!, into: &all)
                for v in [0, 1, 17, 128, 254, 255] {
                    let one = mixture.logProbability(of: v, outputs: o.baseAddress!, channel: 2, earlier: e.baseAddress!)
                    #expect(abs(one - all[v]) < 1e-4 * max(1, abs(all[v])))
                }
            }
        }
    }

    /// Inversion draws follow the distribution: uniform numbers on a fine grid give each
    /// level a share equal to its probability (within two grid steps), and the draw's
    /// level is never one of zero probability. At a temperature T ≠ 1 they follow the
    /// tempered mixture, whose level probabilities (``logProbability`` at T) sum to 1.
    @Test(arguments: [(0, Float(1)), (2, 1), (0, 0.6), (2, 0.6), (1, 1.5)])
    func inversionDrawsFollowTheDistribution(channel: Int, temperature: Float) {
        let levels = 256, k = 4, n = 20_000
        let mixture = LogisticMixture(components: k, levels: levels)
        let earlier: [Float] = [0.3, -0.5]
        for seed in UInt64(1)...5 {
            let outputs = randomOutputs(components: k, channel: channel, seed: seed)
            var logP = [Float](repeating: 0, count: levels)
            var counts = [Int](repeating: 0, count: levels)
            outputs.withUnsafeBufferPointer { o in
                earlier.withUnsafeBufferPointer { e in
                    if temperature == 1 {
                        mixture.logProbabilities(outputs: o.baseAddress!, channel: channel, earlier: e.baseAddress!, into: &logP)
                    } else {
                        for v in 0..<levels {
                            logP[v] = mixture.logProbability(of: v, outputs: o.baseAddress!, channel: channel,
                                                             earlier: e.baseAddress!, temperature: temperature)
                        }
                    }
                    for i in 0..<n {
                        let v = mixture.draw(uniform: (Double(i) + 0.5) / Double(n), outputs: o.baseAddress!,
                                             channel: channel, earlier: e.baseAddress!, temperature: temperature)
                        counts[v] += 1
                    }
                }
            }
            let total = logP.reduce(0.0) { $0 + exp(Double($1)) }
            #expect(abs(total - 1) < 1e-4, "seed \(seed): the levels' probabilities sum to \(total)")
            for v in 0..<levels {
                #expect(abs(Double(counts[v]) / Double(n) - exp(Double(logP[v]))) <= 2.0 / Double(n) + 1e-4,
                        "seed \(seed), level \(v): \(counts[v]) of \(n) against p = \(exp(Double(logP[v])))")
            }
        }
    }

    /// Unconditional samples from a mixture model follow its own distribution: the
    /// first sub-pixel's empirical frequencies match its probabilities.
    @Test func samplesFollowTheDistribution() throws {
        let model = try randomModel(channels: 3, distribution: .logisticMixture(components: 3))
        let images = try UnconditionalSampler.sample(model: model, count: 2000, height: 1, width: 1, seed: 5)
        let logits = model.logits(of: [0, 0, 0], height: 1, width: 1)
        var counts = [Double](repeating: 0, count: 16)
        for image in images { counts[Int(image.pixels[0])] += 1 }
        for v in 0..<16 {
            let p = exp(Double(logits[v]))
            let sd = (p * (1 - p) / 2000).squareRoot()
            #expect(abs(counts[v] / 2000 - p) <= 5 * sd + 1e-3, "level \(v): \(counts[v] / 2000) vs \(p)")
        }
    }
}
