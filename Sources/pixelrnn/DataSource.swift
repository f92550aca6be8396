import Foundation
import PixelRNN

/// Where images come from: `fashion-mnist` (train split), `fashion-mnist-test`, or a
/// folder of PNG/JPEG images.
enum DataSource {
    /// The training split and a held-out validation split carved from it.
    static func trainingData(_ spec: String, holdOut: Int, seed: UInt64) throws -> (train: ImageDataset, validation: ImageDataset) {
        let all = try load(spec)
        guard holdOut < all.count else {
            throw DataSourceError("hold-out of \(holdOut) leaves no training images out of \(all.count)")
        }
        let parts = all.split(holdOut: holdOut, seed: seed)
        return (parts.train, parts.heldOut)
    }

    /// All images of a source.
    static func load(_ spec: String) throws -> ImageDataset {
        switch spec {
        case "fashion-mnist", "fashion-mnist-train": return try FashionMNIST.load(.train)
        case "fashion-mnist-test": return try FashionMNIST.load(.test)
        default:
            throw DataSourceError("unknown data source \"\(spec)\" (use fashion-mnist, fashion-mnist-test)")
        }
    }
}

struct DataSourceError: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// Formats seconds as `1h02m`, `3m05s` or `12s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}

/// Writes a line to stderr immediately.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
