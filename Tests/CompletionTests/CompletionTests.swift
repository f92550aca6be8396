import Foundation
import Imaging
import Testing
import TestSupport
@testable import Completion
@testable import PixelRNN

// MARK: - Helpers

/// A small model whose weights (biases and initial states too) are all perturbed, so
/// that every pixel depends visibly on the ones before it. The input is x / 255 whatever
/// the levels, so the first layer is amplified by 255 / (levels − 1) times `inputGain`.
func perturbedModel(
    channels: Int, levels: Int, hidden: Int = 6, blocks: Int = 2, spread: Float = 1.2, inputGain: Float = 1, seed: UInt64 = 5,
    distribution: OutputDistribution = .softmax
) throws -> PixelRNN {
    let model = try PixelRNN(
        configuration: ModelConfiguration(channels: channels, hidden: hidden, blocks: blocks, outputHidden: 9, levels: levels,
                                          distribution: distribution),
        seed: seed)
    var random = RandomSource(seed: seed, stream: 77)
    let v = model.parameters.values
    for i in 0..<model.parameters.count { v[i] += (random.nextFloat() - 0.5) * spread }
    let input = model.inputConvolution
    for i in 0..<input.weightCount { v[input.weightOffset + i] *= inputGain * 255 / Float(levels - 1) }
    model.parameters.applyMask(to: v)
    return model
}

