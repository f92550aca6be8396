internal import CImageCodecs

/// The Swift side of the `CImageCodecs` shim: each function wraps one or two C calls,
/// checks limits between the header and the decode phase, and turns the C status code
/// into an ``ImagingError`` in one place (``check(_:_:format:)``).
enum Codecs {
    /// Room for libpng's and libjpeg's messages (theirs are under 200 bytes).
    static let messageCapacity = 512

    /// A message buffer the C functions write into.
    struct Message {
        private var storage = [CChar](repeating: 0, count: Codecs.messageCapacity)

        /// Calls `body` with the buffer and its capacity.
        mutating func with<R>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> R {
            storage.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        }

        /// The NUL-terminated text in the buffer.
        var text: String {
            storage.withUnsafeBufferPointer { buffer in
                let end = buffer.firstIndex(of: 0) ?? buffer.count
                return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }

    /// Maps a `CImageCodecs_*` status and its message to an error; returns on `CImageCodecs_OK`.
    static func check(_ status: Int32, _ message: Message, format: ImageFormat) throws(ImagingError) {
        let text = message.text
        switch status {
        case CImageCodecs_OK: return
        case CImageCodecs_TRUNCATED: throw .truncated(format: format, message: text)
        case CImageCodecs_UNSUPPORTED: throw .unsupported(format: format, reason: text)
        case CImageCodecs_OUT_OF_MEMORY: throw .outOfMemory(format: format)
        case CImageCodecs_LIMIT_EXCEEDED: throw .resourceLimit(format: format, message: text)
        case CImageCodecs_CORRUPT: throw .corrupt(format: format, message: text)
        default: throw .corrupt(format: format, message: text.isEmpty ? "decoder status \(status)" : text)
        }
    }

    // MARK: - Headers

    /// Reads the header of `bytes` in `format` (`CImageCodecs_png_read_header` or
    /// `CImageCodecs_jpeg_read_header`).
    static func readHeader(_ bytes: UnsafeRawBufferPointer, format: ImageFormat) throws(ImagingError)
        -> CImageCodecs_image_info
    {
        var info = CImageCodecs_image_info()
        var message = Message()
        let status = message.with { text, capacity in
            switch format {
            case .png: CImageCodecs_png_read_header(bytes.baseAddress, bytes.count, &info, text, capacity)
            case .jpeg: CImageCodecs_jpeg_read_header(bytes.baseAddress, bytes.count, &info, text, capacity)
            }
        }
        try check(status, message, format: format)
        guard info.width > 0, info.height > 0 else {
            throw .corrupt(format: format, message: "header declares an empty image")
        }
        if format == .jpeg {
            if info.bit_depth != 8 {
                throw .unsupported(format: .jpeg, reason: "\(info.bit_depth)-bit samples; only 8-bit JPEG is supported")
            }
            if info.output_channels == 0 {
                throw .unsupported(format: .jpeg, reason: jpegColorSpaceReason(info))
            }
        }
        return info
    }

    /// Why a JPEG colour space is refused.
    private static func jpegColorSpaceReason(_ info: CImageCodecs_image_info) -> String {
        switch info.color_type {
        case 4: "CMYK colour (4 components) is not supported; convert the image to RGB"
        case 5: "YCCK colour (4 components, Adobe CMYK) is not supported; convert the image to RGB"
        default: "colour space \(info.color_type) with \(info.source_channels) components is not supported"
        }
    }

    // MARK: - Decoding

    /// Decodes `bytes` (already recognised as `format`) after checking its header
    /// against `limits`. Calls `CImageCodecs_{png,jpeg}_read_header`, then
    /// `CImageCodecs_{png,jpeg}_decode`.
    static func decode(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, limits: ImageLimits)
        throws(ImagingError) -> Image
    {
        let info = try readHeader(bytes, format: format)
        let width = Int(info.width)
        let height = Int(info.height)
        try limits.check(width: width, height: height)
        let channels = Int(info.output_channels)
        var samples = [UInt8](repeating: 0, count: width * height * channels)
        var message = Message()
        let status = samples.withUnsafeMutableBytes { out in
            message.with { text, capacity in
                switch format {
                case .png:
                    CImageCodecs_png_decode(
                        bytes.baseAddress, bytes.count, info.width, info.height, info.output_channels,
                        UInt32(clamping: limits.maxWidth), UInt32(clamping: limits.maxHeight),
                        out.baseAddress, out.count, text, capacity)
                case .jpeg:
                    CImageCodecs_jpeg_decode(
                        bytes.baseAddress, bytes.count, info.width, info.height, info.output_channels,
                        Int32(clamping: limits.maxJPEGScans), limits.jpegWorkingMemory,
                        out.baseAddress, out.count, text, capacity)
                }
            }
        }
        try check(status, message, format: format)
        return Image(width: width, height: height, interleaved: samples, channels: channels)
    }

    // MARK: - Encoding

    /// Encodes `width × height` pixels of `channels` interleaved 8-bit samples (1 gray,
    /// 2 gray+alpha, 3 RGB, 4 RGBA) as PNG with `CImageCodecs_png_encode`, compressed for `content`.
    static func encodePNG(_ samples: [UInt8], width: Int, height: Int, channels: Int,
                          content: PNGContent = .photo) throws(ImagingError) -> [UInt8] {
        precondition((1...4).contains(channels) && samples.count == width * height * channels)
        guard let w = UInt32(exactly: width), let h = UInt32(exactly: height) else {
            throw .encodingFailed(message: "image too large for PNG (\(width)×\(height))")
        }
        var message = Message()
        var output: UnsafeMutableRawPointer?
        var outputSize = 0
        let status = samples.withUnsafeBytes { input in
            message.with { text, capacity in
                CImageCodecs_png_encode(input.baseAddress, w, h, Int32(channels), content.code, &output, &outputSize,
                                        text, capacity)
            }
        }
        // The shim allocated `output`; it is ours to free, whatever happens next.
        defer { CImageCodecs_free(output) }
        switch status {
        case CImageCodecs_OK: break
        case CImageCodecs_OUT_OF_MEMORY: throw .outOfMemory(format: .png)
        default: throw .encodingFailed(message: message.text)
        }
        guard let output else { throw .encodingFailed(message: "no output") }
        return [UInt8](UnsafeRawBufferPointer(start: output, count: outputSize))
    }
}

extension Image {
    /// Splits interleaved decoder output (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA samples a
    /// pixel) into colour samples and a separate alpha plane.
    init(width: Int, height: Int, interleaved: [UInt8], channels: Int) {
        switch channels {
        case 1, 3:
            self.init(width: width, height: height, channels: channels, pixels: interleaved)
        default:
            let colour = channels - 1
            let count = width * height
            var pixels = [UInt8](repeating: 0, count: count * colour)
            var alpha = [UInt8](repeating: 0, count: count)
            interleaved.withUnsafeBufferPointer { source in
                pixels.withUnsafeMutableBufferPointer { pixels in
                    alpha.withUnsafeMutableBufferPointer { alpha in
                        for i in 0..<count {
                            for c in 0..<colour { pixels[i * colour + c] = source[i * channels + c] }
                            alpha[i] = source[i * channels + colour]
                        }
                    }
                }
            }
            self.init(width: width, height: height, channels: colour, pixels: pixels, alpha: alpha)
        }
    }

    /// The pixels interleaved with alpha, as the PNG encoder takes them: `channels`
    /// samples a pixel without alpha, `channels + 1` with.
    var interleavedWithAlpha: (samples: [UInt8], channels: Int) {
        guard let alpha else { return (pixels, channels) }
        let stride = channels + 1
        let count = width * height
        var samples = [UInt8](repeating: 0, count: count * stride)
        samples.withUnsafeMutableBufferPointer { out in
            pixels.withUnsafeBufferPointer { pixels in
                alpha.withUnsafeBufferPointer { alpha in
                    for i in 0..<count {
                        for c in 0..<channels { out[i * stride + c] = pixels[i * channels + c] }
                        out[i * stride + channels] = alpha[i]
                    }
                }
            }
        }
        return (samples, stride)
    }
}
