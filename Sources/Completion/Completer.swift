// Image completion with a PixelRNN: the public entry points.

public import Imaging
public import PixelRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Completes the occluded pixels of images with a PixelRNN, by sequential Monte Carlo
/// over raster-order samples (DESIGN.md §3), and reports the likelihoods.
///
/// ```swift
/// let completer = Completer(model: model, identity: ModelIdentity(model: model, weightsSHA256: sha))
/// let result = try completer.complete(image, occluded: flags, options: CompletionOptions(samples: 8, seed: 1))
/// try writeJobOutputs(result, to: "outbox/cat")
/// ```
///
/// Channels: an image is converted to the model's channels first. A gray image given
/// to an RGB model is replicated into R = G = B; an RGB image given to a gray model
/// becomes its BT.601 luma, round(0.299 R + 0.587 G + 0.114 B). Completions have the
/// model's channels, and their visible pixels equal the converted input's bit for bit.
/// An alpha plane of the input is ignored (the mask says what is occluded).
///
/// The model's weights must not change while a completer uses it: the first completion
/// packs them for the sampler, and later completions reuse that packing.
public struct Completer: Sendable {
    /// The model.
    public let model: PixelRNN
    /// The model's identity, copied into every report.
    public var identity: ModelIdentity
    /// The model's weights packed for the sampler's small products: packed by the first
    /// completion and shared by all later ones (a served model's weights do not change).
    let packing: PackedWeightsCache

    /// Images with more positions than this get their NLL map row by row (bounded memory)
    /// instead of from one batched forward pass (about 4 KB of activations per position).
    static let fullForwardPositionLimit = 128 * 128

    /// The proposal temperature for jobs that name none: the model's own choice
    /// (metadata `proposal_temperature`), else 1.
    public var defaultTemperature: Double { identity.proposalTemperature ?? 1 }

    /// Creates a completer.
    /// - Parameters:
    ///   - model: A PixelRNN of any architecture (all have incremental evaluation).
    ///   - identity: Name, weights hash and metadata for the report; read from the
    ///     model's metadata when `nil`.
    public init(model: PixelRNN, identity: ModelIdentity? = nil) {
        self.model = model
        self.identity = identity ?? ModelIdentity(model: model)
        packing = PackedWeightsCache(model: model)
    }

    /// Completes one image.
    ///
    /// Occluded sub-pixels are drawn in raster order, channels in order within a pixel,
    /// from softmax(logits / T), by K weighted particles; the selected completion is drawn
    /// by weight. With nothing occluded there is no sampling: the result is the image
    /// itself and the report holds its exact likelihood. With everything occluded it is
    /// unconditional sampling.
    /// - Parameters:
    ///   - image: The input, gray or RGB, any size.
    ///   - occluded: `width × height` flags, row-major; `true` means occluded.
    ///   - options: Samples, seed, temperature, threads.
    ///   - queuedSeconds: How long the job waited before this call, for the report.
    /// - Returns: K completions, the selected one's per-pixel NLL and the report.
    /// - Throws: `CompletionError` for a mask of the wrong size, bad options, a visible
    ///   value beyond the model's levels, or a model without incremental sampling.
    public func complete(
        _ image: Image, occluded: [Bool], options: CompletionOptions = CompletionOptions(), queuedSeconds: Double = 0
    ) throws(CompletionError) -> CompletionResult {
        try options.validate()
        guard occluded.count == image.width * image.height else {
            throw .maskSizeMismatch(
                imageWidth: image.width, imageHeight: image.height, maskWidth: occluded.count, maskHeight: 1)
        }
        if options.adaptation.steps > 0 {
            return try completeAdapted(image, occluded: occluded, options: options, queuedSeconds: queuedSeconds)
        }
        if let margin = options.windowMargin {
            let windows = CompletionWindows.plan(occluded: occluded, width: image.width, height: image.height, margin: margin)
            if !windows.isEmpty && windows != [PixelRect(x: 0, y: 0, width: image.width, height: image.height)] {
                return try completeWindows(image, occluded: occluded, windows: windows, options: options,
                                           queuedSeconds: queuedSeconds)
            }
        }
        return try completeOriented(image, occluded: occluded, options: options, queuedSeconds: queuedSeconds)
    }

