import ArgumentParser
import Completion
import Foundation
import Imaging
import PixelRNN
import SystemIO

/// `pixelrnn complete`: fill the occluded pixels of one image, or of several with one
/// shared mask, and write each job's outputs (completed.png, samples/, preview.png,
/// report.json) into a folder.
struct CompleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Fill the occluded pixels of an image; write the completion, a preview and a likelihood report.",
        discussion: """
            With several images, each gets its own folder OUT/NAME/ (NAME: the file name without \
            its extension), and --mask is one mask shared by all of them: read, hashed and \
            decoded once, laid on each image size once (--mask-anchor), and named with its \
            SHA-256 in every report. --mask takes precedence over an image's alpha channel.
            """)

    @Argument(help: "Images (PNG or JPEG). Without --mask, pixels with alpha < 128 are occluded.")
    var images: [String]
    @Option(help: "Mask image (PNG): a pixel whose value is ≥ 128 is occluded. Of each image's size unless --mask-anchor says otherwise; shared by all the images.")
    var mask: String?
    @Option(help: "How --mask is laid on an image of another size: none (the sizes must agree), top-left, top, top-right, left, centre, right, bottom-left, bottom, bottom-right (the mask must fit inside the image), or scale.")
    var maskAnchor = "none"

    @Option(help: "Samples (particles); every sample is written when more than one.")
    var samples = 1
    @Option(help: "Random seed; the same seed gives the same completion whatever --workers is.")
    var seed: UInt64 = 1
    @Option(help: "Proposal temperature T > 0 (1 = the model's distribution; default: the model file's proposal_temperature, else 1).")
    var temperature: Double?
    @Option(help: "Scan orientation: auto (the one that leaves the fewest visible pixels after the hole; needs a model with orientation support), or upright, vertical-flip, horizontal-flip, half-turn, transpose, transpose-vertical-flip, transpose-horizontal-flip, transpose-half-turn.")
    var orientation = "auto"
    @Option(help: "Metropolis–Hastings moves per particle on each row of a hole that is not exact (0 = none).")
    var rowMoves = CompletionOptions().rowMoves
    @Option(help: "Context margin in pixels around each hole; each hole is completed in its own window. \"image\" completes the whole image as one.")
    var windowMargin = String(CompletionWindows.defaultMargin)
    @Flag(help: "Compute the NLL map over the whole completed image, not only the windows.")
    var fullNLLMap = false
    @Flag(help: "Also print the conditional NLL of the image's own content in the hole given the rest (for images whose hole pixels hold the truth).")
    var scoreTruth = false
    @Option(help: "Fine-tune a copy of the model on the image's visible pixels for this many steps first (0 = no).")
    var adapt = 0
    @Option(help: "Safety cap on the adaptation's wall time, seconds (the report says when it cuts in).")
    var adaptSeconds: Double = 120
    @OptionGroup var modelOption: ModelOption
    @OptionGroup var compute: ComputeOptions
    @Option(help: "Output folder (created if missing); with several images, one folder per image inside it.")
    var out: String

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard MaskAnchor(name: maskAnchor) != nil else {
            throw ValidationError("--mask-anchor must be one of " + MaskAnchor.names.joined(separator: ", "))
        }
        guard maskAnchor == "none" || mask != nil else { throw ValidationError("--mask-anchor needs --mask") }
        let names = images.map(Self.jobName(of:))
        if images.count > 1, let repeated = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ValidationError("two images would both write \(out)/\(repeated)/; give images with different names")
        }
        guard (1...CompletionOptions.maximumSamples).contains(samples) else {
            throw ValidationError("--samples must be in 1...\(CompletionOptions.maximumSamples)")
        }
        if let temperature, !(temperature > 0 && temperature.isFinite) {
            throw ValidationError("--temperature must be a positive number")
        }
        guard orientation == "auto" || Orientation(name: orientation) != nil else {
            throw ValidationError("--orientation must be auto or one of " + Orientation.allCases.map(\.description).joined(separator: ", "))
        }
        guard windowMargin == "image" || (Int(windowMargin) ?? -1) >= 0 else {
            throw ValidationError("--window-margin must be a number of pixels ≥ 0 or \"image\"")
        }
    }

    /// An image's output folder name: its file name without the extension.
    static func jobName(of path: String) -> String {
        let file = URL(fileURLWithPath: path).lastPathComponent
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        return stem.isEmpty ? file : stem
    }

    func run() throws {
        BLAS.setThreads(1)
        // The mask file is read, hashed and decoded once, whatever the number of images.
        var sharedMask: (mask: Mask, summary: MaskSummary)?
        if let mask {
            let bytes = try Image.encodedBytes(contentsOf: mask)
            let maskImage: Image
            do { maskImage = try Image.decode(bytes: bytes) } catch { throw ImagingError.inFile(path: mask, error) }
            let decoded = try Mask(maskImage: maskImage, expectedWidth: maskImage.width, expectedHeight: maskImage.height)
            let summary = MaskSummary(
                source: images.count > 1 ? "shared_mask" : "mask_file", name: URL(fileURLWithPath: mask).lastPathComponent,
                sha256: SHA256.hex(SHA256.hash(bytes)), width: decoded.width, height: decoded.height)
            sharedMask = (decoded, summary)
        }
        let anchor = MaskAnchor(name: maskAnchor) ?? .none
        // --model names a file; without it the embedded models, chosen by each image's channels.
        let fixed = try modelOption.model.map { try LoadedModel.load(path: $0) }
        let catalog = fixed == nil ? try ModelCatalog.load(ModelCatalog.embeddedEntries()) : nil
        var placements: [String: Mask] = [:]
        for image in images {
            let input = try Image.decode(contentsOf: image)
            var occlusion: Mask
            var summary = MaskSummary.alpha
            if let sharedMask {
                let key = "\(input.width)x\(input.height)"
                occlusion = try placements[key] ?? sharedMask.mask.placed(onWidth: input.width, height: input.height, anchor: anchor)
                placements[key] = occlusion
                summary = sharedMask.summary
                let sameSize = sharedMask.mask.width == input.width && sharedMask.mask.height == input.height
                summary.anchor = sameSize ? "none" : anchor.rawValue
            } else {
                occlusion = try Mask(alphaOf: input)
            }
            let loaded = try fixed ?? catalog!.model(forChannels: input.channels)
            let folder = images.count > 1 ? out + "/" + Self.jobName(of: image) : out
            if images.count > 1 { print("== \(image) → \(folder)") }
            try complete(input, occlusion: occlusion, summary: summary, model: loaded, out: folder)
        }
    }

    /// Completes one image and writes its outputs into `out`.
    private func complete(_ input: Image, occlusion: Mask, summary: MaskSummary, model loaded: LoadedModel, out: String) throws {
        let completer = loaded.completer
        let (name, path, sha) = (loaded.name, loaded.path, loaded.sha256)
        var options = CompletionOptions(
            samples: samples, seed: seed, temperature: temperature ?? completer.defaultTemperature, threads: compute.workers,
            orientation: Orientation(name: orientation), windowMargin: Int(windowMargin), fullImageNLLMap: fullNLLMap)
        options.adaptation.steps = adapt
        options.rowMoves = rowMoves
        options.adaptation.maxSeconds = adaptSeconds
        var result = try completer.complete(input, mask: occlusion, options: options)
        result.report.mask = summary
        try writeJobOutputs(result, to: out, threads: compute.workers)
        let report = result.report
        print("model       \(name) (\(path), sha256 \(sha.prefix(12))…)")
        print("image       \(input.width)×\(input.height)×\(input.channels), \(report.image.occludedPixels) pixels occluded")
        if let sha = summary.sha256 {
            print("mask        \(summary.name ?? "") (sha256 \(sha.prefix(12))…, \(summary.width ?? 0)×\(summary.height ?? 0), anchor \(summary.anchor))")
        }
        if let a = report.adaptation {
            if a.adapted {
                print(String(format: "adapted     %d of %d steps in %.1f s%@ on %d crop positions of %d×%d; held-out visible crops %@ → %@ bits/dim",
                             a.steps, a.stepsRequested, a.seconds, a.cutByTimeLimit ? " (cut by the time cap)" : "",
                             a.trainingPositions, a.cropSize, a.cropSize,
                             a.heldOutBitsPerDimBefore.map { String(format: "%.3f", $0) } ?? "?",
                             a.heldOutBitsPerDimAfter.map { String(format: "%.3f", $0) } ?? "?"))
            } else {
                print("adapted     no: \(a.reason ?? "")")
            }
        }
        if let windows = report.windows {
            print("windows     \(windows.count): " + windows.map { "\($0.rect) (\($0.orientation)\($0.exact ? ", exact" : ""))" }.joined(separator: ", ")
                  + "; likelihoods cover the windows")
        }
        if options.temperature != 1 { print("temperature \(options.temperature) (proposal; the likelihoods are the model's own)") }
        print("orientation \(report.sampling.orientation)\(report.sampling.orientationChosen ? " (chosen)" : ""): "
              + "\(report.sampling.visibleSubPixelsAfterFirstOccluded) visible sub-pixels after the first occluded one")
        print(String(format: "log p(visible) ≈ %.2f nats%@, ESS %@, %d resampling steps",
                     report.evidence.logPVisibleNats, report.evidence.exact ? " (exact)" : "",
                     report.evidence.effectiveSampleSize.map { String(format: "%.1f of %d", $0, samples) } ?? "n/a",
                     report.evidence.resamplingSteps))
        let chosen = report.samples[report.selectedSample - 1]
        print(String(format: "completed   sample %d: log p = %.2f nats (%.4f bits/dim), log p(filled | rest) = %.2f nats",
                     chosen.sample, chosen.logPNats, chosen.nllBitsPerDim, chosen.logPFilledGivenRestNats))
        print("typicality  \(report.typicality.assessment)"
              + (report.typicality.percentile.map { String(format: " (percentile %.1f)", $0) } ?? ""))
        if scoreTruth {
            let truth = try ConditionalLikelihood(result: result, truth: input, completer: completer)
            print(String(format: "truth       −log p(true hole content | rest) = %.2f nats, %.4f bits/dim of %d occluded sub-pixels (%@)",
                         truth.nats, truth.nats / Double(max(1, truth.occludedSubPixels)) / log(2.0), truth.occludedSubPixels,
                         truth.exact ? "exact" : "log p(visible) estimated by the particles"))
        }
        print(String(format: "wrote %@ in %.2f s", out, report.timings.computeSeconds))
    }
}