func randomImage(width: Int, height: Int, channels: Int, levels: Int = 256, seed: UInt64) -> Image {
    var random = RandomSource(seed: seed, stream: 5)
    let pixels = (0..<(width * height * channels)).map { _ in UInt8(random.nextInt(below: levels)) }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

func randomMask(count: Int, fraction: Double, seed: UInt64) -> [Bool] {
    var random = RandomSource(seed: seed, stream: 9)
    return (0..<count).map { _ in random.nextDouble() < fraction }
}

/// |a − b| ≤ tolerance · max(|a|, |b|), or both tiny.
func isClose(_ a: Double, _ b: Double, relative: Double, absolute: Double = 1e-9) -> Bool {
    abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
}

/// log p(image) by one full forward pass.
func fullLogP(_ model: PixelRNN, _ image: Image) throws -> Double {
    -(try model.negativeLogLikelihoods(of: image.pixels, count: 1, height: image.height, width: image.width)[0])
}

// MARK: - Completion behaviour

@Suite struct CompletionBehaviourTests {
    /// Visible pixels come back bit-identical, occluded ones within the model's levels,
    /// and each sample's log p(completed) equals a full forward pass's (relative 1e-4).
    @Test(arguments: [(1, 4), (3, 1), (3, 8)])
    func visiblePixelsAreKeptAndLikelihoodsMatchFullPass(channels: Int, samples: Int) throws {
        let model = try perturbedModel(channels: channels, levels: 256, spread: 0.4)
        let image = randomImage(width: 7, height: 5, channels: channels, seed: 3)
        let mask = randomMask(count: 35, fraction: 0.4, seed: 4)
        let result = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: samples, seed: 11))
        #expect(result.samples.count == samples)
        for sample in result.samples {
            #expect(sample.channels == channels)
            for p in 0..<35 where !mask[p] {
                for ch in 0..<channels { #expect(sample.pixels[p * channels + ch] == image.pixels[p * channels + ch]) }
            }
        }
        // Some occluded sub-pixel differs from the input in some sample (the fill is sampled, not copied).
        let changed = result.samples.contains { s in (0..<35).contains { mask[$0] && s.pixels[$0 * channels] != image.pixels[$0 * channels] } }
        #expect(changed)
        for (k, sample) in result.samples.enumerated() {
            let exact = try fullLogP(model, sample)
            let incremental = result.report.samples[k].logPNats
            #expect(isClose(incremental, exact, relative: 1e-4), "sample \(k): \(incremental) vs \(exact)")
        }
        // The NLL map sums to the selected completion's NLL.
        let mapTotal = result.pixelNLL.reduce(0, +)
        #expect(isClose(-mapTotal, result.report.samples[result.selectedIndex].logPNats, relative: 1e-4))
    }

    /// Everything occluded: unconditional sampling; the evidence is exactly log 1 = 0
    /// and the filled pixels' log-probability is the whole image's.
    @Test func fullyOccludedImageIsUnconditionalSampling() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let image = Image(width: 6, height: 4, channels: 1, filledWith: 200)
        let mask = [Bool](repeating: true, count: 24)
        let result = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 3, seed: 2))
        let report = result.report
        #expect(result.samples.count == 3)
        #expect(report.evidence.logPVisibleNats == 0)
        #expect(report.evidence.exact)
        #expect(report.evidence.nllVisibleBitsPerDim == nil)
        #expect(report.typicality.assessment == "unknown")
        #expect(report.image.visiblePixels == 0 && report.image.occludedPixels == 24)
        for s in report.samples {
            #expect(s.logPFilledRasterNats == s.logPNats)
            #expect(s.logPFilledGivenRestNats == s.logPNats)
            #expect(isClose(s.weight, 1.0 / 3, relative: 1e-12))
        }
        #expect(result.samples[0] != result.samples[1] || result.samples[1] != result.samples[2])
    }

    /// Nothing occluded: no sampling, the image itself, its exact likelihood.
    @Test func nothingOccludedGivesTheLikelihoodReport() throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        let image = randomImage(width: 5, height: 4, channels: 3, seed: 8)
        let result = try Completer(model: model).complete(
            image, occluded: [Bool](repeating: false, count: 20), options: CompletionOptions(samples: 5, seed: 1))
        let report = result.report
        #expect(result.samples == [image])
        #expect(result.completed == image)
        #expect(!report.sampling.sampled)
        #expect(report.evidence.exact)
        #expect(report.evidence.effectiveSampleSize == nil && report.evidence.particles == 0)
        let exact = try fullLogP(model, image)
        #expect(report.evidence.logPVisibleNats == exact)
        #expect(report.samples.count == 1 && report.samples[0].logPNats == exact)
        #expect(report.samples[0].logPFilledGivenRestNats == 0 && report.samples[0].logPFilledRasterNats == 0)
        #expect(isClose(report.evidence.prefixLogPNats, exact, relative: 1e-5))
    }

    /// The same seed gives bit-identical completions and numbers with 1 and 2 threads,
    /// with several islands, resampling and a temperature ≠ 1; another seed differs.
    @Test(arguments: [1.0, 0.8])
    func resultsDependOnTheSeedOnlyNotOnThreads(temperature: Double) throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.6, inputGain: 4)
        let image = randomImage(width: 8, height: 6, channels: 1, seed: 1)
        var mask = [Bool](repeating: false, count: 48)
        for y in 1..<4 { for x in 2..<6 { mask[y * 8 + x] = true } }
        let completer = Completer(model: model)
        func run(threads: Int, seed: UInt64) throws -> CompletionResult {
            try completer.complete(
                image, occluded: mask,
                options: CompletionOptions(samples: 20, seed: seed, temperature: temperature, threads: threads, particlesPerIsland: 8))
        }
        let one = try run(threads: 1, seed: 42), two = try run(threads: 2, seed: 42), again = try run(threads: 1, seed: 42)
        #expect(one.report.evidence.islands == 3)
        #expect(one.report.evidence.resamplingSteps > 0)
        for other in [two, again] {
            #expect(other.samples == one.samples)
            #expect(other.selectedIndex == one.selectedIndex)
            #expect(other.report.samples == one.report.samples)
            #expect(other.report.evidence == one.report.evidence)
            #expect(other.pixelNLL == one.pixelNLL)
        }
        let otherSeed = try run(threads: 2, seed: 43)
        #expect(otherSeed.samples != one.samples)
    }

    /// The naive sampler (a full forward pass per occluded sub-pixel) and the incremental
    /// one draw the same completion from the same random stream: their logits agree to
    /// float rounding, so the inverse-CDF draws coincide.
    @Test(arguments: [1, 3])
    func naiveAndIncrementalSamplersAgree(channels: Int) throws {
        let model = try perturbedModel(channels: channels, levels: 256, spread: 0.4, inputGain: 2)
        let image = randomImage(width: 6, height: 5, channels: channels, seed: 21)
        let mask = randomMask(count: 30, fraction: 0.5, seed: 22)
        let incremental = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 1, seed: 5))
        let naive = try CompletionBenchmark.naiveCompletion(model: model, image: image, occluded: mask, seed: 5)
        #expect(naive == incremental.completed)
    }

    /// Batches of images sharing a mask give each image the completions it would get
    /// in a batch of any thread count; the batch keeps visible pixels.
    @Test func batchIsIndependentOfThreads() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let images = (0..<5).map { randomImage(width: 6, height: 6, channels: 1, seed: UInt64(10 + $0)) }
        let mask = (0..<36).map { $0 >= 18 }
        let completer = Completer(model: model)
        let a = try completer.completeBatch(images, occluded: mask, options: CompletionOptions(samples: 1, seed: 3, threads: 1))
        let b = try completer.completeBatch(images, occluded: mask, options: CompletionOptions(samples: 1, seed: 3, threads: 2))
        #expect(a.map(\.samples) == b.map(\.samples))
        for (i, result) in a.enumerated() {
            #expect(Array(result.samples[0].pixels[0..<18]) == Array(images[i].pixels[0..<18]))
        }
    }

    /// Gray input to an RGB model is replicated; RGB input to a gray model becomes BT.601 luma.
    @Test func channelConversions() throws {
        let rgbModel = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        let gray = randomImage(width: 4, height: 3, channels: 1, seed: 6)
        let mask = (0..<12).map { $0 == 5 }
        let fromGray = try Completer(model: rgbModel).complete(gray, occluded: mask)
        #expect(fromGray.report.image.channelConversion == "gray_replicated_to_rgb")
        #expect(fromGray.report.image.inputChannels == 1 && fromGray.report.image.modelChannels == 3)
        for p in 0..<12 where !mask[p] {
            for ch in 0..<3 { #expect(fromGray.completed.pixels[p * 3 + ch] == gray.pixels[p]) }
        }
        let grayModel = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let rgb = Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 10, 200, 30])
        let fromRGB = try Completer(model: grayModel).complete(rgb, occluded: [false, false])
        #expect(fromRGB.completed.pixels == [76, 124])  // round(0.299·255) = 76; 2.99 + 117.4 + 3.42 = 123.81
        #expect(fromRGB.report.image.channelConversion == "rgb_to_gray_bt601_luma")
    }

    @Test func badInputsAreTypedErrors() throws {
        let model = try perturbedModel(channels: 1, levels: 4, spread: 0.4)
        let completer = Completer(model: model)
        let image = Image(width: 3, height: 2, channels: 1, filledWith: 1)
        #expect(throws: CompletionError.maskSizeMismatch(imageWidth: 3, imageHeight: 2, maskWidth: 5, maskHeight: 1)) {
            try completer.complete(image, occluded: [Bool](repeating: false, count: 5))
        }
        #expect(throws: CompletionError.self) {
            try completer.complete(image, occluded: [Bool](repeating: false, count: 6), options: CompletionOptions(samples: 0))
        }
        #expect(throws: CompletionError.self) {
            try completer.complete(image, occluded: [Bool](repeating: false, count: 6), options: CompletionOptions(temperature: 0))
        }
        #expect(throws: CompletionError.self) {
            try completer.complete(image, occluded: [Bool](repeating: false, count: 6), options: CompletionOptions(temperature: .nan))
        }
        // A visible value beyond 4 levels is refused; the same value under the mask is not looked at.
        var bright = image
        bright[1, 2, 0] = 9
        #expect(throws: CompletionError.valueOutOfRange(value: 9, levels: 4, y: 1, x: 2)) {
            try completer.complete(bright, occluded: [Bool](repeating: false, count: 6))
        }
        var occludedThere = [Bool](repeating: false, count: 6)
        occludedThere[5] = true
        _ = try completer.complete(bright, occluded: occludedThere)
        let description = CompletionError.valueOutOfRange(value: 9, levels: 4, y: 1, x: 2).description
        #expect(description.contains("9") && description.contains("4 levels"))
    }
}