    /// Fine-tunes a copy of the model on the image's visible pixels, completes with it,
    /// and adds the adaptation to the report (its time counts as compute).
    private func completeAdapted(
        _ image: Image, occluded: [Bool], options: CompletionOptions, queuedSeconds: Double
    ) throws(CompletionError) -> CompletionResult {
        let (adapted, summary) = Adaptation.adapt(
            model, image: image, occluded: occluded, options: options.adaptation, seed: options.seed,
            threads: options.threads, cancellation: options.cancellation)
        if options.cancellation?.isCancelled == true { throw .cancelled }
        var rest = options
        rest.adaptation.steps = 0
        var result = try Completer(model: adapted, identity: identity)
            .complete(image, occluded: occluded, options: rest, queuedSeconds: queuedSeconds)
        result.report.adaptation = summary
        if summary.adapted { result.adaptedModel = adapted }
        result.report.timings.computeSeconds += summary.seconds
        result.report.timings.totalSeconds += summary.seconds
        return result
    }

    /// The whole image as one, in the options' orientation or the one chosen for it.
    func completeOriented(
        _ image: Image, occluded: [Bool], options: CompletionOptions, queuedSeconds: Double
    ) throws(CompletionError) -> CompletionResult {
        let supports = model.configuration.supportsOrientations
        let orientation: Orientation
        if let fixed = options.orientation {
            guard fixed == .upright || supports else {
                throw .invalidOption(name: "orientation", reason: "the model scans upright only, not \(fixed)")
            }
            orientation = fixed
        } else {
            orientation = Self.chooseOrientation(
                occluded: occluded, width: image.width, height: image.height, supportsOrientations: supports).orientation
        }
        guard orientation != .upright else {
            return try completeScanned(image, occluded: occluded, orientation: .upright, options: options,
                                       queuedSeconds: queuedSeconds)
        }
        let w = image.width, h = image.height
        var result = try completeScanned(
            image.scanned(orientation), occluded: orientation.scan(occluded, width: w, height: h, channels: 1),
            orientation: orientation, options: options, queuedSeconds: queuedSeconds)
        result.input = image
        result.occluded = occluded
        result.samples = result.samples.map { $0.unscanned(orientation) }
        result.pixelNLL = orientation.unscan(result.pixelNLL, width: w, height: h, channels: 1)
        result.report.image.width = w
        result.report.image.height = h
        return result
    }

    /// The scan orientation that leaves the fewest visible pixels after the first
    /// occluded one, and that number. Ties go to the earlier ``Orientation`` (upright,
    /// vertical flip, horizontal flip, half turn, then the transposes in the same order).
    /// Without orientation support, upright.
    /// - Parameters:
    ///   - occluded: `width × height` flags, row-major as stored.
    public static func chooseOrientation(
        occluded: [Bool], width: Int, height: Int, supportsOrientations: Bool
    ) -> (orientation: Orientation, visibleAfterFirstOccluded: Int) {
        let candidates = supportsOrientations ? Orientation.allCases : [.upright]
        var best: (orientation: Orientation, visibleAfterFirstOccluded: Int)?
        for orientation in candidates {
            let (sw, sh) = orientation.scannedSize(width: width, height: height)
            var seenOccluded = false, visibleAfter = 0
            for y in 0..<sh {
                for x in 0..<sw {
                    let (yy, xx) = orientation.storedPosition(y: y, x: x, width: width, height: height)
                    if occluded[yy * width + xx] { seenOccluded = true } else if seenOccluded { visibleAfter += 1 }
                }
            }
            if best == nil || visibleAfter < best!.visibleAfterFirstOccluded { best = (orientation, visibleAfter) }
        }
        return best!
    }

