#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif
internal import SystemIO
internal import SystemPackage

/// Everything that can go wrong reading, decoding, encoding or interpreting an image.
///
/// Each case carries what a person needs to act on it: the path and `errno` of a
/// failed system call, the sizes involved in a limit, the decoder's own message.
/// Errors about a file's contents, raised by ``Image/decode(contentsOf:limits:)``, are
/// wrapped in ``inFile(path:_:)``; ``root`` strips that wrapper.
public enum ImagingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A system call on `path` failed; `operation` names it (`open`, `read`, ...).
    case io(path: String, operation: String, errno: Int32)
    /// `path` is not a regular file (`kind` says what it is: "symbolic link", "directory"...).
    case notRegularFile(path: String, kind: String)
    /// The data is empty (zero bytes).
    case empty
    /// The data is larger than ``ImageLimits/maxFileBytes``.
    case fileTooLarge(bytes: Int, limit: Int)
    /// The leading bytes are neither a PNG nor a JPEG signature.
    case unknownFormat(leadingBytes: [UInt8])
    /// The data ends before the image does; `message` is the decoder's.
    case truncated(format: ImageFormat, message: String)
    /// The data is malformed (bad checksum, bad header field, corrupt compressed data).
    case corrupt(format: ImageFormat, message: String)
    /// A well-formed image of a kind this module does not decode (12-bit or CMYK JPEG).
    case unsupported(format: ImageFormat, reason: String)
    /// The header declares a `width × height` image beyond `limits`.
    case tooLarge(width: Int, height: Int, limits: ImageLimits)
    /// The decoder hit a resource cap while decoding (too many progressive scans, too
    /// much working memory); `message` says which.
    case resourceLimit(format: ImageFormat, message: String)
    /// The decoder or encoder could not allocate memory.
    case outOfMemory(format: ImageFormat)
    /// Encoding failed; `message` is libpng's.
    case encodingFailed(message: String)
    /// A mask was asked of an image without an alpha channel.
    case noAlpha(width: Int, height: Int)
    /// A mask image's size differs from the image it masks.
    case maskSizeMismatch(expectedWidth: Int, expectedHeight: Int, width: Int, height: Int)
    /// An error about the contents of the file at `path`.
    indirect case inFile(path: String, ImagingError)

    /// Whether the error is a transient I/O error rather than a fault of the file: a system
    /// call that failed with `ENOSPC`, `EDQUOT`, `EIO`, `EROFS` or `ENOMEM` (the one rule of
    /// the SystemIO module). A caller may retry the same operation later.
    public var isTransient: Bool {
        if case .io(_, _, let code) = root { return SystemIOError.isTransient(Errno(rawValue: code)) }
        return false
    }

    /// The error without any ``inFile(path:_:)`` wrapper.
    public var root: ImagingError {
        if case .inFile(_, let inner) = self { return inner.root }
        return self
    }

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            return "\(path): \(operation) failed: \(errnoDescription(code))"
        case .notRegularFile(let path, let kind):
            return "\(path): not a regular file (\(kind))"
        case .empty:
            return "empty input (0 bytes)"
        case .fileTooLarge(let bytes, let limit):
            return "input is \(bytes) bytes, over the limit of \(limit) bytes"
        case .unknownFormat(let leading):
            let hex = leading.prefix(8).map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined(separator: " ")
            return "unknown image format (leading bytes: \(hex.isEmpty ? "none" : hex)); expected PNG or JPEG"
        case .truncated(let format, let message):
            return "truncated \(format.name) data: \(message)"
        case .corrupt(let format, let message):
            return "corrupt \(format.name): \(message)"
        case .unsupported(let format, let reason):
            return "unsupported \(format.name): \(reason)"
        case .tooLarge(let width, let height, let limits):
            return "image is \(width)×\(height) pixels, over the limit (\(limits.exceeded(width: width, height: height) ?? "limits"))"
        case .resourceLimit(let format, let message):
            return "\(format.name) decoder limit: \(message)"
        case .outOfMemory(let format):
            return "out of memory in the \(format.name) codec"
        case .encodingFailed(let message):
            return "PNG encoding failed: \(message)"
        case .noAlpha(let width, let height):
            return "the \(width)×\(height) image has no alpha channel to take a mask from"
        case .maskSizeMismatch(let expectedWidth, let expectedHeight, let width, let height):
            return "mask is \(width)×\(height) pixels but the image is \(expectedWidth)×\(expectedHeight)"
        case .inFile(let path, let inner):
            return "\(path): \(inner)"
        }
    }
}

extension ImagingError {
    /// The same failure in this module's terms: a system call's failure is ``io(path:operation:errno:)``,
    /// a file over the size limit is ``fileTooLarge(bytes:limit:)`` in ``inFile(path:_:)``.
    init(_ error: SystemIOError) {
        switch error {
        case let .system(call, path, code): self = .io(path: path, operation: call, errno: code.rawValue)
        case let .notRegularFile(path, kind): self = .notRegularFile(path: path, kind: kind)
        case let .tooLarge(path, bytes, limit): self = .inFile(path: path, .fileTooLarge(bytes: Int(bytes), limit: Int(limit)))
        }
    }
}

/// `strerror`'s text with the symbolic errno value, e.g. "No such file or directory (errno 2)".
func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}
