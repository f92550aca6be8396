// Reader for the IDX format of MNIST and Fashion-MNIST
// (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
// `00 00 TYPE RANK`, RANK big-endian 32-bit dimensions, then the elements in
// row-major order. Files may be gzipped; zlib reads plain files transparently.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib
import SystemIO
import SystemPackage

/// An n-dimensional array of unsigned bytes read from an IDX file.
public struct IDXArray: Sendable, Equatable {
    /// The dimensions, outermost first (for images: count, rows, columns).
    public var dimensions: [Int]
    /// The elements in row-major order; `dimensions.reduce(1, *)` of them.
    public var bytes: [UInt8]
}

/// Reading IDX files.
public enum IDX {
    /// The element type code of unsigned bytes, the only one supported.
    public static let unsignedByteType: UInt8 = 0x08
    /// The largest payload accepted, in bytes (4 GiB).
    public static let maximumPayload = 1 << 32

    /// Reads an IDX file of unsigned bytes, gzipped or plain.
    ///
    /// The header is validated before the payload is allocated, and the payload
    /// must have exactly the announced size.
    /// - Parameter path: The file's path.
    /// - Returns: The dimensions and the bytes.
    /// - Throws: ``DatasetError``: `.io` when the file cannot be opened or read,
    ///   `.badMagic`, `.unsupportedElementType`, `.badDimensions` for a bad header,
    ///   `.truncated` or `.trailingData` when the payload size is wrong, `.corrupt`
    ///   when the gzip stream is damaged.
    public static func read(contentsOf path: String) throws(DatasetError) -> IDXArray {
        // gzopen cannot tell a folder from a file; check first.
        let info: FileSystem.Metadata?
        do { info = try FileSystem.metadata(FilePath(path), followLinks: true) } catch { throw DatasetError(error, path: path) }
        guard let info else { throw .io(path: path, call: "stat", errno: ENOENT) }
        if info.kind == .directory { throw .io(path: path, call: "open", errno: EISDIR) }

        let reader = try GzipReader(path: path)
        var magic = [UInt8](repeating: 0, count: 4)
        let magicCount = try reader.read(into: &magic)
        guard magicCount == 4 else {
            throw magicCount == 0 ? .truncated(path: path, expectedBytes: 4, actualBytes: 0)
                : .badMagic(path: path, bytes: Array(magic[0..<magicCount]))
        }
        guard magic[0] == 0, magic[1] == 0, magic[3] >= 1 else { throw .badMagic(path: path, bytes: magic) }
        guard magic[2] == unsignedByteType else { throw .unsupportedElementType(path: path, code: magic[2]) }

        let rank = Int(magic[3])
        var header = [UInt8](repeating: 0, count: 4 * rank)
        let headerCount = try reader.read(into: &header)
        guard headerCount == header.count else {
            throw .truncated(path: path, expectedBytes: 4 + header.count, actualBytes: 4 + headerCount)
        }
        var dimensions: [Int] = []
        var total = 1
        for i in 0..<rank {
            let value = Int(header[4 * i]) << 24 | Int(header[4 * i + 1]) << 16
                | Int(header[4 * i + 2]) << 8 | Int(header[4 * i + 3])
            dimensions.append(value)
        }
        for value in dimensions {
            let (product, overflow) = total.multipliedReportingOverflow(by: value)
            guard !overflow, product <= maximumPayload else {
                throw .badDimensions(path: path, dimensions: dimensions, reason: "more than \(maximumPayload) bytes")
            }
            total = product
        }
        guard total > 0 else { throw .badDimensions(path: path, dimensions: dimensions, reason: "empty") }

        var bytes = [UInt8](repeating: 0, count: total)
        let payloadCount = try reader.read(into: &bytes)
        guard payloadCount == total else {
            throw .truncated(path: path, expectedBytes: total, actualBytes: payloadCount)
        }
        var probe = [UInt8](repeating: 0, count: 1)
        guard try reader.read(into: &probe) == 0 else { throw .trailingData(path: path) }
        return IDXArray(dimensions: dimensions, bytes: bytes)
    }
}

extension IDX {
    /// Writes an IDX file of unsigned bytes, gzipped (zlib's `gzopen`/`gzwrite`) or plain.
    /// Used to build test fixtures; not atomic.
    /// - Parameters:
    ///   - array: The dimensions (1…255 of them, each below 2³²) and the bytes.
    ///   - path: The file to create or replace.
    ///   - compressed: Whether to gzip the file.
    /// - Throws: ``DatasetError/io(path:call:errno:)`` when the file cannot be written.
    static func write(_ array: IDXArray, to path: String, compressed: Bool) throws(DatasetError) {
        precondition((1...255).contains(array.dimensions.count), "IDX rank must be 1...255")
        precondition(array.dimensions.reduce(1, *) == array.bytes.count, "dimensions and byte count differ")
        var bytes: [UInt8] = [0, 0, unsignedByteType, UInt8(array.dimensions.count)]
        for value in array.dimensions {
            bytes += [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                      UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
        }
        bytes += array.bytes
        guard let file = gzopen(path, compressed ? "wb6" : "wbT") else {
            throw .io(path: path, call: "gzopen", errno: errno)
        }
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress!, UInt32($0.count)) }
        let closed = gzclose(file)
        guard written == bytes.count, closed == Z_OK else { throw .io(path: path, call: "gzwrite", errno: EIO) }
    }
}

/// Owns one zlib `gzFile`, closing it on release; reads gzipped or plain files.
private final class GzipReader {
    let path: String
    let file: gzFile

    /// Opens `path` with `gzopen`.
    init(path: String) throws(DatasetError) {
        self.path = path
        errno = 0
        guard let file = gzopen(path, "rb") else {
            throw .io(path: path, call: "gzopen", errno: errno == 0 ? ENOMEM : errno)
        }
        self.file = file
        gzbuffer(file, 1 << 18)
    }

    deinit { gzclose(file) }

    /// Fills `buffer` from the file with `gzread`, stopping early only at the end of
    /// the data; returns how many bytes were read. A damaged stream throws `.corrupt`;
    /// a gzip stream cut short returns a short count (zlib's `Z_BUF_ERROR`).
    func read(into buffer: inout [UInt8]) throws(DatasetError) -> Int {
        var done = 0
        let count = buffer.count
        let chunk = 1 << 30
        let result: Result<Int, DatasetError> = buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let want = min(chunk, count - done)
                let n = gzread(file, raw.baseAddress! + done, UInt32(want))
                if n < 0 || (n < want && status().code != Z_OK && status().code != Z_BUF_ERROR) {
                    let (code, message) = status()
                    if code == Z_ERRNO { return .failure(.io(path: path, call: "read", errno: errno)) }
                    return .failure(.corrupt(path: path, reason: message))
                }
                if n == 0 { break }
                done += Int(n)
            }
            return .success(done)
        }
        return try result.get()
    }

    /// zlib's error code and message for the stream (`gzerror`).
    private func status() -> (code: Int32, message: String) {
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
        return (code, message)
    }
}