    /// ``complete(_:occluded:options:queuedSeconds:)`` on an image already laid out in
    /// the scan `orientation`.
    func completeScanned(
        _ image: Image, occluded: [Bool], orientation: Orientation, options: CompletionOptions, queuedSeconds: Double
    ) throws(CompletionError) -> CompletionResult {
        let clock = ContinuousClock()
        let start = clock.now
        let cfg = model.configuration
        let c = cfg.channels, h = image.height, w = image.width
        let (bytes, conversion) = try prepare(image, occluded: occluded)
        let occludedCount = occluded.reduce(0) { $0 + ($1 ? 1 : 0) }
        let dims = h * w * c
        let plan = RunPlan(occluded: occluded, width: w, height: h)

        var samples: [[UInt8]]
        var weights: [Double]
        var logP: [Double]
        var logPFilled: [Double]
        var logEvidence: Double
        var selected = 0
        var islands: [IslandOutcome] = []
        var ess: Double? = nil
        var sampledLogP: [Float]? = nil
        if occludedCount == 0 {
            samples = [bytes]
            weights = [1]
            logP = [0]  // filled in from the full pass below
            logPFilled = [0]
            logEvidence = 0
        } else {
            let particles = try runParticleFilter(
                model: model, images: [bytes], occluded: occluded, height: h, width: w, options: options,
                orientation: orientation, packedWeights: packing.weights(of: model))[0]
            samples = particles.pixels
            logEvidence = particles.logEvidence
            weights = particles.logWeights.map { exp($0 - particles.logEvidence) }
            logP = particles.logP
            logPFilled = particles.logPFilled
            islands = particles.islands
            ess = effectiveSampleSize(particles.logWeights[...])
            var random = RandomSource(seed: options.seed, stream: Streams.selection(image: 0))
            selected = drawIndex(weights: weights, uniform: random.nextDouble())
            sampledLogP = particles.logProbabilities(particle: selected)
        }

        // The per-pixel NLL map of the selected completion: the sampler's own log p of
        // every sub-pixel along it, or, with nothing sampled, one forward pass. Large
        // images go row by row, so that memory grows with the width, not the area.
        let subPixelNLL = UnsafeMutablePointer<Float>.allocate(capacity: dims)
        defer { subPixelNLL.deallocate() }
        let fullNLL: Double
        do {
            if let sampledLogP {
                for t in 0..<dims { subPixelNLL[t] = -sampledLogP[t] }
                fullNLL = -logP[selected]
            } else if h * w > Self.fullForwardPositionLimit {
                fullNLL = try model.streamingNegativeLogLikelihood(
                    of: samples[selected], height: h, width: w, subPixelNLL: subPixelNLL, orientation: orientation)
            } else {
                fullNLL = try model.negativeLogLikelihoods(
                    of: samples[selected], count: 1, height: h, width: w, workers: 1, positionNLL: subPixelNLL,
                    orientation: orientation)[0]
            }
        } catch {
            throw CompletionError(error)
        }
        var pixelNLL = [Double](repeating: 0, count: h * w)
        for p in 0..<(h * w) {
            var sum = 0.0
            for ch in 0..<c { sum += Double(subPixelNLL[p * c + ch]) }
            pixelNLL[p] = sum
        }

        // The exact prefix: visible sub-pixels before the first occluded one.
        let prefixEnd = (plan.firstOccluded ?? h * w) * c
        var prefix = 0.0
        for t in 0..<prefixEnd { prefix -= Double(subPixelNLL[t]) }
        if occludedCount == 0 {
            logP = [-fullNLL]
            logEvidence = -fullNLL
        }

        let visibleDims = (h * w - occludedCount) * c
        let ln2 = log(2.0)
        let visibleBPD: Double? = visibleDims > 0 ? -logEvidence / (Double(visibleDims) * ln2) : nil
        let exact = occludedCount == 0 || (!plan.visibleAfterOcclusion && options.temperature == 1)
        let summaries = samples.indices.map { k in
            SampleSummary(
                sample: k + 1, selected: k == selected, weight: weights[k], logPNats: logP[k],
                nllBitsPerDim: -logP[k] / (Double(dims) * ln2),
                logPFilledGivenRestNats: logP[k] - logEvidence, logPFilledRasterNats: logPFilled[k])
        }
        let evidence = EvidenceSummary(
            logPVisibleNats: logEvidence, nllVisibleBitsPerDim: visibleBPD, exact: exact, prefixLogPNats: prefix,
            effectiveSampleSize: ess, minEffectiveSampleSize: islands.map(\.minimumEffectiveSampleSize).min(),
            resamplingSteps: islands.reduce(0) { $0 + $1.resamplingSteps },
            rowMovesProposed: islands.reduce(0) { $0 + $1.rowMovesProposed },
            rowMovesAccepted: islands.reduce(0) { $0 + $1.rowMovesAccepted },
            particles: islands.reduce(0) { $0 + $1.particles }, islands: islands.count,
            particlesPerIsland: islands.map(\.particles).max() ?? 0)
        let compute = seconds(clock.now - start)
        let report = CompletionReport(
            formatVersion: CompletionReport.currentFormatVersion, model: identity,
            image: ImageSummary(
                width: w, height: h, inputChannels: image.channels, modelChannels: c,
                channelConversion: conversion.rawValue, pixels: h * w, occludedPixels: occludedCount,
                visiblePixels: h * w - occludedCount, subPixels: dims, occludedSubPixels: occludedCount * c,
                visibleSubPixels: visibleDims),
            sampling: SamplingSummary(
                samples: options.samples, seed: options.seed, temperature: options.temperature,
                threads: options.threads, sampled: occludedCount > 0, orientation: orientation.description,
                orientationChosen: options.orientation == nil,
                visibleSubPixelsAfterFirstOccluded: plan.visibleAfterFirstOccluded * c),
            samples: summaries, selectedSample: selected + 1, evidence: evidence,
            typicality: Typicality(visibleBitsPerDim: visibleBPD, reference: identity.heldoutPercentiles),
            timings: Timings(queuedSeconds: queuedSeconds, computeSeconds: compute, totalSeconds: queuedSeconds + compute))
        return CompletionResult(
            input: image, occluded: occluded,
            samples: samples.map { Image(width: w, height: h, channels: c, pixels: $0) },
            selectedIndex: selected, pixelNLL: pixelNLL, report: report)
    }

