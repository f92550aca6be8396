import Imaging
import Testing
@testable import Completion
@testable import PixelRNN

/// Particles share the visible prefix above the first occluded pixel: computed once per
/// image and loaded into every particle's state, it must change nothing but the cost.
@Suite struct SharedPrefixTests {
    /// Bit-identical particles, weights, likelihoods and evidence with and without the
    /// shared prefix, for gray and RGB, several islands, resampling, row moves and a
    /// batch of images, on 1 and 2 threads.
    @Test(arguments: [(1, 0), (3, 0), (1, 2)])
    func sharingThePrefixChangesNothing(channels: Int, rowMoves: Int) throws {
        let model = try perturbedModel(channels: channels, levels: 256, spread: 0.6, inputGain: 3)
        let width = 7, height = 6
        let images = (0..<3).map { randomImage(width: width, height: height, channels: channels, seed: UInt64(40 + $0)).pixels }
        // The hole starts in the middle of row 2 and visible pixels follow it.
        var occluded = [Bool](repeating: false, count: width * height)
        for y in 2..<5 { for x in 2..<6 where y > 2 || x >= 3 { occluded[y * width + x] = true } }
        for threads in [1, 2] {
            var options = CompletionOptions(samples: 12, seed: 9, temperature: 0.9, threads: threads, particlesPerIsland: 5)
            options.rowMoves = rowMoves
            let shared = try runParticleFilter(
                model: model, images: images, occluded: occluded, height: height, width: width, options: options)
            let alone = try runParticleFilter(
                model: model, images: images, occluded: occluded, height: height, width: width, options: options,
                sharePrefix: false)
            for (a, b) in zip(shared, alone) {
                #expect(a.pixels == b.pixels)
                #expect(a.logWeights == b.logWeights)
                #expect(a.logP == b.logP)
                #expect(a.logPFilled == b.logPFilled)
                #expect(a.logEvidence == b.logEvidence)
                #expect(a.islands.map(\.resamplingSteps) == b.islands.map(\.resamplingSteps))
            }
            #expect(shared[0].islands.count == 3)
        }
    }

    /// A completer packs its model's weights once and reuses the packing: later
    /// completions with it equal those of a fresh completer, and an adapted copy of the
    /// model gets its own packing.
    @Test func reusingTheCompletersPackingChangesNothing() throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.6, inputGain: 3)
        let width = 7, height = 6
        let image = randomImage(width: width, height: height, channels: 3, seed: 71)
        var occluded = [Bool](repeating: false, count: width * height)
        for y in 2..<5 { for x in 1..<6 { occluded[y * width + x] = true } }
        let options = CompletionOptions(samples: 4, seed: 5)
        let kept = Completer(model: model)
        let first = try kept.complete(image, occluded: occluded, options: options)
        let again = try kept.complete(image, occluded: occluded, options: options)
        let fresh = try Completer(model: model).complete(image, occluded: occluded, options: options)
        for other in [again, fresh] {
            #expect(other.samples.map(\.pixels) == first.samples.map(\.pixels))
            #expect(other.pixelNLL == first.pixelNLL)
            #expect(other.report.evidence.logPVisibleNats == first.report.evidence.logPVisibleNats)
        }
        let copy = model.copy()
        copy.parameters.values[0] += 0.5
        #expect(kept.packing.weights(of: copy) !== kept.packing.weights(of: model))
        #expect(kept.packing.weights(of: model) === kept.packing.weights(of: model))
    }
}

/// The NLL map comes from the sampler's own log-probabilities along the selected
/// particle (through resampling and row moves), not from another forward pass: it must
/// equal a full forward pass over the selected completion.
@Suite struct SampledNLLMapTests {
    @Test(arguments: [(1, 1, 0), (3, 1, 0), (1, 12, 2), (3, 12, 1)])
    func nllMapEqualsAFullForwardPass(channels: Int, samples: Int, rowMoves: Int) throws {
        let model = try perturbedModel(channels: channels, levels: 256, spread: 0.6, inputGain: 3)
        let width = 7, height = 6
        let image = randomImage(width: width, height: height, channels: channels, seed: 61)
        var occluded = [Bool](repeating: false, count: width * height)
        for y in 1..<5 { for x in 1..<6 { occluded[y * width + x] = true } }
        var options = CompletionOptions(samples: samples, seed: 4, temperature: 0.6, particlesPerIsland: 6,
                                        orientation: .upright)
        options.rowMoves = rowMoves
        let result = try Completer(model: model).complete(image, occluded: occluded, options: options)
        if samples > 1 { #expect(result.report.evidence.resamplingSteps > 0) }
        let nll = UnsafeMutablePointer<Float>.allocate(capacity: width * height * channels)
        defer { nll.deallocate() }
        _ = try model.negativeLogLikelihoods(
            of: result.completed.pixels, count: 1, height: height, width: width, positionNLL: nll)
        for p in 0..<(width * height) {
            let full = (0..<channels).reduce(0.0) { $0 + Double(nll[p * channels + $1]) }
            #expect(abs(result.pixelNLL[p] - full) <= 1e-3 * max(1, abs(full)), "pixel \(p)")
        }
    }
}
