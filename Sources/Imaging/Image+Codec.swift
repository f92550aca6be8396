internal import CImageCodecs
internal import SystemIO
internal import SystemPackage

/// What an encoded image's header declares, read without decoding its pixels.
public struct ImageHeader: Sendable, Equatable {
    /// The format, recognised from the leading bytes.
    public var format: ImageFormat
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Colour channels of the decoded ``Image``: 1 (gray) or 3 (RGB).
    public var channels: Int
    /// Whether the decoded image has an alpha plane (PNG alpha colour types or tRNS).
    public var hasAlpha: Bool
    /// Bits per sample in the file (PNG 1–16; JPEG 8). Decoded images are always 8-bit.
    public var bitDepth: Int
    /// Whether the file is Adam7-interlaced (PNG) or progressive (JPEG).
    public var isInterlaced: Bool
}

extension Image {
    /// Whether the image has an alpha plane.
    public var hasAlpha: Bool { alpha != nil }

    /// Reads the header of an encoded PNG or JPEG without decoding its pixels.
    ///
    /// Wraps `CImageCodecs_png_read_header` / `CImageCodecs_jpeg_read_header`. Nothing
    /// that scales with the image is allocated, and no limit is applied here.
    /// - Parameter bytes: the encoded image.
    /// - Returns: the declared geometry and what decoding would produce.
    /// - Throws: ``ImagingError/empty``, ``ImagingError/unknownFormat(leadingBytes:)``, or
    ///   the decoder's ``ImagingError/truncated(format:message:)``,
    ///   ``ImagingError/corrupt(format:message:)`` or ``ImagingError/unsupported(format:reason:)``.
    public static func header(of bytes: [UInt8]) throws(ImagingError) -> ImageHeader {
        let format = try sniff(bytes)
        let info = try bytes.withUnsafeBytes { raw in
            Result { () throws(ImagingError) in try Codecs.readHeader(raw, format: format) }
        }.get()
        let output = Int(info.output_channels)
        return ImageHeader(
            format: format, width: Int(info.width), height: Int(info.height),
            channels: output >= 3 ? 3 : 1, hasAlpha: info.has_alpha != 0,
            bitDepth: Int(info.bit_depth), isInterlaced: info.interlaced != 0)
    }

    /// Decodes a PNG or JPEG held in memory into an 8-bit image.
    ///
    /// The format is recognised by its leading bytes, not by any name. The header is
    /// checked against `limits` before the pixel buffer is allocated. PNG: every colour
    /// type and bit depth, interlaced or not; palettes become RGB, tRNS becomes alpha,
    /// 16-bit samples are scaled to 8 bits with rounding, and no gamma is applied. JPEG:
    /// gray and RGB (YCbCr), baseline, progressive or arithmetic-coded, 8-bit only;
    /// CMYK/YCCK and 12-bit files are refused. Wraps `CImageCodecs_png_read_header` and
    /// `CImageCodecs_png_decode`, or their `jpeg` counterparts.
    /// - Parameters:
    ///   - bytes: the encoded image.
    ///   - limits: size caps checked before decoding (``ImageLimits/default`` if omitted).
    /// - Returns: an image with 1 or 3 channels, and an alpha plane if the file has one.
    /// - Throws: ``ImagingError/empty``, ``ImagingError/fileTooLarge(bytes:limit:)``,
    ///   ``ImagingError/unknownFormat(leadingBytes:)``,
    ///   ``ImagingError/tooLarge(width:height:limits:)``, or the decoder's
    ///   ``ImagingError/truncated(format:message:)``, ``ImagingError/corrupt(format:message:)``,
    ///   ``ImagingError/unsupported(format:reason:)``,
    ///   ``ImagingError/resourceLimit(format:message:)``, ``ImagingError/outOfMemory(format:)``.
    public static func decode(bytes: [UInt8], limits: ImageLimits = .default) throws(ImagingError) -> Image {
        if bytes.count > limits.maxFileBytes { throw .fileTooLarge(bytes: bytes.count, limit: limits.maxFileBytes) }
        let format = try sniff(bytes)
        return try bytes.withUnsafeBytes { raw in
            Result { () throws(ImagingError) in try Codecs.decode(raw, format: format, limits: limits) }
        }.get()
    }

