import ArgumentParser
import Completion
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn adapt`: fine-tunes a copy of a model on one image's visible pixels and
/// writes it in the usual model format, so it can be inspected and scored elsewhere.
struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt", abstract: "Fine-tune a model on an image's visible pixels; write the adapted model.")

    @Argument(help: "Image (PNG or JPEG). Without --mask, pixels with alpha < 128 are occluded (never trained on).")
    var image: String
    @Option(help: "Mask image of the same size: a pixel whose value is ≥ 128 is occluded.")
    var mask: String?
    @Option(help: "Optimisation steps.")
    var steps: Int?
    @Option(help: "Instead of --steps: the step count that fits this many seconds here (timed on about a second of steps first).")
    var seconds: Double?
    @Option(help: "Random seed (crops, orientations).")
    var seed: UInt64 = 1
    @Option(help: "Peak learning rate (Adam, cosine decay to 5 % over the steps).")
    var learningRate: Float = AdaptationOptions().learningRate
    @Option(help: "Share of the crops (0…1) drawn near the hole, weighted by e^(−distance/(scale·crop size)); the rest uniformly.")
    var nearHole: Double = AdaptationOptions().nearHoleShare
    @Option(help: "The scale of --near-hole: the weight's decay length, in crop sides.")
    var nearHoleScale: Double = AdaptationOptions().nearHoleScale
    @Option(help: "Side of the square training crops.")
    var cropSize: Int = AdaptationOptions().cropSize
    @Option(help: "Crops per step.")
    var batch: Int = AdaptationOptions().batch
    @OptionGroup var modelOption: ModelOption
    @OptionGroup var compute: ComputeOptions
    @Option(help: "The adapted model file to write.")
    var out: String

    func validate() throws {
        guard (steps == nil) != (seconds == nil) else { throw ValidationError("give exactly one of --steps and --seconds") }
        if let steps { guard steps >= 1 else { throw ValidationError("--steps must be ≥ 1") } }
        if let seconds { guard seconds > 0 else { throw ValidationError("--seconds must be positive") } }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive") }
        guard cropSize >= AdaptationOptions.minimumCropSize else {
            throw ValidationError("--crop-size must be ≥ \(AdaptationOptions.minimumCropSize)")
        }
        guard batch >= 2 else { throw ValidationError("--batch must be ≥ 2") }
        guard (0...1).contains(nearHole) else { throw ValidationError("--near-hole must be between 0 and 1") }
        guard nearHoleScale > 0, nearHoleScale.isFinite else { throw ValidationError("--near-hole-scale must be positive") }
    }

    func run() throws {
        BLAS.setThreads(1)
        let input = try Image.decode(contentsOf: image)
        let occlusion = try mask.map { try Mask(maskImage: Image.decode(contentsOf: $0), expectedWidth: input.width, expectedHeight: input.height) }
            ?? Mask(alphaOf: input)
        let loaded = try modelOption.model.map { try LoadedModel.load(path: $0) }
            ?? ModelCatalog.load(ModelCatalog.embeddedEntries()).model(forChannels: input.channels)
        var options = AdaptationOptions(steps: steps ?? 0, maxSeconds: .infinity, cropSize: cropSize, batch: batch,
                                        learningRate: learningRate, nearHoleShare: nearHole, nearHoleScale: nearHoleScale)
        if let seconds {
            // Time about a second of steps on a discarded copy after a short warm-up (the
            // median of ten blocks), then take the step count that fits.
            guard let perStep = Adaptation.secondsPerStep(
                loaded.model, image: input, occluded: occlusion.occluded, options: options, seed: seed,
                threads: compute.workers, timing: min(1, seconds / 10))
            else { throw ValidationError("cannot adapt: \(Adaptation.tooSmall)") }
            options.steps = max(1, Int(seconds / perStep))
            print(String(format: "timing      %.4f s per step here: %d steps fit %.0f s", perStep, options.steps, seconds))
        }
        let (adapted, summary) = Adaptation.adapt(
            loaded.model, image: input, occluded: occlusion.occluded, options: options, seed: seed, threads: compute.workers)
        guard summary.adapted else { throw ValidationError("cannot adapt: \(summary.reason ?? "")") }
        adapted.metadata["adapted_from"] = "\(loaded.name) (sha256 \(loaded.sha256))"
        adapted.metadata["adapted_on"] = "\(image): \(summary.steps) steps, crops of \(summary.cropSize), seed \(seed)"
        try adapted.save(to: out)
        print("model       \(loaded.name) → \(out)")
        print(String(format: "adapted     %d steps in %.1f s on %d crop positions of %d×%d", summary.steps, summary.seconds,
                     summary.trainingPositions, summary.cropSize, summary.cropSize))
        print(String(format: "held out    %d visible crops: %.4f → %.4f bits/dim", summary.heldOutCrops,
                     summary.heldOutBitsPerDimBefore ?? .nan, summary.heldOutBitsPerDimAfter ?? .nan))
    }
}