// MARK: - The evidence

@Suite struct EvidenceTests {
    /// exact log p(visible): enumerate every filling of the occluded sub-pixels (levels^n)
    /// and add the full forward pass's probabilities.
    func exactLogEvidence(model: PixelRNN, image: Image, occluded: [Bool]) throws -> Double {
        let c = image.channels, levels = model.configuration.levels
        let slots = (0..<occluded.count).filter { occluded[$0] }.flatMap { p in (0..<c).map { p * c + $0 } }
        let fillings = Int(pow(Double(levels), Double(slots.count)))
        var batch: [UInt8] = []
        for f in 0..<fillings {
            var pixels = image.pixels
            var rest = f
            for s in slots {
                pixels[s] = UInt8(rest % levels)
                rest /= levels
            }
            batch += pixels
        }
        let nll = try model.negativeLogLikelihoods(of: batch, count: fillings, height: image.height, width: image.width)
        return logSumExp(nll.map { -$0 })
    }

    /// The particle estimate of p(visible) is unbiased: its average over 48 seeds
    /// (K = 64 particles in 8 islands each) is within 4 standard errors of the exact
    /// value, and that standard error is below 5 % of it. Gray (2×3, three occluded
    /// pixels in the middle, 4³ fillings) and RGB (2×2, the two middle pixels, 4⁶
    /// fillings); T = 1 and tempered proposals (weights p/q); with no row moves and with
    /// three (moves that did not keep the particles' target would bias the later weights,
    /// and so the estimate). The moves wait for a resampling, so the cases with moves use
    /// a temperature far enough from 1 that resampling happens, and check that they ran.
    /// The logistic mixture's tempered proposal (weights ∝ π^{1/T}, scales times T) is
    /// checked the same way.
    @Test(arguments: [(1, 1.0, 0, 0), (1, 0.7, 3, 0), (3, 1.4, 0, 0), (3, 0.5, 3, 0), (3, 1.0, 0, 2), (3, 0.6, 3, 2),
                      (1, 1.5, 0, 2)])
    func evidenceEstimateConvergesToExactValue(channels: Int, temperature: Double, rowMoves: Int, mixture: Int) throws {
        let model = try perturbedModel(channels: channels, levels: 4, hidden: 6, blocks: 2, spread: 1.5, inputGain: 3, seed: 3,
                                       distribution: mixture > 0 ? .logisticMixture(components: mixture) : .softmax)
        let (width, height) = channels == 1 ? (3, 2) : (2, 2)
        let image = randomImage(width: width, height: height, channels: channels, levels: 4, seed: 12)
        let occluded: [Bool] = channels == 1 ? [false, true, true, true, false, false] : [false, true, true, false]
        let exact = try exactLogEvidence(model: model, image: image, occluded: occluded)
        let completer = Completer(model: model)
        var estimates: [Double] = []
        var smallestESS = Double.infinity
        var movesProposed = 0
        for seed in 0..<48 {
            var options = CompletionOptions(samples: 64, seed: UInt64(seed), temperature: temperature, threads: 2)
            options.rowMoves = rowMoves
            let result = try completer.complete(image, occluded: occluded, options: options)
            #expect(!result.report.evidence.exact)
            estimates.append(exp(result.report.evidence.logPVisibleNats - exact))  // Ẑ / Z
            smallestESS = min(smallestESS, result.report.evidence.effectiveSampleSize ?? .infinity)
            movesProposed += result.report.evidence.rowMovesProposed
        }
        // The moves really ran where asked for (they wait for a resampling), and never otherwise.
        #expect(rowMoves == 0 ? movesProposed == 0 : movesProposed > 0, "\(movesProposed) row moves proposed")
        let mean = estimates.reduce(0, +) / Double(estimates.count)
        let variance = estimates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(estimates.count - 1)
        let standardError = (variance / Double(estimates.count)).squareRoot()
        #expect(standardError < 0.05, "standard error \(standardError) of Ẑ/Z")
        #expect(abs(mean - 1) < 4 * standardError + 1e-3, "mean Ẑ/Z = \(mean) ± \(standardError)")
        // The later visible pixels really depend on the fill (unequal weights), or the test would be empty.
        #expect(smallestESS < 60, "final ESS never below \(smallestESS) of 64")
    }

