import Completion
import Foundation
import Imaging
import SystemIO
public import Logging
public import SystemPackage

/// The production job processor: fills a job's occluded pixels with the PixelRNN and
/// writes `completed.png`, `samples/`, `preview.png` and `report.json` (the Completion
/// module's `writeJobOutputs`); the daemon adds the original inputs and publishes.
///
/// Inputs are decoded with the configured limits checked from the header before any
/// large allocation; the occlusion comes from `NAME.mask.png` when present, else from
/// the job's shared mask (`masks/NAME.png` as it was at claim time), else from the
/// image's alpha channel. A shared mask is decoded once per content (SHA-256) and laid on
/// each image size once, whatever the number of jobs that use it.
///
/// Errors are classified as the daemon needs them: a system call that fails while the
/// inputs are read or the results written becomes ``SpoolError/system(call:path:errno:)``,
/// whose ``SpoolError/isTransient`` (disk full, I/O error…) keeps the job in `work/` for
/// another attempt, exactly as the `validate` processor's reads and writes do; anything
/// about the inputs' content is ``SpoolError/badInput(_:)``.
public struct CompletionJobProcessor: JobProcessor {
    public let configuration: DaemonConfiguration
    /// The first model's identity (what a single-model status shows as `model`).
    public var identity: [String: IdentityValue] { modelIdentities[0] }
    /// Every model served, in configuration order.
    public let modelIdentities: [[String: IdentityValue]]
    let catalog: ModelCatalog
    let sharedMasks = SharedMaskCache()

    /// Loads the configured models (`model`, then the `model.NAME` lines), or the
    /// embedded ones when none is configured. Each file is read once.
    /// - Throws: ``SpoolError/modelLoad(path:reason:)`` when a file is missing or not a usable model.
    public init(configuration: DaemonConfiguration) throws {
        self.configuration = configuration
        var entries: [(name: String?, path: String)] = []
        if let model = configuration.model {
            entries.append((configuration.modelName.isEmpty ? nil : configuration.modelName, model.string))
        }
        entries += configuration.namedModels.map { ($0.name, $0.path.string) }
        do {
            if entries.isEmpty { entries = try ModelCatalog.embeddedEntries() }
            catalog = try ModelCatalog.load(entries)
        } catch {
            throw SpoolError.modelLoad(path: error.path, reason: error.reason)
        }
        modelIdentities = catalog.models.map(Self.identity(of:))
    }

    /// What the status file and `error.json` show for a model.
    static func identity(of loaded: LoadedModel) -> [String: IdentityValue] {
        let identity = loaded.identity
        var fields: [String: IdentityValue] = [
            "name": .text(loaded.name),
            "file": .text(loaded.path),
            "sha256": .text(loaded.sha256),
            "architecture": .text(identity.architecture.kind),
            "channels": .integer(identity.architecture.channels),
            "hidden": .integer(identity.architecture.hidden),
            "blocks": .integer(identity.architecture.blocks),
        ]
        // Only when the model file records it.
        if let bpd = identity.testNllBitsPerDim, bpd.isFinite { fields["test_bpd"] = .number(bpd) }
        return fields
    }

    /// The loader for the default `--processor pixelrnn`.
    public static let loader: JobProcessorLoader = { try CompletionJobProcessor(configuration: $0) }

