import CZlib
import Foundation
import Imaging
import TestSupport

/// Test fixtures (copied into `Fixtures/` with their licences) and the small readers
/// and builders the tests need.
enum Fixtures {
    /// The fixture folder inside the test bundle.
    static let root: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures", isDirectory: true)

    static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(relativePath)))
    }

    /// Names (without `.png`) of the PNG-suite files, sorted.
    static let pngSuiteNames: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: url("pngsuite").path)) ?? []
        return files.filter { $0.hasSuffix(".png") }.map { String($0.dropLast(4)) }.sorted()
    }()

    /// The reference pixels of the PNG suite: file name → flat `[r, g, b, a, …]`
    /// (16-bit values for 16-bit files; `NAME_to8` keys hold their 8-bit reduction).
    static let pngSuiteReference: [String: [Int]] = {
        do {
            let json = try gunzip(bytes("pngsuite/expected-rgba8.json.gz"))
            return try JSONDecoder().decode([String: [Int]].self, from: Data(json))
        } catch {
            return [:]
        }
    }()

    /// Decompresses gzip data with zlib.
    static func gunzip(_ input: [UInt8]) throws -> [UInt8] {
        struct GzipError: Error { let code: Int32 }
        var stream = z_stream()
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw GzipError(code: status) }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return buffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw GzipError(code: status) }
                output.append(contentsOf: chunk[..<produced])
            } while status != Z_STREAM_END
        }
        return output
    }

    /// CRC-32 as PNG chunks use it.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    /// Reads a binary PPM (P6, maxval 255) into an RGB image.
    static func readPPM(_ bytes: [UInt8]) -> Image? {
        var index = 0
        func token() -> String? {
            // Skip whitespace and `#` comments, then read up to the next whitespace.
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "#") {
                    while index < bytes.count && bytes[index] != 0x0A { index += 1 }
                } else if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                    index += 1
                } else {
                    break
                }
            }
            let start = index
            while index < bytes.count && ![0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
            return start < index ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }
        guard token() == "P6", let width = token().flatMap({ Int($0) }), let height = token().flatMap({ Int($0) }),
              token() == "255" else { return nil }
        index += 1 // the single whitespace byte after maxval
        let count = width * height * 3
        guard width > 0, height > 0, bytes.count - index >= count else { return nil }
        return Image(width: width, height: height, channels: 3, pixels: Array(bytes[index..<index + count]))
    }
}

/// Builders for small hand-made files: valid headers with hostile contents.
enum Forge {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// One PNG chunk with a correct CRC.
    static func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(Fixtures.crc32(typeAndData))
    }

    /// A PNG signature and IHDR declaring `width × height` (8-bit, colour type
    /// `colorType`), a small IDAT of zlib-compressed zeros, and IEND. Every CRC is valid.
    static func png(width: UInt32, height: UInt32, colorType: UInt8 = 2, idatBytes: Int = 1000) -> [UInt8] {
        let ihdr = bigEndian(width) + bigEndian(height) + [8, colorType, 0, 0, 0]
        let zeros = [UInt8](repeating: 0, count: idatBytes)
        var compressedSize = uLongf(compressBound(uLong(zeros.count)))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        _ = compress(&compressed, &compressedSize, zeros, uLong(zeros.count))
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + pngChunk("IHDR", ihdr)
            + pngChunk("IDAT", Array(compressed.prefix(Int(compressedSize))))
            + pngChunk("IEND", [])
    }

    /// A JPEG that stops right after its first scan header: SOI, an SOF (`marker`
    /// 0xC0 baseline, 0xC1 extended...) declaring `width × height`, `precision` bits and
    /// `components` components, and an SOS naming them. No tables and no entropy-coded
    /// data: enough for `jpeg_read_header`, nothing for decoding.
    static func jpegHeader(width: UInt16, height: UInt16, components: UInt8 = 3, precision: UInt8 = 8,
                           marker: UInt8 = 0xC0) -> [UInt8] {
        var sof: [UInt8] = [precision, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8),
                            UInt8(width & 0xFF), components]
        for id in 1...components { sof += [id, 0x11, 0] }
        var sos: [UInt8] = [components]
        for id in 1...components { sos += [id, 0x00] }
        sos += [0, 63, 0]
        func segment(_ marker: UInt8, _ body: [UInt8]) -> [UInt8] {
            let length = UInt16(body.count + 2)
            return [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + body
        }
        return [0xFF, 0xD8] + segment(marker, sof) + segment(0xDA, sos)
    }
}

extension Image {
    /// The pixels as 8-bit RGBA, the way the PNG-suite reference lists them: gray g
    /// becomes (g, g, g), and a missing alpha is 255.
    var rgba: [Int] {
        var out = [Int]()
        out.reserveCapacity(width * height * 4)
        for i in 0..<(width * height) {
            if channels == 1 {
                let g = Int(pixels[i])
                out += [g, g, g]
            } else {
                out += [Int(pixels[3 * i]), Int(pixels[3 * i + 1]), Int(pixels[3 * i + 2])]
            }
            out.append(alpha.map { Int($0[i]) } ?? 255)
        }
        return out
    }
}

/// Runs `body` with the path of a fresh temporary directory, removed afterwards.
@discardableResult
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let directory = try TemporaryDirectory(prefix: "imaging-test")
    return try withExtendedLifetime(directory) { try body(directory.url.path) }
}