    /// Completes one image under a ``Mask``; see ``complete(_:occluded:options:queuedSeconds:)``.
    /// - Throws: `CompletionError.maskSizeMismatch` when the mask's size differs from the
    ///   image's, and the errors of the flag-based overload.
    public func complete(
        _ image: Image, mask: Mask, options: CompletionOptions = CompletionOptions(), queuedSeconds: Double = 0
    ) throws(CompletionError) -> CompletionResult {
        guard mask.width == image.width, mask.height == image.height else {
            throw .maskSizeMismatch(
                imageWidth: image.width, imageHeight: image.height, maskWidth: mask.width, maskHeight: mask.height)
        }
        return try complete(image, occluded: mask.occluded, options: options, queuedSeconds: queuedSeconds)
    }

    /// Completes a batch of images that share one geometry and one mask, without
    /// reports: the entry point for throughput (each image gets its own K particles;
    /// islands of several images share incremental states).
    /// - Parameters:
    ///   - images: Inputs of one size and channel count.
    ///   - occluded: The shared mask, `width × height` flags.
    ///   - options: Samples, seed, temperature, threads. Image i's particles use
    ///     random streams i·K … i·K + K − 1.
    /// - Returns: Per image, its K completions and the index of the one drawn by weight.
    /// - Throws: `CompletionError`.
    public func completeBatch(
        _ images: [Image], occluded: [Bool], options: CompletionOptions = CompletionOptions()
    ) throws(CompletionError) -> [(samples: [Image], selected: Int)] {
        try options.validate()
        guard let first = images.first else { return [] }
        guard occluded.count == first.width * first.height else {
            throw .maskSizeMismatch(
                imageWidth: first.width, imageHeight: first.height, maskWidth: occluded.count, maskHeight: 1)
        }
        for (i, image) in images.enumerated()
        where image.width != first.width || image.height != first.height || image.channels != first.channels {
            throw .batchGeometryMismatch(index: i)
        }
        let bytes = try images.map { (image) throws(CompletionError) in try prepare(image, occluded: occluded).bytes }
        let c = model.configuration.channels
        guard occluded.contains(true) else {
            return bytes.map { ([Image(width: first.width, height: first.height, channels: c, pixels: $0)], 0) }
        }
        let outcomes = try runParticleFilter(
            model: model, images: bytes, occluded: occluded, height: first.height, width: first.width, options: options,
            packedWeights: packing.weights(of: model))
        return outcomes.enumerated().map { i, outcome in
            var random = RandomSource(seed: options.seed, stream: Streams.selection(image: i))
            let weights = outcome.logWeights.map { exp($0 - outcome.logEvidence) }
            return (outcome.pixels.map { Image(width: first.width, height: first.height, channels: c, pixels: $0) },
                    drawIndex(weights: weights, uniform: random.nextDouble()))
        }
    }

