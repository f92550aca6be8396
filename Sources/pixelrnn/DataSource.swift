import Foundation
import Imaging
import PixelRNN

/// Where images come from: `fashion-mnist` (train split), `fashion-mnist-test`,
/// `wallpapers` (colour; its test tiles for evaluation), or a folder of PNG/JPEG images.
enum DataSource {
    /// Random crops drawn for each epoch of `wallpapers` training.
    static let wallpaperCropsPerEpoch = 16_000

    /// The training split and a held-out validation split carved from it.
    static func trainingData(_ spec: String, holdOut: Int, seed: UInt64, size: Int = 28, channels: Int = 1)
        throws -> (train: ImageDataset, validation: ImageDataset, epochs: (@Sendable (Int) -> ImageDataset)?)
    {
        if let extras = wallpaperExtras[spec] {
            return try wallpaperTrainingData(extras: extras, seed: seed, size: size)
        }
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

    /// The colour training sets and the packages of ``Wallpapers/extraSources`` each adds
    /// to the training wallpapers: `wallpapers` all of them, `wallpapers-photos` all but
    /// the tuxpaint stamps (objects cut out and composited over white), `wallpapers-only` none.
    static let wallpaperExtras: [String: Set<String>] = [
        "wallpapers": Set(Wallpapers.extraSources.map(\.package)),
        "wallpapers-photos": Set(Wallpapers.extraSources.map(\.package).filter { $0 != "tuxpaint-stamps-default" }),
        "wallpapers-only": [],
    ]

    /// `wallpapers` training (docs/data-wallpapers.md): random crops of the training
    /// pictures at several scales, fresh for every epoch; validation on the tiles of
    /// 5 training wallpapers held out of training (every 12th, from the 7th), never on
    /// the test pictures. `extras` names the packages of ``Wallpapers/extraSources`` to add.
    static func wallpaperTrainingData(extras: Set<String>, seed: UInt64, size: Int)
        throws -> (train: ImageDataset, validation: ImageDataset, epochs: (@Sendable (Int) -> ImageDataset)?)
    {
        let split = try Wallpapers.split()
        let held = split.train.indices.filter { $0 % 12 == 6 }.map { split.train[$0] }
        let trainPaths = split.train.filter { !held.contains($0) }
        var validationPixels: [UInt8] = []
        for path in held {
            let picture = Wallpapers.scaled(try Wallpapers.picture(path), longSide: Wallpapers.testLongSide, keepAlpha: false)
            validationPixels += Wallpapers.tiles(of: picture, size: size)
        }
        let validation = ImageDataset(source: "wallpapers validation tiles of \(held.count) held-out training pictures",
                                      height: size, width: size, channels: 3, pixels: validationPixels)
        let (pictures, counts) = try Wallpapers.trainingPictures(trainPaths, extras: extras)
        printError("training pictures: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                   + "; \(pictures.count) scaled copies")
        let epochs: @Sendable (Int) -> ImageDataset = { epoch in
            var random = RandomSource(seed: seed, stream: 2000 + UInt64(epoch))
            return Wallpapers.randomCrops(of: pictures, count: wallpaperCropsPerEpoch, size: size, random: &random)
        }
        return (epochs(0), validation, epochs)
    }

    static func isFolder(_ spec: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// All images of a source; a folder's images are taken as they are (any alpha
    /// dropped, converted to `channels`), in path order, one data set per image size.
    static func load(_ spec: String, channels: Int = 1) throws -> [ImageDataset] {
        if isFolder(spec) { return try folderAsItIs(spec, channels: channels) }
        return [try load(spec)]
    }

    /// A folder's PNG and JPEG images as they are, grouped by size (the first size first).
    static func folderAsItIs(_ directory: String, channels: Int) throws -> [ImageDataset] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { name in
            let lowered = name.lowercased()
            return !name.hasPrefix(".") && (lowered.hasSuffix(".png") || lowered.hasSuffix(".jpg") || lowered.hasSuffix(".jpeg"))
        }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        guard !names.isEmpty else { throw DataSourceError("no PNG or JPEG images in \(directory)") }
        var groups: [String: [Image]] = [:]
        var order: [String] = []
        for name in names {
            var image = try Image.decode(contentsOf: directory + "/" + name)
            image.alpha = nil
            let converted = image.channels == channels
                ? image : ImageFolderDataset.resize(image, width: image.width, height: image.height, channels: channels)
            let key = "\(image.width)x\(image.height)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(converted)
        }
        return order.map { ImageDataset(source: "\(groups[$0]!.count) images of \($0) in \(directory)", images: groups[$0]!) }
    }

    /// One named data set.
    static func load(_ spec: String) throws -> ImageDataset {
        switch spec {
        case "fashion-mnist", "fashion-mnist-train": return try FashionMNIST.load(.train)
        case "fashion-mnist-test": return try FashionMNIST.load(.test)
        case "wallpapers", "wallpapers-test": return try Wallpapers.testTiles(Wallpapers.split())
        default:
            throw DataSourceError("unknown data source \"\(spec)\" (use fashion-mnist, fashion-mnist-test, wallpapers, or a folder of PNG/JPEG images)")
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