    /// With no visible pixel after the occlusion and T = 1, the evidence is exact and
    /// equals the probability of the visible prefix.
    @Test func evidenceIsExactWithoutLaterVisiblePixels() throws {
        let model = try perturbedModel(channels: 1, levels: 4, spread: 2.5)
        let image = randomImage(width: 3, height: 2, channels: 1, levels: 4, seed: 2)
        let occluded = [false, false, true, true, true, true]
        let result = try Completer(model: model).complete(image, occluded: occluded, options: CompletionOptions(samples: 4, seed: 1))
        let exact = try EvidenceTests().exactLogEvidence(model: model, image: image, occluded: occluded)
        #expect(result.report.evidence.exact)
        #expect(isClose(result.report.evidence.logPVisibleNats, exact, relative: 1e-5))
        #expect(isClose(result.report.evidence.prefixLogPNats, exact, relative: 1e-5))
        #expect(result.report.evidence.effectiveSampleSize.map { isClose($0, 4, relative: 1e-12) } == true)
    }

    /// Systematic resampling keeps each index about n·w times, never fewer than ⌊n·w⌋.
    @Test func systematicResamplingFollowsTheWeights() {
        var random = RandomSource(seed: 1)
        let weights = [0.5, 0.25, 0.125, 0.125]
        for _ in 0..<20 {
            let picks = systematicResample(logWeights: weights.map { log($0) }[...], random: &random)
            #expect(picks == [0, 0, 1, 2] || picks == [0, 0, 1, 3])
        }
        #expect(isClose(effectiveSampleSize([0, 0, 0, 0].map { Double($0) }[...]), 4, relative: 1e-12))
        #expect(isClose(effectiveSampleSize([0, -1000, -1000].map { Double($0) }[...]), 1, relative: 1e-12))
    }
}

