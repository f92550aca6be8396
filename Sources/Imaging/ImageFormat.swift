/// An encoded image format, recognised by its leading bytes (never by file name).
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    /// PNG: signature `89 50 4E 47 0D 0A 1A 0A`.
    case png
    /// JPEG (JFIF, Exif or raw): starts with SOI `FF D8` followed by a marker `FF`.
    case jpeg

    /// The format's usual name ("PNG", "JPEG").
    public var name: String {
        switch self {
        case .png: "PNG"
        case .jpeg: "JPEG"
        }
    }

    /// The PNG file signature.
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Recognises the format from the first bytes of the data.
    /// - Parameter bytes: the data, or at least its first 8 bytes.
    /// - Returns: the format, or `nil` if the bytes start neither a PNG nor a JPEG.
    public static func sniff<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> ImageFormat? {
        if bytes.starts(with: pngSignature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }
}
