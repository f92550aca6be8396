// Completion inside windows around the holes (CompletionWindows), stitched back into
// the whole image with a report that says what its likelihoods cover.

public import Imaging
import PixelRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Completer {
    /// Completes each window as a picture of its own (its own orientation, particles and
    /// evidence) and pastes the windows back. Windows never overlap and each holds all
    /// of its holes, so they are independent.
    ///
    /// Sample k of the result is, in every window, that window's k-th particle after its
    /// selected particle is moved to the front: sample 1 is `completed.png`, made of
    /// every window's completion drawn by weight. A sample's weight is the product of its
    /// windows' weights (normalised); its likelihoods are sums over the windows.
    func completeWindows(
        _ image: Image, occluded: [Bool], windows: [PixelRect], options: CompletionOptions, queuedSeconds: Double
    ) throws(CompletionError) -> CompletionResult {
        let clock = ContinuousClock()
        let start = clock.now
        let c = model.configuration.channels, w = image.width, h = image.height
        let (converted, conversion) = ChannelConversion.convert(image, toChannels: c)
        var samples = [[UInt8]](repeating: converted, count: options.samples)
        var pixelNLL = [Double](repeating: 0, count: w * h)
        var parts: [(rect: PixelRect, result: CompletionResult, order: [Int])] = []
        for (index, rect) in windows.enumerated() {
            var windowOptions = options
            windowOptions.windowMargin = nil
            windowOptions.fullImageNLLMap = false
            windowOptions.seed = options.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
            let crop = Image(width: rect.width, height: rect.height, channels: c,
                             pixels: Self.crop(converted, width: w, channels: c, to: rect))
            let cropMask = Self.crop(occluded, width: w, channels: 1, to: rect)
            let result = try completeOriented(crop, occluded: cropMask, options: windowOptions, queuedSeconds: 0)
            let selected = result.selectedIndex
            let order = [selected] + result.samples.indices.filter { $0 != selected }
            for (k, source) in order.enumerated() {
                Self.paste(result.samples[source].pixels, into: &samples[k], width: w, channels: c, at: rect)
            }
            Self.paste(result.pixelNLL, into: &pixelNLL, width: w, channels: 1, at: rect)
            parts.append((rect, result, order))
        }
        if options.fullImageNLLMap {
            let nll = UnsafeMutablePointer<Float>.allocate(capacity: w * h * c)
            defer { nll.deallocate() }
            do {
                _ = try model.streamingNegativeLogLikelihood(of: samples[0], height: h, width: w, subPixelNLL: nll)
            } catch {
                throw CompletionError(error)
            }
            for p in 0..<(w * h) { pixelNLL[p] = (0..<c).reduce(0.0) { $0 + Double(nll[p * c + $1]) } }
        }
        let report = windowedReport(
            image: image, occluded: occluded, conversion: conversion, parts: parts, options: options,
            queuedSeconds: queuedSeconds, computeSeconds: seconds(clock.now - start))
        return CompletionResult(
            input: image, occluded: occluded,
            samples: samples.map { Image(width: w, height: h, channels: c, pixels: $0) },
            selectedIndex: 0, pixelNLL: pixelNLL, report: report)
    }

    private func windowedReport(
        image: Image, occluded: [Bool], conversion: ChannelConversion,
        parts: [(rect: PixelRect, result: CompletionResult, order: [Int])], options: CompletionOptions,
        queuedSeconds: Double, computeSeconds: Double
    ) -> CompletionReport {
        let c = model.configuration.channels, w = image.width, h = image.height
        let reports = parts.map(\.result.report)
        let occludedCount = occluded.reduce(0) { $0 + ($1 ? 1 : 0) }
        let windowDims = reports.reduce(0) { $0 + $1.image.subPixels }
        let visibleDims = reports.reduce(0) { $0 + $1.image.visibleSubPixels }
        let logEvidence = reports.reduce(0.0) { $0 + $1.evidence.logPVisibleNats }
        let ln2 = log(2.0)
        // Joint weights: products of the windows' normalised weights, renormalised.
        var logWeights = [Double](repeating: 0, count: options.samples)
        var summaries: [SampleSummary] = []
        for k in 0..<options.samples {
            var logP = 0.0, filled = 0.0, raster = 0.0
            for part in parts {
                let s = part.result.report.samples[part.order[k]]
                logWeights[k] += log(max(s.weight, .leastNonzeroMagnitude))
                logP += s.logPNats
                filled += s.logPFilledGivenRestNats
                raster += s.logPFilledRasterNats
            }
            summaries.append(SampleSummary(
                sample: k + 1, selected: k == 0, weight: 0, logPNats: logP,
                nllBitsPerDim: -logP / (Double(windowDims) * ln2), logPFilledGivenRestNats: filled,
                logPFilledRasterNats: raster))
        }
        let top = logWeights.max() ?? 0
        let total = logWeights.reduce(0.0) { $0 + exp($1 - top) }
        for k in summaries.indices { summaries[k].weight = exp(logWeights[k] - top) / total }

        let windowSummaries = zip(parts, reports).map { part, r in
            WindowSummary(
                rect: part.rect, occludedPixels: r.image.occludedPixels, orientation: r.sampling.orientation,
                visibleSubPixelsAfterFirstOccluded: r.sampling.visibleSubPixelsAfterFirstOccluded,
                logPVisibleNats: r.evidence.logPVisibleNats, exact: r.evidence.exact,
                effectiveSampleSize: r.evidence.effectiveSampleSize, resamplingSteps: r.evidence.resamplingSteps)
        }
        let orientations = Set(reports.map(\.sampling.orientation))
        let first = reports[0]
        let visibleBPD: Double? = visibleDims > 0 ? -logEvidence / (Double(visibleDims) * ln2) : nil
        let evidence = EvidenceSummary(
            logPVisibleNats: logEvidence, nllVisibleBitsPerDim: visibleBPD,
            exact: reports.allSatisfy(\.evidence.exact),
            prefixLogPNats: reports.reduce(0.0) { $0 + $1.evidence.prefixLogPNats },
            effectiveSampleSize: reports.compactMap(\.evidence.effectiveSampleSize).min(),
            minEffectiveSampleSize: reports.compactMap(\.evidence.minEffectiveSampleSize).min(),
            resamplingSteps: reports.reduce(0) { $0 + $1.evidence.resamplingSteps },
            rowMovesProposed: reports.reduce(0) { $0 + $1.evidence.rowMovesProposed },
            rowMovesAccepted: reports.reduce(0) { $0 + $1.evidence.rowMovesAccepted },
            particles: first.evidence.particles, islands: reports.reduce(0) { $0 + $1.evidence.islands },
            particlesPerIsland: first.evidence.particlesPerIsland)
        var report = CompletionReport(
            formatVersion: CompletionReport.currentFormatVersion, model: identity,
            image: ImageSummary(
                width: w, height: h, inputChannels: image.channels, modelChannels: c,
                channelConversion: conversion.rawValue, pixels: w * h, occludedPixels: occludedCount,
                visiblePixels: w * h - occludedCount, subPixels: w * h * c, occludedSubPixels: occludedCount * c,
                visibleSubPixels: (w * h - occludedCount) * c),
            sampling: SamplingSummary(
                samples: options.samples, seed: options.seed, temperature: options.temperature,
                threads: options.threads, sampled: true,
                orientation: orientations.count == 1 ? orientations.first! : "per-window",
                orientationChosen: options.orientation == nil,
                visibleSubPixelsAfterFirstOccluded: reports.reduce(0) { $0 + $1.sampling.visibleSubPixelsAfterFirstOccluded }),
            samples: summaries, selectedSample: 1, evidence: evidence,
            typicality: Typicality(visibleBitsPerDim: visibleBPD, reference: identity.heldoutPercentiles),
            timings: Timings(queuedSeconds: queuedSeconds, computeSeconds: computeSeconds,
                             totalSeconds: queuedSeconds + computeSeconds))
        report.likelihoodScope = "windows"
        report.windows = windowSummaries
        return report
    }

    /// The samples of `rect` from an interleaved `width`-wide image.
    public static func crop<T>(_ samples: [T], width: Int, channels: Int, to rect: PixelRect) -> [T] {
        var out: [T] = []
        out.reserveCapacity(rect.area * channels)
        for y in rect.y..<rect.maxY {
            let start = (y * width + rect.x) * channels
            out += samples[start..<(start + rect.width * channels)]
        }
        return out
    }

    /// Writes a `rect`-sized block of samples into an interleaved `width`-wide image.
    static func paste<T>(_ block: [T], into samples: inout [T], width: Int, channels: Int, at rect: PixelRect) {
        let row = rect.width * channels
        for y in 0..<rect.height {
            let dst = ((rect.y + y) * width + rect.x) * channels
            samples.replaceSubrange(dst..<(dst + row), with: block[(y * row)..<((y + 1) * row)])
        }
    }
}