// MARK: - The report

@Suite struct ReportTests {
    /// Every documented field is present; bits/dim = −nats / (D ln 2); weights sum to 1;
    /// exactly one sample is selected; counts add up; a held-out distribution in the
    /// metadata gives a percentile.
    @Test func reportFieldsArePresentAndConsistent() throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        model.metadata = [
            "name": "test-rgb", "training_data": "noise", "test_bpd": "5.0", "test_nll_nats": "312.0",
            "test_bpd_p01": "3.0", "test_bpd_p50": "5.0", "test_bpd_p99": "7.0", "test_bpd_p05": "3.5",
        ]
        let identity = ModelIdentity(model: model, weightsSHA256: String(repeating: "ab", count: 32))
        let image = randomImage(width: 6, height: 5, channels: 3, seed: 4)
        let mask = randomMask(count: 30, fraction: 0.3, seed: 5)
        let result = try Completer(model: model, identity: identity).complete(
            image, occluded: mask, options: CompletionOptions(samples: 4, seed: 9, temperature: 0.9), queuedSeconds: 1.5)
        let report = result.report
        let d = Double(6 * 5 * 3)
        for s in report.samples {
            #expect(isClose(s.nllBitsPerDim, -s.logPNats / (d * log(2.0)), relative: 1e-12))
            #expect(isClose(s.logPFilledGivenRestNats, s.logPNats - report.evidence.logPVisibleNats, relative: 1e-12))
            #expect(s.logPFilledRasterNats < 0 && s.logPNats < s.logPFilledRasterNats)
        }
        #expect(isClose(report.samples.map(\.weight).reduce(0, +), 1, relative: 1e-9))
        #expect(report.samples.filter(\.selected).map(\.sample) == [report.selectedSample])
        #expect(report.image.occludedPixels + report.image.visiblePixels == 30)
        #expect(report.image.occludedPixels == mask.filter { $0 }.count)
        #expect(report.image.subPixels == 90 && report.image.visibleSubPixels == 3 * report.image.visiblePixels)
        #expect(report.evidence.nllVisibleBitsPerDim.map {
            isClose($0, -report.evidence.logPVisibleNats / (Double(report.image.visibleSubPixels) * log(2.0)), relative: 1e-12)
        } == true)
        #expect(report.model.name == "test-rgb" && report.model.trainingData == "noise")
        #expect(report.model.testNllBitsPerDim == 5.0 && report.model.testNllNats == 312)
        #expect(report.model.heldoutPercentiles.map(\.percentile) == [1, 5, 50, 99])
        #expect(report.typicality.visibleBitsPerDim == report.evidence.nllVisibleBitsPerDim)
        #expect(report.typicality.percentile != nil && report.typicality.outOfDistribution != nil)
        #expect(report.timings.queuedSeconds == 1.5 && report.timings.totalSeconds >= report.timings.computeSeconds + 1.5 - 1e-12)
        #expect(report.sampling.samples == 4 && report.sampling.seed == 9 && report.sampling.temperature == 0.9)

        let json = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
        for key in ["format_version", "model", "image", "sampling", "samples", "selected_sample", "evidence", "typicality", "timings"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let modelJSON = try #require(json["model"] as? [String: Any])
        for key in ["name", "weights_sha256", "architecture", "training_data", "test_nll_bits_per_dim", "test_nll_nats",
                    "heldout_percentiles"] {
            #expect(modelJSON[key] != nil, "missing model.\(key)")
        }
        let sampleJSON = try #require((json["samples"] as? [[String: Any]])?.first)
        for key in ["sample", "selected", "weight", "log_p_nats", "nll_bits_per_dim", "log_p_filled_given_rest_nats",
                    "log_p_filled_raster_nats"] {
            #expect(sampleJSON[key] != nil, "missing samples[0].\(key)")
        }
        let evidenceJSON = try #require(json["evidence"] as? [String: Any])
        for key in ["log_p_visible_nats", "nll_visible_bits_per_dim", "exact", "prefix_log_p_nats", "effective_sample_size",
                    "min_effective_sample_size", "resampling_steps", "particles", "islands", "particles_per_island"] {
            #expect(evidenceJSON[key] != nil, "missing evidence.\(key)")
        }
        let timingsJSON = try #require(json["timings"] as? [String: Any])
        #expect(Set(timingsJSON.keys) == ["queued_seconds", "compute_seconds", "total_seconds"])
        let decoded = try CompletionReport.decoder.decode(CompletionReport.self, from: report.jsonData())
        #expect(decoded == report)
    }

    /// Percentiles interpolate linearly; outside [p01, p99] is out of distribution.
    @Test(arguments: [
        (2.0, 1.0, true, "unusually_likely"), (3.0, 1.0, false, "typical"), (4.0, 25.5, false, "typical"),
        (6.0, 74.5, false, "typical"), (7.5, 99.0, true, "unusually_unlikely"),
    ])
    func typicality(bitsPerDim: Double, percentile: Double, outlier: Bool, assessment: String) {
        let reference = [(1.0, 3.0), (50.0, 5.0), (99.0, 7.0)].map { PercentilePoint(percentile: $0.0, bitsPerDim: $0.1) }
        let t = Typicality(visibleBitsPerDim: bitsPerDim, reference: reference)
        #expect(t.percentile.map { isClose($0, percentile, relative: 1e-12) } == true)
        #expect(t.outOfDistribution == outlier)
        #expect(t.assessment == assessment)
        #expect(Typicality(visibleBitsPerDim: bitsPerDim, reference: []).outOfDistribution == nil)
    }
}