    /// Converts an image to the model's channels and checks visible values against its levels.
    func prepare(_ image: Image, occluded: [Bool]) throws(CompletionError) -> (bytes: [UInt8], conversion: ChannelConversion) {
        let c = model.configuration.channels, levels = model.configuration.levels
        let (bytes, conversion) = ChannelConversion.convert(image, toChannels: c)
        if levels < 256 {
            for p in 0..<(image.width * image.height) where !occluded[p] {
                for ch in 0..<c where Int(bytes[p * c + ch]) >= levels {
                    throw .valueOutOfRange(
                        value: Int(bytes[p * c + ch]), levels: levels, y: p / image.width, x: p % image.width)
                }
            }
        }
        return (bytes, conversion)
    }
}

/// The outcome of one completion.
public struct CompletionResult: Sendable {
    /// The input image as given.
    public var input: Image
    /// The mask: `width × height` flags, `true` = occluded.
    public var occluded: [Bool]
    /// The K completions (one, the image itself, when nothing was occluded), with the
    /// model's channels.
    public var samples: [Image]
    /// Index into `samples` of the completion drawn by weight.
    public var selectedIndex: Int
    /// Per-pixel NLL of the selected completion, nats (summed over channels), row-major,
    /// from one full forward pass.
    public var pixelNLL: [Double]
    /// The likelihood report.
    public var report: CompletionReport
    /// The adapted copy of the model the completion used, when it was adapted (the
    /// report's likelihoods are under it).
    public var adaptedModel: PixelRNN?

    /// The selected completion.
    public var completed: Image { samples[selectedIndex] }
}

/// How an input's channels were matched to the model's.
public enum ChannelConversion: String, Sendable, Codable {
    /// Same channel count.
    case none
    /// Gray input, RGB model: R = G = B = gray.
    case grayReplicatedToRGB = "gray_replicated_to_rgb"
    /// RGB input, gray model: round(0.299 R + 0.587 G + 0.114 B) (ITU-R BT.601 luma).
    case rgbToGrayBT601Luma = "rgb_to_gray_bt601_luma"

    /// The image's samples with `channels` channels, and the conversion used.
    static func convert(_ image: Image, toChannels channels: Int) -> (bytes: [UInt8], conversion: ChannelConversion) {
        if image.channels == channels { return (image.pixels, .none) }
        let n = image.width * image.height
        if channels == 3 {
            var out = [UInt8](repeating: 0, count: n * 3)
            for p in 0..<n {
                let g = image.pixels[p]
                out[3 * p] = g
                out[3 * p + 1] = g
                out[3 * p + 2] = g
            }
            return (out, .grayReplicatedToRGB)
        }
        var out = [UInt8](repeating: 0, count: n)
        for p in 0..<n {
            // Integer BT.601 weights (299, 587, 114)/1000, rounded half up.
            let r = Int(image.pixels[3 * p]), g = Int(image.pixels[3 * p + 1]), b = Int(image.pixels[3 * p + 2])
            out[p] = UInt8((299 * r + 587 * g + 114 * b + 500) / 1000)
        }
        return (out, .rgbToGrayBT601Luma)
    }
}

/// The index whose cumulative weight first exceeds `uniform` (weights sum to 1).
func drawIndex(weights: [Double], uniform: Double) -> Int {
    var cumulative = 0.0
    for (i, w) in weights.enumerated() {
        cumulative += w
        if uniform < cumulative { return i }
    }
    return weights.lastIndex { $0 > 0 } ?? weights.count - 1
}

/// A duration in seconds.
func seconds(_ d: Duration) -> Double {
    let (s, attoseconds) = d.components
    return Double(s) + Double(attoseconds) * 1e-18
}
