#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What went wrong while loading training or evaluation data.
///
/// Every case names the file or folder concerned; the ``description`` is a
/// complete sentence for a user.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A data set expected in a folder is not there; `package` installs it.
    case datasetNotInstalled(name: String, directory: String, package: String)
    /// A file or folder could not be opened, read or listed (`errno` from the named call).
    case io(path: String, call: String, errno: Int32)
    /// The file ends before the data its header announces.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The compressed stream is damaged (zlib's message).
    case corrupt(path: String, reason: String)
    /// The file does not start with an IDX magic number (`00 00 type dims`).
    case badMagic(path: String, bytes: [UInt8])
    /// The IDX element type is not unsigned bytes (`0x08`).
    case unsupportedElementType(path: String, code: UInt8)
    /// The dimensions are not what the reader needs (zero, too large, wrong rank or size).
    case badDimensions(path: String, dimensions: [Int], reason: String)
    /// The file has more bytes than its header announces.
    case trailingData(path: String)
    /// The path is not a folder.
    case notADirectory(path: String)
    /// No usable image was found in a folder.
    case noImages(path: String, skipped: Int)
    /// An image file could not be decoded.
    case unreadableImage(path: String, reason: String)

    /// The file or folder the error is about.
    public var path: String {
        switch self {
        case .datasetNotInstalled(_, let directory, _): directory
        case .io(let path, _, _), .truncated(let path, _, _), .corrupt(let path, _),
            .badMagic(let path, _), .unsupportedElementType(let path, _),
            .badDimensions(let path, _, _), .trailingData(let path), .notADirectory(let path),
            .noImages(let path, _), .unreadableImage(let path, _):
            path
        }
    }

    public var description: String {
        switch self {
        case .datasetNotInstalled(let name, let directory, let package):
            "\(name) is not installed in \(directory); install it with `sudo apt-get install \(package)`"
        case .io(let path, let call, let code):
            "\(path): \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .truncated(let path, let expected, let actual):
            "\(path): file is truncated: expected \(expected) bytes of data, found \(actual)"
        case .corrupt(let path, let reason):
            "\(path): compressed data is corrupt: \(reason)"
        case .badMagic(let path, let bytes):
            "\(path): not an IDX file (magic bytes \(bytes.map { String($0, radix: 16) }.joined(separator: " ")))"
        case .unsupportedElementType(let path, let code):
            "\(path): IDX element type 0x\(String(code, radix: 16)) is not supported (only unsigned bytes, 0x08)"
        case .badDimensions(let path, let dimensions, let reason):
            "\(path): unusable dimensions \(dimensions): \(reason)"
        case .trailingData(let path):
            "\(path): unexpected data after the announced payload"
        case .notADirectory(let path):
            "\(path): not a folder"
        case .noImages(let path, let skipped):
            "\(path): no usable images (\(skipped) files skipped)"
        case .unreadableImage(let path, let reason):
            "\(path): cannot read image: \(reason)"
        }
    }
}
