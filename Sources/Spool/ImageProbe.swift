import Imaging
import SystemPackage

/// What the spool asks of an image before claiming it, from its header alone (Imaging's
/// `Image.header(of:)`, read by libpng or libjpeg; no pixels are decoded).
enum ImageProbe {
    /// Whether the image file at `path` declares transparency (a PNG alpha colour type or a
    /// `tRNS` chunk); `nil` when it cannot be read or is not an image (the processor then
    /// reports why).
    /// - Parameters:
    ///   - path: the file, read with `O_NOFOLLOW` as a regular file.
    ///   - limit: the most bytes to read (`max_bytes`).
    static func pngHasAlpha(_ path: FilePath, limit: Int64) -> Bool? {
        guard let bytes = try? FS.readFile(path, limit: limit), let header = try? Image.header(of: bytes) else { return nil }
        return header.hasAlpha
    }
}
