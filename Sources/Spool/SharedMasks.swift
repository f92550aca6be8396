import Foundation
import Imaging
public import SystemPackage
import SystemIO
import Synchronization

/// The names of shared masks: `masks/NAME.png` in the spool, chosen by `"mask": "NAME"` in
/// a job's `NAME.json` or by the configuration's `mask`.
public enum SharedMaskName {
    /// The mask name of `text` (a trailing `.png` is dropped), or `nil` when it is not one:
    /// 1 to 128 letters, digits, `-`, `_` or `.`, not starting with `.`.
    public static func validate(_ text: String) -> String? {
        var name = text
        if name.lowercased().hasSuffix(".png") { name = String(name.dropLast(4)) }
        guard !name.isEmpty, name.utf8.count <= 128, !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) })
        else { return nil }
        return name
    }
}

/// What a job's `NAME.json` says about a shared mask, as the planner needs it.
enum SharedMaskChoice: Sendable, Equatable {
    /// No `mask` key (or the file cannot be read: its processor will say why).
    case unspecified
    /// `"mask": "NAME"`.
    case named(String)
    /// `"mask": null`: no shared mask, not even the configuration's.
    case none

    /// Reads the `mask` key of an options file's bytes, without validating the rest.
    static func of(optionsFile bytes: [UInt8]) -> SharedMaskChoice {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let value = object["mask"] else { return .unspecified }
        if value is NSNull { return .none }
        // A value that is not a mask name is passed on: the claim fails the job with the reason.
        guard let name = value as? String else { return .named("\(value)") }
        return .named(SharedMaskName.validate(name) ?? name)
    }
}

/// A shared mask's bytes as read at one moment: what a claimed job keeps in its work
/// folder, so that replacing `masks/NAME.png` never changes a job already claimed.
struct SharedMaskSnapshot: Sendable, Equatable {
    var name: String
    var bytes: [UInt8]
    var sha256: String
    var width: Int
    var height: Int
    /// The mask file it was read from, as `lstat` saw it.
    var identity: FileIdentity

    /// The snapshot's file names in a work folder (dot-names: never taken as inputs).
    static let imageFile = ".shared-mask.png"
    static let descriptionFile = ".shared-mask.json"

    /// Writes the bytes, then a short description (name, SHA-256), into a work folder.
    /// A page-cache write, like the claim's renames: it survives `kill -9`.
    func write(into directory: FilePath) throws(SpoolError) {
        try FS.writeNewFile(directory.appending(Self.imageFile), bytes, sync: false)
        let description: [String: Any] = ["name": name, "sha256": sha256, "width": width, "height": height]
        let json = (try? JSONSerialization.data(withJSONObject: description, options: [.sortedKeys])) ?? Data()
        try FS.writeNewFile(directory.appending(Self.descriptionFile), [UInt8](json), sync: false)
    }
}

/// The control loop's view of `masks/`: each named mask is read (and hashed, and its header
/// checked) once per change of the file, recognised by inode, size and modification time.
/// A claim then costs one `lstat` of the mask and a small write into the work folder.
struct SharedMaskSnapshots: Sendable {
    /// How taking a snapshot for a claim ended.
    enum Resolution: Sendable, Equatable {
        /// The snapshot; `readNow` when the file was read for this claim (new or changed).
        case ready(SharedMaskSnapshot, readNow: Bool)
        /// Someone has the mask open for writing: look again shortly.
        case busy
        /// The job fails with this reason.
        case refused(SpoolError)
    }

    private var cache: [String: SharedMaskSnapshot] = [:]

    /// The current snapshot of `masks/NAME.png`, read again only when the file changed.
    /// The file must be a regular file (never followed), a PNG of at most `max_bytes`
    /// whose header fits the image limits; anything else refuses the job with the reason.
    mutating func resolve(_ name: String, configuration c: DaemonConfiguration) -> Resolution {
        guard let valid = SharedMaskName.validate(name) else {
            return .refused(.badInput("'\(name)' is not a shared mask name (letters, digits, '-', '_' or '.'; the file is masks/NAME.png)"))
        }
        let file = "masks/\(valid).png"
        let path = c.masks.appending("\(valid).png")
        let meta: FS.Metadata
        do {
            guard let found = try FS.metadata(path) else {
                cache[valid] = nil
                return .refused(.incompleteJob("the shared mask '\(valid)' does not exist: there is no \(file) in the spool"))
            }
            meta = found
        } catch {
            return .refused(error)
        }
        guard meta.kind == .regular else {
            cache[valid] = nil
            return .refused(.notARegularFile(name: file, kind: meta.kind.word))
        }
        let identity = FileIdentity(inode: meta.inode, size: meta.size, modified: meta.modified)
        if let cached = cache[valid], cached.identity == identity { return .ready(cached, readNow: false) }
        if FS.isOpenForWriting(path) == true { return .busy }
        guard meta.size <= c.maxBytes else {
            return .refused(.limitExceeded("the shared mask \(file) is \(meta.size) bytes; max_bytes is \(c.maxBytes)"))
        }
        let bytes: [UInt8]
        let header: ImageHeader
        do {
            bytes = try FS.readFile(path, limit: c.maxBytes)
            header = try Image.header(of: bytes)
        } catch let error as SpoolError {
            return .refused(error)
        } catch {
            return .refused(.badInput("the shared mask \(file) is not a readable PNG: \(error)"))
        }
        guard header.format == .png else { return .refused(.badInput("the shared mask \(file) must be a PNG file")) }
        let limits = ImageLimits(maxWidth: c.maxWidth, maxHeight: c.maxHeight, maxPixels: c.maxPixels,
                                 maxFileBytes: Int(clamping: c.maxBytes))
        if let exceeded = limits.exceeded(width: header.width, height: header.height) {
            return .refused(.limitExceeded("the shared mask \(file) is too large: \(exceeded)"))
        }
        let snapshot = SharedMaskSnapshot(
            name: valid, bytes: bytes, sha256: SHA256.hex(SHA256.hash(bytes)), width: header.width, height: header.height,
            identity: identity)
        cache[valid] = snapshot
        return .ready(snapshot, readNow: true)
    }
}

