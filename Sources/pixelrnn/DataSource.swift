import Foundation
import PixelRNN

/// Where images come from: `fashion-mnist` (train split), `fashion-mnist-test`, or a
/// folder of PNG/JPEG images.
enum DataSource {
    /// The training split and a held-out validation split carved from it.
    static func trainingData(_ spec: String, holdOut: Int, seed: UInt64, size: Int = 28, channels: Int = 1)
        throws -> (train: ImageDataset, validation: ImageDataset, epochs: (@Sendable (Int) -> ImageDataset)?)
    {
        if isFolder(spec) {
            let folder = try ImageFolderDataset(directory: spec, size: size, channels: channels)
            if !folder.skipped.isEmpty { printError("skipped \(folder.skipped.count) unreadable or too small files in \(spec)") }
            guard holdOut < folder.count else {
                throw DataSourceError("hold-out of \(holdOut) leaves no training images out of \(folder.count) in \(spec)")
            }
            let parts = folder.split(holdOut: holdOut, seed: seed)
            let train = parts.train
            let epochs: @Sendable (Int) -> ImageDataset = { epoch in
                var random = RandomSource(seed: seed, stream: 1000 + UInt64(epoch))
                return train.randomCrops(random: &random)
            }
            return (epochs(0), parts.heldOut.centreCrops(), epochs)
        }
        let all = try load(spec)
        guard holdOut < all.count else {
            throw DataSourceError("hold-out of \(holdOut) leaves no training images out of \(all.count)")
        }
        let parts = all.split(holdOut: holdOut, seed: seed)
        return (parts.train, parts.heldOut, nil)
    }

    static func isFolder(_ spec: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// All images of a source (a folder gives its centre crops).
    static func load(_ spec: String, size: Int = 28, channels: Int = 1) throws -> ImageDataset {
        if isFolder(spec) {
            return try ImageFolderDataset(directory: spec, size: size, channels: channels).centreCrops()
        }
        switch spec {
        case "fashion-mnist", "fashion-mnist-train": return try FashionMNIST.load(.train)
        case "fashion-mnist-test": return try FashionMNIST.load(.test)
        default:
            throw DataSourceError("unknown data source \"\(spec)\" (use fashion-mnist, fashion-mnist-test, or a folder of PNG/JPEG images)")
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