    /// Reads and decodes the PNG or JPEG file at `path`.
    ///
    /// The file is opened with `O_NOFOLLOW` (a symbolic link as the last component is
    /// refused) and must be a regular file (checked with `fstat`, so FIFOs and devices
    /// are refused without blocking); its size is checked against
    /// ``ImageLimits/maxFileBytes`` before it is read. Decoding is as in
    /// ``decode(bytes:limits:)``.
    /// - Parameters:
    ///   - path: the file's path.
    ///   - limits: size caps (``ImageLimits/default`` if omitted).
    /// - Returns: the decoded image.
    /// - Throws: ``ImagingError/io(path:operation:errno:)`` or
    ///   ``ImagingError/notRegularFile(path:kind:)`` for the file itself; any error of
    ///   ``decode(bytes:limits:)`` about its contents, wrapped in
    ///   ``ImagingError/inFile(path:_:)``.
    public static func decode(contentsOf path: String, limits: ImageLimits = .default) throws(ImagingError) -> Image {
        let bytes = try encodedBytes(contentsOf: path, limits: limits)
        do {
            return try decode(bytes: bytes, limits: limits)
        } catch {
            throw .inFile(path: path, error)
        }
    }

    /// The bytes of an image file, read as ``decode(contentsOf:limits:)`` reads them (a
    /// regular file, at most `limits.maxFileBytes`), for a caller that also hashes them.
    /// - Throws: ``ImagingError/io(path:operation:errno:)``, ``ImagingError/notRegularFile(path:kind:)``
    ///   or a too-large file's error.
    public static func encodedBytes(contentsOf path: String, limits: ImageLimits = .default) throws(ImagingError) -> [UInt8] {
        do {
            return try FileSystem.readFile(FilePath(path), limit: Int64(limits.maxFileBytes))
        } catch {
            throw ImagingError(error)
        }
    }

    /// Encodes the image as an 8-bit PNG: gray, gray+alpha, RGB or RGBA, following
    /// ``channels`` and ``alpha``. Wraps `CImageCodecs_png_encode`.
    /// - Parameter content: what the picture is, which sets how it is compressed.
    /// - Returns: the PNG file's bytes.
    /// - Throws: ``ImagingError/encodingFailed(message:)`` or ``ImagingError/outOfMemory(format:)``.
    public func encodePNG(content: PNGContent = .photo) throws(ImagingError) -> [UInt8] {
        let (samples, stride) = interleavedWithAlpha
        return try Codecs.encodePNG(samples, width: width, height: height, channels: stride, content: content)
    }

    /// Encodes the image as PNG (see ``encodePNG(content:)``) and writes it to `path`.
    ///
    /// The file is created with mode 0644 or truncated; a symbolic link at `path` is
    /// refused (`O_NOFOLLOW`). The write is not atomic: publish results by writing to a
    /// temporary name and renaming. The system calls go through the SystemIO module, so
    /// its fault-injection rules apply to them.
    /// - Parameters:
    ///   - path: where to write.
    ///   - sync: whether to `fsync` the file before closing it.
    ///   - content: what the picture is, which sets how it is compressed.
    /// - Throws: the errors of ``encodePNG(content:)``, or ``ImagingError/io(path:operation:errno:)``.
    public func writePNG(to path: String, sync: Bool = false, content: PNGContent = .photo) throws(ImagingError) {
        let bytes = try encodePNG(content: content)
        do {
            try FileSystem.writeFile(FilePath(path), bytes, sync: sync, overwrite: true)
        } catch {
            throw ImagingError(error)
        }
    }

    /// The format of `bytes`, or the error for empty or unrecognised data.
    private static func sniff(_ bytes: [UInt8]) throws(ImagingError) -> ImageFormat {
        if bytes.isEmpty { throw .empty }
        guard let format = ImageFormat.sniff(bytes) else {
            if bytes.count >= 4, bytes[1] == 0x50, bytes[2] == 0x4E, bytes[3] == 0x47 {
                // "PNG" after the first byte: a PNG whose signature was damaged (the
                // signature's CR/LF bytes exist to catch text-mode transfers).
                throw .corrupt(format: .png, message: "damaged PNG signature (altered by a text-mode transfer?)")
            }
            throw .unknownFormat(leadingBytes: Array(bytes.prefix(8)))
        }
        return format
    }
}

/// What a PNG holds, which sets how it is compressed.
public enum PNGContent: Sendable {
    /// Photographs and completions: adaptive row filters (zlib level 1 above 1 MiB of samples).
    case photo
    /// Drawn figures (galleries, plots): flat areas and text compress as well
    /// without row filters, several times faster.
    case figure
    /// Drawn figures written for every job (the preview): an encoder of this module's own
    /// that looks for repeats one pixel and one row back only, several times faster than
    /// `figure` for files somewhat larger.
    case jobFigure

    var code: Int32 {
        switch self {
        case .photo: Int32(CImageCodecs_PNG_PHOTO)
        case .figure: Int32(CImageCodecs_PNG_FIGURE)
        case .jobFigure: Int32(CImageCodecs_PNG_JOB_FIGURE)
        }
    }
}
