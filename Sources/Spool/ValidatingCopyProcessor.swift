import Foundation
import Imaging
public import Logging
import SystemIO
public import SystemPackage

/// A test and diagnostic processor (`pixelrnnd --processor validate`): it checks a job's
/// inputs for real, then publishes the image unchanged as the "completion".
///
/// Checks: every input is a regular file (opened with `O_NOFOLLOW`) within `max_bytes`;
/// the image is a PNG or JPEG whose header libpng or libjpeg reads (Imaging's
/// `Image.header(of:)`, the reader the `pixelrnn` processor decodes with); width, height
/// and pixel count are within the limits (from the header, before any allocation); the
/// occlusion comes from a mask, a shared mask or an alpha channel; a mask is a PNG of the
/// image's size, a shared mask one that fits it by the job's `mask_anchor`;
/// the options file is valid. Pixels are not decoded. Outputs: `completed.png`
/// (`completed.jpg` for a JPEG input), a copy of the image, and `report.json` describing
/// what was checked.
public struct ValidatingCopyProcessor: JobProcessor {
    /// The configuration the processor was loaded with (limits, defaults, model label).
    public let configuration: DaemonConfiguration
    public let identity: [String: IdentityValue]

    /// "Loads" the processor: when a model path is configured, the file must exist and look
    /// like a safetensors file (an 8-byte little-endian header length, then a JSON object
    /// that fits in the file). Its identity carries the file's SHA-256, as the `pixelrnn`
    /// processor's does.
    /// - Throws: ``SpoolError/modelLoad(path:reason:)``.
    public init(configuration: DaemonConfiguration) throws {
        self.configuration = configuration
        var identity: [String: IdentityValue] = ["processor": .text("validate")]
        if let model = configuration.model {
            let bytes: [UInt8]
            do {
                bytes = try FS.readFile(model, limit: 1 << 32)
            } catch {
                throw SpoolError.modelLoad(path: model.string, reason: "\(error)")
            }
            try Self.checkSafetensors(bytes, path: model)
            identity["file"] = .text(model.string)
            identity["bytes"] = .integer(bytes.count)
            identity["sha256"] = .text(SHA256.hex(SHA256.hash(bytes)))
            let name = configuration.modelName.isEmpty ? (model.stem ?? "model") : configuration.modelName
            identity["name"] = .text(name)
        } else {
            identity["name"] = .text(configuration.modelName.isEmpty ? "none" : configuration.modelName)
        }
        self.identity = identity
    }

    /// The loader for `--processor validate`.
    public static let loader: JobProcessorLoader = { try ValidatingCopyProcessor(configuration: $0) }

    static func checkSafetensors(_ bytes: [UInt8], path: FilePath) throws {
        guard bytes.count >= 10 else { throw SpoolError.modelLoad(path: path.string, reason: "too short for a safetensors file") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length >= 2, length <= UInt64(bytes.count - 8) else {
            throw SpoolError.modelLoad(path: path.string, reason: "not a safetensors file (header length \(length) does not fit in \(bytes.count) bytes)")
        }
        guard bytes[8] == UInt8(ascii: "{") else {
            throw SpoolError.modelLoad(path: path.string, reason: "not a safetensors file (header is not a JSON object)")
        }
    }

    public func process(_ job: JobInputs, outputDirectory: FilePath, logger: Logger) throws {
        let started = Date()
        let image = try FS.readFile(job.image, limit: configuration.maxBytes)
        let header = try Self.header(of: image, what: "image")
        try checkLimits(header, what: "image")
        var report: [String: Any] = [
            "processor": "validate",
            "model": identity.jsonObject,
            "name": job.name,
            "image": describe(header, file: job.image),
        ]
        let options = try JobOptions(contentsOf: job.options, defaults: configuration)
        if let maskPath = job.mask {
            let mask = try FS.readFile(maskPath, limit: configuration.maxBytes)
            let maskHeader = try Self.header(of: mask, what: "mask '\(maskPath.lastComponent?.string ?? "")'")
            guard maskHeader.format == .png else { throw SpoolError.badInput("the mask must be a PNG file") }
            guard maskHeader.width == header.width, maskHeader.height == header.height else {
                throw SpoolError.badInput("mask is \(maskHeader.width)×\(maskHeader.height) but the image is \(header.width)×\(header.height); they must be the same size")
            }
            report["mask"] = describe(maskHeader, file: maskPath)
            report["occlusion"] = "mask"
        } else if let shared = job.sharedMask {
            let mask = try FS.readFile(shared.file, limit: configuration.maxBytes)
            let maskHeader = try Self.header(of: mask, what: shared.label)
            guard SharedMaskInput.fits(width: maskHeader.width, height: maskHeader.height, imageWidth: header.width,
                                       imageHeight: header.height, anchor: options.maskAnchor) else {
                throw shared.sizeMismatch(width: maskHeader.width, height: maskHeader.height, imageWidth: header.width,
                                          imageHeight: header.height, anchor: options.maskAnchor)
            }
            let sameSize = maskHeader.width == header.width && maskHeader.height == header.height
            report["shared_mask"] = ["name": shared.name, "sha256": shared.sha256, "width": maskHeader.width,
                                     "height": maskHeader.height, "anchor": sameSize ? "none" : options.maskAnchor.rawValue]
            report["occlusion"] = "shared_mask"
        } else if header.hasAlpha {
            report["occlusion"] = "alpha"
        } else {
            throw SpoolError.incompleteJob("the image has no alpha channel and no mask (\(job.name).mask.png) was given, so nothing is marked as occluded")
        }
        report["options"] = ["samples": options.samples, "seed": options.seed.map { NSNumber(value: $0) } ?? NSNull(),
                             "temperature": options.temperature.map { NSNumber(value: $0) } ?? NSNull()] as [String: Any]
        let outputName = header.format == .png ? "completed.png" : "completed.jpg"
        try FS.writeNewFile(outputDirectory.appending(outputName), image, sync: false)
        report["outputs"] = [outputName, "report.json"]
        report["seconds"] = Date().timeIntervalSince(started)
        let json = try JSONSerialization.data(
            withJSONObject: report, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FS.writeNewFile(outputDirectory.appending("report.json"), [UInt8](json) + [10], sync: false)
        logger.debug("validated", metadata: ["width": "\(header.width)", "height": "\(header.height)", "format": "\(header.format.rawValue)"])
    }

    /// The header of an encoded image, read by libpng or libjpeg without decoding pixels.
    /// - Throws: ``SpoolError/badInput(_:)`` naming `what` and the decoder's reason.
    static func header(of bytes: [UInt8], what: String) throws -> ImageHeader {
        do {
            return try Image.header(of: bytes)
        } catch {
            throw SpoolError.badInput("\(what): \(error.root.description)")
        }
    }

    private func checkLimits(_ header: ImageHeader, what: String) throws {
        let c = configuration
        guard header.width <= c.maxWidth, header.height <= c.maxHeight, header.width * header.height <= c.maxPixels else {
            throw SpoolError.limitExceeded("\(what) is \(header.width)×\(header.height) pixels; the limits are \(c.maxWidth)×\(c.maxHeight) and \(c.maxPixels) pixels (max_width, max_height, max_pixels)")
        }
    }

    private func describe(_ header: ImageHeader, file: FilePath) -> [String: Any] {
        ["file": file.lastComponent?.string ?? "", "format": header.format.rawValue, "width": header.width,
         "height": header.height, "channels": header.channels, "bit_depth": header.bitDepth, "alpha": header.hasAlpha,
         "interlaced": header.isInterlaced]
    }
}