/// A claimed job's shared mask: the snapshot in its work folder.
public struct SharedMaskInput: Sendable, Equatable {
    /// The mask's name (`watermark` for `masks/watermark.png`).
    public var name: String
    /// Hex SHA-256 of the mask file's bytes as they were at claim time.
    public var sha256: String
    /// The snapshot of the bytes, inside the work folder.
    public var file: FilePath

    /// Creates a description.
    public init(name: String, sha256: String, file: FilePath) {
        self.name = name
        self.sha256 = sha256
        self.file = file
    }

    /// The snapshot in a work folder, or `nil` when the job has none.
    static func read(in directory: FilePath) throws(SpoolError) -> SharedMaskInput? {
        let descriptionPath = directory.appending(SharedMaskSnapshot.descriptionFile)
        guard try FS.metadata(descriptionPath) != nil else { return nil }
        let bytes = try FS.readFile(descriptionPath, limit: 4096)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let name = object["name"] as? String, let sha = object["sha256"] as? String else {
            throw SpoolError.badInput("the job's shared-mask snapshot is damaged")
        }
        return SharedMaskInput(name: name, sha256: sha, file: directory.appending(SharedMaskSnapshot.imageFile))
    }
}

extension SharedMaskInput {
    /// The mask as error messages name it.
    var label: String { "the shared mask '\(name)' (masks/\(name).png, sha256 \(sha256.prefix(12))…)" }

    /// Whether a `width × height` mask can be laid on an image of the given size by `anchor`.
    static func fits(width: Int, height: Int, imageWidth: Int, imageHeight: Int, anchor: MaskAnchor) -> Bool {
        if width == imageWidth && height == imageHeight { return true }
        switch anchor {
        case .none: return false
        case .scale: return true
        default: return width <= imageWidth && height <= imageHeight
        }
    }

    /// The reason a job fails when its shared mask does not fit its image: both sizes.
    func sizeMismatch(width: Int, height: Int, imageWidth: Int, imageHeight: Int, anchor: MaskAnchor) -> SpoolError {
        .badInput(anchor == .none
            ? "\(label) is \(width)×\(height) pixels but the image is \(imageWidth)×\(imageHeight); they must be the same size, or NAME.json or the configuration must say how to lay it on the image (mask_anchor)"
            : "\(label) is \(width)×\(height) pixels, larger than the \(imageWidth)×\(imageHeight) image it is anchored in (mask_anchor = \(anchor))")
    }
}

/// Decoded shared masks by SHA-256, and their placements by image size and anchor, so a
/// batch of jobs with one mask decodes it once and lays it on each image size once.
/// Shared by a processor's workers; holds the few most recent masks.
final class SharedMaskCache: Sendable {
    private struct Entries {
        var decoded: [String: Mask] = [:]
        var placed: [String: Mask] = [:]
    }

    private let entries = Mutex(Entries())
    private let capacity = 8

    /// The mask of `input` laid on a `width × height` image by `anchor`.
    /// - Throws: an error reading or decoding the snapshot (``SpoolError``, ``ImagingError``),
    ///   or ``ImagingError/maskSizeMismatch(expectedWidth:expectedHeight:width:height:)``.
    func mask(for input: SharedMaskInput, width: Int, height: Int, anchor: MaskAnchor,
              limits: ImageLimits) throws -> (mask: Mask, width: Int, height: Int) {
        let key = "\(input.sha256) \(anchor.rawValue) \(width)x\(height)"
        let found = entries.withLock { ($0.placed[key], $0.decoded[input.sha256]) }
        if let placed = found.0, let decoded = found.1 { return (placed, decoded.width, decoded.height) }
        let decoded: Mask
        if let cached = found.1 {
            decoded = cached
        } else {
            let bytes = try FS.readFile(input.file, limit: Int64(limits.maxFileBytes))
            let image = try Image.decode(bytes: bytes, limits: limits)
            decoded = try Mask(maskImage: image, expectedWidth: image.width, expectedHeight: image.height)
        }
        let placed = try decoded.placed(onWidth: width, height: height, anchor: anchor)
        entries.withLock {
            if $0.decoded.count >= capacity { $0.decoded.removeAll() }
            if $0.placed.count >= capacity * 4 { $0.placed.removeAll() }
            $0.decoded[input.sha256] = decoded
            $0.placed[key] = placed
        }
        return (placed, decoded.width, decoded.height)
    }
}
