import Foundation
import Imaging

/// Writes `image` as an uncompressed PNG into the folder named by the environment variable
/// `DRAWING_PREVIEW_DIR`, when it is set, so that renderings can be inspected by eye. Does
/// nothing otherwise.
func writePreview(_ image: Image, named name: String) {
    guard let folder = ProcessInfo.processInfo.environment["DRAWING_PREVIEW_DIR"], !folder.isEmpty else { return }
    let url = URL(fileURLWithPath: folder).appendingPathComponent(name + ".png")
    try? Data(storedPNG(image)).write(to: url)
}

/// A minimal PNG encoder using stored (uncompressed) deflate blocks; test-only.
func storedPNG(_ image: Image) -> [UInt8] {
    var raw: [UInt8] = []
    let rowBytes = image.width * image.channels
    raw.reserveCapacity((rowBytes + 1) * image.height)
    for y in 0..<image.height {
        raw.append(0)
        raw.append(contentsOf: image.pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
    }
    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let n = min(65535, raw.count - offset)
        let last: UInt8 = offset + n == raw.count ? 1 : 0
        zlib.append(last)
        zlib.append(UInt8(n & 0xFF)); zlib.append(UInt8(n >> 8))
        zlib.append(UInt8(~n & 0xFF)); zlib.append(UInt8((~n >> 8) & 0xFF))
        zlib.append(contentsOf: raw[offset..<(offset + n)])
        offset += n
    } while offset < raw.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw {
        a = (a + UInt32(byte)) % 65521
        b = (b + a) % 65521
    }
    zlib.append(contentsOf: bigEndian((b << 16) | a))

    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    var header = bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
    header += [8, image.channels == 3 ? 2 : 0, 0, 0, 0]
    appendChunk(&png, "IHDR", header)
    appendChunk(&png, "IDAT", zlib)
    appendChunk(&png, "IEND", [])
    return png
}

private func bigEndian(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
}

private func appendChunk(_ png: inout [UInt8], _ type: String, _ data: [UInt8]) {
    png += bigEndian(UInt32(data.count))
    let body = Array(type.utf8) + data
    png += body
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in body {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    png += bigEndian(~crc)
}
