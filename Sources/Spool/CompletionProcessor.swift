import Completion
import Foundation
import Imaging
import Logging
import PixelRNN
import SystemPackage

/// The production job processor: fills a job's occluded pixels with the PixelRNN and
/// writes `completed.png`, `samples/`, `preview.png` and `report.json` (the Completion
/// module's `writeJobOutputs`); the daemon adds the original inputs and publishes.
///
/// Inputs are decoded with the configured limits checked from the header before any
/// large allocation; the occlusion comes from `NAME.mask.png` when present, else from
/// the image's alpha channel.
public struct CompletionJobProcessor: JobProcessor {
    public let configuration: DaemonConfiguration
    public let identity: [String: IdentityValue]
    let completer: Completer

    /// Loads the configured model (or the embedded default).
    /// - Throws: ``SpoolError/modelLoad(path:reason:)`` when the file is missing or not a usable model.
    public init(configuration: DaemonConfiguration) throws {
        self.configuration = configuration
        let path: String
        do {
            path = try configuration.model?.string ?? DefaultModel.path()
        } catch {
            throw SpoolError.modelLoad(path: DefaultModel.fileName, reason: "\(error)")
        }
        let model: PixelRNN
        let sha: String
        do {
            model = try PixelRNN(contentsOf: path)
            sha = try SafetensorsFile.sha256(ofFileAt: path)
        } catch let error as ModelError {
            throw SpoolError.modelLoad(path: path, reason: error.description)
        } catch {
            throw SpoolError.modelLoad(path: path, reason: "\(error)")
        }
        let name = configuration.modelName.isEmpty
            ? (model.metadata["name"] ?? FilePath(path).stem ?? "model") : configuration.modelName
        completer = Completer(model: model, identity: ModelIdentity(model: model, weightsSHA256: sha, name: name))
        let cfg = model.configuration
        var identity: [String: IdentityValue] = [
            "name": .text(name),
            "file": .text(path),
            "sha256": .text(sha),
            "architecture": .text(cfg.architecture.rawValue),
            "channels": .integer(cfg.channels),
            "hidden": .integer(cfg.hidden),
            "blocks": .integer(cfg.blocks),
        ]
        // Only when the model file records it.
        if let bpd = model.metadata["test_bpd"].flatMap(Double.init), bpd.isFinite {
            identity["test_bpd"] = .number(bpd)
        }
        self.identity = identity
    }

    /// The loader for the default `--processor pixelrnn`.
    public static let loader: JobProcessorLoader = { try CompletionJobProcessor(configuration: $0) }

    public func process(_ job: JobInputs, outputDirectory: FilePath, logger: Logger) throws {
        let limits = ImageLimits(
            maxWidth: configuration.maxWidth, maxHeight: configuration.maxHeight,
            maxPixels: configuration.maxPixels, maxFileBytes: Int(configuration.maxBytes))
        let arrived = (try? FileManager.default.attributesOfItem(atPath: job.image.string)[.modificationDate] as? Date) ?? nil
        let queued = arrived.map { max(0, Date().timeIntervalSince($0)) } ?? 0
        let image: Image
        do {
            image = try Image.decode(contentsOf: job.image.string, limits: limits)
        } catch {
            throw SpoolError.badInput("image: \(error.root.description)")
        }
        let mask: Mask
        if let maskPath = job.mask {
            let maskImage: Image
            do {
                maskImage = try Image.decode(contentsOf: maskPath.string, limits: limits)
            } catch {
                throw SpoolError.badInput("mask: \(error.root.description)")
            }
            do {
                mask = try Mask(maskImage: maskImage, expectedWidth: image.width, expectedHeight: image.height)
            } catch {
                throw SpoolError.badInput(error.root.description)
            }
        } else {
            do {
                mask = try Mask(alphaOf: image)
            } catch {
                throw SpoolError.badInput("the image has no alpha channel and no NAME.mask.png arrived")
            }
        }
        let jobOptions = try JobOptions(contentsOf: job.options, defaults: configuration)
        let options = CompletionOptions(
            samples: jobOptions.samples, seed: jobOptions.seed ?? Self.seed(for: job.name),
            temperature: jobOptions.temperature, threads: max(1, configuration.threadsPerJob),
            orientation: jobOptions.orientation.flatMap { Orientation(name: $0) })
        let result: CompletionResult
        do {
            result = try completer.complete(image, mask: mask, options: options, queuedSeconds: queued)
        } catch {
            throw SpoolError.badInput(error.description)
        }
        do {
            try writeJobOutputs(result, to: outputDirectory.string, threads: options.threads)
        } catch {
            throw SpoolError.outputFailed(error.description)
        }
        logger.info(
            "completed",
            metadata: [
                "job": "\(job.name)", "occluded": "\(mask.occludedCount)", "samples": "\(options.samples)",
                "seconds": "\(String(format: "%.3f", result.report.timings.computeSeconds))",
            ])
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