    public func process(_ job: JobInputs, outputDirectory: FilePath, logger: Logger) throws {
        let limits = ImageLimits(
            maxWidth: configuration.maxWidth, maxHeight: configuration.maxHeight,
            maxPixels: configuration.maxPixels, maxFileBytes: Int(configuration.maxBytes))
        let arrived = (try? FS.metadata(job.image))?.modified
        let queued = arrived.map { max(0, Date().timeIntervalSince1970 - $0) } ?? 0
        let image: Image
        do {
            image = try Image.decode(contentsOf: job.image.string, limits: limits)
        } catch {
            throw Self.inputError(error, what: "image")
        }
        let jobOptions = try JobOptions(contentsOf: job.options, defaults: configuration)
        let (mask, maskSummary) = try occlusion(of: job, image: image, anchor: jobOptions.maskAnchor, limits: limits)
        let served: LoadedModel
        do {
            served = try catalog.model(forChannels: image.channels, named: jobOptions.model)
        } catch {
            throw SpoolError.badInput(error.description)
        }
        var options = CompletionOptions(
            samples: jobOptions.samples, seed: jobOptions.seed ?? Self.seed(for: job.name),
            temperature: jobOptions.temperature ?? served.completer.defaultTemperature,
            threads: max(1, configuration.threadsPerJob),
            orientation: jobOptions.orientation.flatMap { Orientation(name: $0) },
            windowMargin: jobOptions.windowMargin, fullImageNLLMap: jobOptions.fullImageNLLMap)
        options.adaptation.steps = jobOptions.adaptSteps
        options.adaptation.maxSeconds = configuration.adaptMaxSeconds
        options.cancellation = job.cancellation
        var result: CompletionResult
        do {
            result = try served.completer.complete(image, mask: mask, options: options, queuedSeconds: queued)
        } catch {
            throw SpoolError.badInput(error.description)
        }
        result.report.mask = maskSummary
        do {
            try writeJobOutputs(result, to: outputDirectory.string, threads: options.threads)
        } catch {
            if case let .io(path, call, code) = error { throw SpoolError.system(call: call, path: path, errno: Errno(rawValue: code)) }
            throw SpoolError.outputFailed(error.description)
        }
        logger.info(
            "completed",
            metadata: [
                "job": "\(job.name)", "model": "\(served.name)", "occluded": "\(mask.occludedCount)",
                "samples": "\(options.samples)", "orientation": "\(result.report.sampling.orientation)",
                "seconds": "\(String(format: "%.3f", result.report.timings.computeSeconds))",
            ])
    }

    /// The job's occlusion, by precedence: `NAME.mask.png`, then the shared mask, then the
    /// image's alpha channel; with what the report says about it.
    func occlusion(of job: JobInputs, image: Image, anchor: MaskAnchor, limits: ImageLimits) throws -> (Mask, MaskSummary) {
        if let maskPath = job.mask {
            let bytes: [UInt8]
            let maskImage: Image
            do {
                bytes = try FS.readFile(maskPath, limit: Int64(limits.maxFileBytes))
                maskImage = try Image.decode(bytes: bytes, limits: limits)
            } catch let error as ImagingError {
                throw Self.inputError(error, what: "mask")
            }
            do {
                let mask = try Mask(maskImage: maskImage, expectedWidth: image.width, expectedHeight: image.height)
                return (mask, MaskSummary(source: "mask_file", name: maskPath.lastComponent?.string,
                                          sha256: SHA256.hex(SHA256.hash(bytes)), width: maskImage.width, height: maskImage.height))
            } catch {
                throw SpoolError.badInput(error.root.description)
            }
        }
        if let shared = job.sharedMask {
            do {
                let (mask, width, height) = try sharedMasks.mask(
                    for: shared, width: image.width, height: image.height, anchor: anchor, limits: limits)
                let placement = width == image.width && height == image.height ? MaskAnchor.none : anchor
                return (mask, MaskSummary(source: "shared_mask", name: shared.name, sha256: shared.sha256,
                                          anchor: placement.rawValue, width: width, height: height))
            } catch let error as ImagingError {
                if case let .maskSizeMismatch(imageWidth, imageHeight, width, height) = error.root {
                    throw shared.sizeMismatch(width: width, height: height, imageWidth: imageWidth, imageHeight: imageHeight, anchor: anchor)
                }
                throw Self.inputError(error, what: shared.label)
            }
        }
        do {
            return (try Mask(alphaOf: image), .alpha)
        } catch {
            throw SpoolError.badInput("the image has no alpha channel and no NAME.mask.png arrived")
        }
    }

    /// Why an input could not be read: a failed system call stays one (transient or not by
    /// the one rule), anything else is the input's fault.
    static func inputError(_ error: ImagingError, what: String) -> SpoolError {
        if case let .io(path, call, code) = error.root { return .system(call: call, path: path, errno: Errno(rawValue: code)) }
        return .badInput("\(what): \(error.root.description)")
    }

    /// A job without a seed gets one derived from its name (FNV-1a), so that re-running
    /// the same job gives the same result.
    static func seed(for name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