// MARK: - Job outputs

@Suite struct JobOutputTests {
    /// completed.png decodes to the selected completion, samples/ holds every sample
    /// when K > 1 (and is absent when K = 1), preview.png is a picture, report.json
    /// decodes to the report.
    @Test(arguments: [1, 3])
    func writesTheJobFolder(samples: Int) throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        let image = randomImage(width: 9, height: 7, channels: 3, seed: 2)
        let mask = Mask(width: 9, height: 7, occluded: randomMask(count: 63, fraction: 0.3, seed: 1))
        let result = try Completer(model: model).complete(image, mask: mask, options: CompletionOptions(samples: samples, seed: 4))
        let folder = try TemporaryDirectory()
        let out = folder.url.appendingPathComponent("job").path
        try writeJobOutputs(result, to: out, sync: true)
        #expect(try Image.decode(contentsOf: out + "/completed.png") == result.completed)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        if samples == 1 {
            #expect(names == ["completed.png", "preview.png", "report.json"])
        } else {
            #expect(names == ["completed.png", "preview.png", "report.json", "samples"])
            for k in 0..<samples {
                #expect(try Image.decode(contentsOf: out + "/samples/sample-\(k + 1).png") == result.samples[k])
            }
        }
        let preview = try Image.decode(contentsOf: out + "/preview.png")
        // Input, the completions and the heat map, 4× enlarged, side by side, with captions.
        #expect(preview.width > (2 + samples) * 9 * 4 && preview.height > 7 * 4 + 12)
        #expect(preview.channels == 3 && preview.alpha == nil)
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        #expect(try CompletionReport.decoder.decode(CompletionReport.self, from: data) == result.report)
    }

    @Test func unwritableFolderIsATypedError() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let result = try Completer(model: model).complete(
            Image(width: 2, height: 2, channels: 1, filledWith: 3), occluded: [false, true, false, false])
        let folder = try TemporaryDirectory()
        let blocker = folder.url.appendingPathComponent("file").path
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data([1])))
        #expect(throws: CompletionError.self) { try writeJobOutputs(result, to: blocker + "/job") }
    }
}

@Suite struct LargeImageTests {
    /// An image above the batched-forward limit gets its NLL map row by row; the map
    /// still sums to the sample's log-likelihood.
    @Test func largeImageNLLMapIsComputedRowByRow() throws {
        let model = try perturbedModel(channels: 1, levels: 16, hidden: 6, blocks: 1)
        let width = 160, height = 110
        #expect(width * height > Completer.fullForwardPositionLimit)
        let image = randomImage(width: width, height: height, channels: 1, levels: 16, seed: 3)
        let occluded = (0..<(width * height)).map { $0 / width >= 100 && $0 % width < 40 }
        let result = try Completer(model: model).complete(image, occluded: occluded, options: CompletionOptions(seed: 2))
        let mapTotal = result.pixelNLL.reduce(0, +)
        let logP = try #require(result.report.samples.first?.logPNats)
        #expect(isClose(mapTotal, -logP, relative: 1e-4))
        for p in 0..<(width * height) where !occluded[p] { #expect(result.completed.pixels[p] == image.pixels[p]) }
    }
}
