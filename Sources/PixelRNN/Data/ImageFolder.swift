// Training on a user's own pictures: a folder of images, each scaled down by area
// averaging so that its shorter side is the training size, then cropped to a
// square (random crops for training, centre crops for evaluation).

import Dispatch
public import Imaging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemIO
import SystemPackage

/// The images of a folder, prepared for training at one size.
///
/// Loading, for each file in byte order of its path:
/// 1. **Files.** Names ending in `.png`, `.jpg`, `.jpeg`, `.pgm`, `.ppm` or `.pnm`
///    (any case) are read; names starting with `.` are ignored, as are other files.
///    With `recursive`, sub-folders are searched too (hidden ones and symbolic links
///    to folders are not followed); otherwise only the folder itself.
/// 2. **Colour.** Alpha is composited over white (a transparent pixel becomes white,
///    `v' = v·a + 255·(1 − a)` with `a = alpha/255`); then gray is copied into R, G and B,
///    or RGB becomes gray by Rec. 601 luma (`0.299 R + 0.587 G + 0.114 B`).
/// 3. **Size.** The image is scaled down by area averaging (every output pixel is the
///    exact area-weighted mean of the source pixels it covers, also for fractional
///    factors) so that its shorter side equals `size`; the longer side is scaled by the
///    same factor and rounded. Images are never scaled up: one whose shorter side is
///    below `size` is skipped. Results are rounded to the nearest integer.
/// 4. **Skipping.** Unreadable or too small files are skipped and listed in
///    ``skipped``; loading fails only when nothing usable remains.
///
/// The prepared images (shorter side `size`) are kept; crops are taken on demand.
public struct ImageFolderDataset: Sendable {
    /// A file that was not used, and why.
    public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
        /// Why a file was skipped.
        public enum Reason: Sendable, Equatable {
            /// It could not be read or decoded (the decoder's message).
            case unreadable(String)
            /// Its shorter side is below the training size (images are never scaled up).
            case tooSmall(width: Int, height: Int)
        }
        /// The file (or `#index` for an image given in memory).
        public var path: String
        /// Why it was skipped.
        public var reason: Reason

        public var description: String {
            switch reason {
            case .unreadable(let message): "\(path): unreadable: \(message)"
            case .tooSmall(let width, let height): "\(path): \(width)×\(height) is smaller than the training size"
            }
        }
    }

    /// Where the images came from, for reports.
    public let source: String
    /// The side of the square crops, and the length of every image's shorter side.
    public let size: Int
    /// Samples per pixel: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// The prepared images: shorter side ``size``, ``channels`` channels, no alpha.
    public let images: [Image]
    /// The file of each image in ``images``.
    public let paths: [String]
    /// The files that were skipped.
    public let skipped: [SkippedFile]

    /// The number of usable images.
    public var count: Int { images.count }

    /// The default cap on one image's width × height (checked before decoding the raster).
    public static let defaultMaximumPixels = 40_000_000

    /// Loads the images of a folder (see the type's description for the steps).
    ///
    /// Files are decoded in parallel, in batches, and taken in path order, so the result
    /// does not depend on the number of cores.
    /// - Parameters:
    ///   - directory: The folder.
    ///   - size: The training size (side of the square crops), positive.
    ///   - channels: 1 (gray) or 3 (RGB).
    ///   - limit: The most images to keep (the first in path order), or `nil` for all.
    ///   - recursive: Whether to search sub-folders.
    ///   - maximumPixels: Larger images are skipped as unreadable.
    /// - Throws: ``DatasetError/notADirectory(path:)``, ``DatasetError/io(path:call:errno:)``
    ///   when the folder cannot be listed, ``DatasetError/noImages(path:skipped:)`` when
    ///   nothing usable is found.
    public init(
        directory: String, size: Int, channels: Int, limit: Int? = nil, recursive: Bool = false,
        maximumPixels: Int = defaultMaximumPixels
    ) throws(DatasetError) {
        precondition(size > 0, "size must be positive")
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        precondition(limit.map { $0 >= 0 } ?? true, "negative limit")
        let files = try listImageFiles(directory, recursive: recursive)
        let wanted = limit ?? Int.max

        var images: [Image] = []
        var paths: [String] = []
        var skipped: [SkippedFile] = []
        var next = 0
        let batchSize = 64
        while next < files.count, images.count < wanted {
            let batch = Array(files[next..<min(next + batchSize, files.count)])
            let results = concurrentMap(batch) { path -> LoadOutcome in
                do throws(DatasetError) {
                    let image = try decodeImageFile(path, maximumPixels: maximumPixels)
                    guard let prepared = Self.prepare(image, size: size, channels: channels) else {
                        return .skipped(SkippedFile(path: path, reason: .tooSmall(width: image.width, height: image.height)))
                    }
                    return .image(prepared)
                } catch {
                    let reason = if case .unreadableImage(_, let reason) = error { reason } else { error.description }
                    return .skipped(SkippedFile(path: path, reason: .unreadable(reason)))
                }
            }
            for (path, result) in zip(batch, results) where images.count < wanted {
                switch result {
                case .image(let image):
                    images.append(image)
                    paths.append(path)
                case .skipped(let skip):
                    skipped.append(skip)
                }
            }
            next += batch.count
        }
        guard !images.isEmpty || wanted == 0 else { throw .noImages(path: directory, skipped: skipped.count) }
        self.init(source: "images in \(directory)", size: size, channels: channels, images: images, paths: paths, skipped: skipped)
    }

    /// Prepares images already in memory, as the folder loader does with files.
    /// - Parameters:
    ///   - images: The images, of any size and channel count, with or without alpha.
    ///   - size: The training size, positive.
    ///   - channels: 1 or 3.
    ///   - source: A description for reports.
    /// Images too small are listed in ``skipped`` with the path `#index`.
    public init(images: [Image], size: Int, channels: Int, source: String = "images in memory") {
        precondition(size > 0, "size must be positive")
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        var kept: [Image] = []
        var paths: [String] = []
        var skipped: [SkippedFile] = []
        for (index, image) in images.enumerated() {
            if let prepared = Self.prepare(image, size: size, channels: channels) {
                kept.append(prepared)
                paths.append("#\(index)")
            } else {
                skipped.append(SkippedFile(path: "#\(index)", reason: .tooSmall(width: image.width, height: image.height)))
            }
        }
        self.init(source: source, size: size, channels: channels, images: kept, paths: paths, skipped: skipped)
    }

    /// What loading one file gave.
    private enum LoadOutcome: Sendable {
        case image(Image)
        case skipped(SkippedFile)
    }

    private init(source: String, size: Int, channels: Int, images: [Image], paths: [String], skipped: [SkippedFile]) {
        self.source = source
        self.size = size
        self.channels = channels
        self.images = images
        self.paths = paths
        self.skipped = skipped
    }

    // MARK: Crops

    /// Samples in one crop: `size × size × channels`.
    public var cropByteCount: Int { size * size * channels }

    /// Copies the centred `size × size` crop of image `index` into `buffer` (HWC).
    /// When the free length is odd, the crop sits half a pixel up or left of centre.
    /// - Precondition: The index is in range and `buffer.count == cropByteCount`.
    public func centreCrop(_ index: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let image = images[index]
        crop(index, x: (image.width - size) / 2, y: (image.height - size) / 2, into: buffer)
    }

    /// Copies a uniformly placed `size × size` crop of image `index` into `buffer` (HWC).
    /// - Parameters:
    ///   - index: The image.
    ///   - random: Chooses the crop's position (two draws).
    ///   - buffer: Exactly ``cropByteCount`` bytes.
    public func randomCrop(_ index: Int, random: inout RandomSource, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let image = images[index]
        let x = random.nextInt(below: image.width - size + 1)
        let y = random.nextInt(below: image.height - size + 1)
        crop(index, x: x, y: y, into: buffer)
    }

    /// Copies the `size × size` crop of image `index` whose top-left pixel is (`x`, `y`).
    /// - Precondition: The crop lies inside the image and the buffer has ``cropByteCount`` bytes.
    public func crop(_ index: Int, x: Int, y: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let image = images[index]
        precondition(x >= 0 && y >= 0 && x + size <= image.width && y + size <= image.height, "crop outside the image")
        precondition(buffer.count == cropByteCount, "buffer size differs from the crop size")
        let rowBytes = size * channels
        image.pixels.withUnsafeBufferPointer { source in
            for row in 0..<size {
                let from = source.baseAddress! + ((y + row) * image.width + x) * channels
                (buffer.baseAddress! + row * rowBytes).update(from: from, count: rowBytes)
            }
        }
    }

    /// The centre crop of every image, as a data set for evaluation.
    public func centreCrops() -> ImageDataset {
        crops { index, buffer in centreCrop(index, into: buffer) }
    }

    /// One random crop of every image (a fresh draw per call), as a data set for an epoch.
    /// - Parameter random: Chooses the crops' positions.
    public func randomCrops(random: inout RandomSource) -> ImageDataset {
        var generator = random
        defer { random = generator }
        return crops { index, buffer in randomCrop(index, random: &generator, into: buffer) }
    }

    private func crops(_ body: (Int, UnsafeMutableBufferPointer<UInt8>) -> Void) -> ImageDataset {
        let size = cropByteCount
        var pixels = [UInt8](repeating: 0, count: count * size)
        pixels.withUnsafeMutableBufferPointer { all in
            for index in 0..<count {
                body(index, UnsafeMutableBufferPointer(rebasing: all[index * size..<(index + 1) * size]))
            }
        }
        return ImageDataset(source: source, height: self.size, width: self.size, channels: channels, pixels: pixels)
    }

    // MARK: Splitting

    /// Splits off `holdOut` images, chosen by a shuffle seeded with `seed` (as
    /// ``ImageDataset/split(holdOut:seed:)``). Both parts keep the load's ``skipped`` list.
    /// - Precondition: `0 <= holdOut <= count`.
    public func split(holdOut: Int, seed: UInt64) -> (train: ImageFolderDataset, heldOut: ImageFolderDataset) {
        let (train, held) = splitIndices(count: count, holdOut: holdOut, seed: seed)
        func part(_ indices: [Int], _ suffix: String) -> ImageFolderDataset {
            ImageFolderDataset(
                source: "\(source) (\(suffix))", size: size, channels: channels,
                images: indices.map { images[$0] }, paths: indices.map { paths[$0] }, skipped: skipped)
        }
        return (part(train, "train part"), part(held, "held out"))
    }

    // MARK: Preparation

    /// Converts an image to `channels` channels (alpha composited over white) and
    /// scales it down by area averaging so that its shorter side is `size`.
    /// - Returns: The prepared image, or `nil` when its shorter side is below `size`.
    public static func prepare(_ image: Image, size: Int, channels: Int) -> Image? {
        precondition(size > 0 && (channels == 1 || channels == 3), "invalid size or channels")
        let width = image.width, height = image.height
        guard min(width, height) >= size else { return nil }
        let (newWidth, newHeight): (Int, Int)
        if width <= height {
            newWidth = size
            newHeight = max(size, Int((Double(height) * Double(size) / Double(width)).rounded()))
        } else {
            newHeight = size
            newWidth = max(size, Int((Double(width) * Double(size) / Double(height)).rounded()))
        }
        return resize(image, width: newWidth, height: newHeight, channels: channels)
    }

    /// Converts an image to `channels` channels (alpha, if any, composited over white;
    /// gray copied into R, G, B or RGB to Rec. 601 luma) and scales it down by area
    /// averaging to exactly `width × height`, rounding to the nearest integer.
    /// - Precondition: the new size is positive and no larger than the image on either side.
    public static func resize(_ image: Image, width newWidth: Int, height newHeight: Int, channels: Int) -> Image {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        let width = image.width, height = image.height
        let columns = AreaWeights(source: width, target: newWidth)
        let rows = AreaWeights(source: height, target: newHeight)
        let d = channels
        let sourceChannels = image.channels

        // Horizontal pass, one converted source row at a time: height × newWidth × d.
        var horizontal = [Float](repeating: 0, count: height * newWidth * d)
        var row = [Float](repeating: 0, count: width * d)
        image.pixels.withUnsafeBufferPointer { pixels in
            row.withUnsafeMutableBufferPointer { row in
                horizontal.withUnsafeMutableBufferPointer { horizontal in
                    for y in 0..<height {
                        convertRow(pixels, alpha: image.alpha, y: y, width: width, from: sourceChannels, to: d, into: row)
                        let out = horizontal.baseAddress! + y * newWidth * d
                        columns.apply(row.baseAddress!, stride: d, channels: d, into: out, outputStride: d)
                    }
                }
            }
        }

        // Vertical pass: newHeight × newWidth × d, rounded to bytes.
        var result = [UInt8](repeating: 0, count: newHeight * newWidth * d)
        var accumulator = [Float](repeating: 0, count: newWidth * d)
        horizontal.withUnsafeBufferPointer { horizontal in
            accumulator.withUnsafeMutableBufferPointer { accumulator in
                result.withUnsafeMutableBufferPointer { result in
                    let rowLength = newWidth * d
                    for oy in 0..<newHeight {
                        accumulator.update(repeating: 0)
                        for k in 0..<rows.counts[oy] {
                            let weight = rows.weights[rows.offsets[oy] + k]
                            let source = horizontal.baseAddress! + (rows.starts[oy] + k) * rowLength
                            for i in 0..<rowLength { accumulator[i] += weight * source[i] }
                        }
                        for i in 0..<rowLength {
                            let value = accumulator[i].rounded(.toNearestOrAwayFromZero)
                            result[oy * rowLength + i] = UInt8(max(0, min(255, value)))
                        }
                    }
                }
            }
        }
        return Image(width: newWidth, height: newHeight, channels: d, pixels: result)
    }
}

/// Converts row `y` of an image to `to` channels as floats 0…255, compositing alpha
/// over white and converting gray ↔ RGB (Rec. 601 luma).
private func convertRow(
    _ pixels: UnsafeBufferPointer<UInt8>, alpha: [UInt8]?, y: Int, width: Int, from c: Int, to d: Int,
    into row: UnsafeMutableBufferPointer<Float>
) {
    let base = y * width * c
    for x in 0..<width {
        let a: Float = alpha.map { Float($0[y * width + x]) / 255 } ?? 1
        let background = 255 * (1 - a)
        let p = base + x * c
        if c == 1 {
            let v = Float(pixels[p]) * a + background
            if d == 1 {
                row[x] = v
            } else {
                row[3 * x] = v
                row[3 * x + 1] = v
                row[3 * x + 2] = v
            }
        } else {
            let r = Float(pixels[p]) * a + background
            let g = Float(pixels[p + 1]) * a + background
            let b = Float(pixels[p + 2]) * a + background
            if d == 1 {
                row[x] = 0.299 * r + 0.587 * g + 0.114 * b
            } else {
                row[3 * x] = r
                row[3 * x + 1] = g
                row[3 * x + 2] = b
            }
        }
    }
}

/// Area-averaging weights along one axis, shrinking `source` samples to `target`.
///
/// Output `o` covers the source interval `[o·s, (o+1)·s)` with `s = source / target`;
/// source sample `i` covers `[i, i+1)` and weighs `overlap / s`. The weights of one
/// output sum to 1.
struct AreaWeights {
    /// First source index of each output.
    var starts: [Int] = []
    /// Number of source indices of each output.
    var counts: [Int] = []
    /// Where each output's weights begin in ``weights``.
    var offsets: [Int] = []
    /// All weights, output after output.
    var weights: [Float] = []

    init(source: Int, target: Int) {
        precondition(target > 0 && target <= source, "area averaging only shrinks")
        let scale = Double(source) / Double(target)
        for o in 0..<target {
            // Exact rational bounds: o·source/target, computed without accumulating error.
            let low = Double(o * source) / Double(target)
            let high = Double((o + 1) * source) / Double(target)
            let first = Int(low.rounded(.down))
            let last = min(source - 1, Int(high.rounded(.up)) - 1)
            starts.append(first)
            offsets.append(weights.count)
            var n = 0
            for i in first...last {
                let overlap = min(high, Double(i + 1)) - max(low, Double(i))
                weights.append(Float(max(0, overlap) / scale))
                n += 1
            }
            counts.append(n)
        }
    }

    /// Resamples `channels` interleaved channels: output `o`, channel `c` goes to
    /// `output[o * outputStride + c]`, reading `input[i * stride + c]`.
    func apply(
        _ input: UnsafePointer<Float>, stride: Int, channels: Int, into output: UnsafeMutablePointer<Float>,
        outputStride: Int
    ) {
        weights.withUnsafeBufferPointer { weights in
            for o in 0..<starts.count {
                for c in 0..<channels {
                    var sum: Float = 0
                    let offset = offsets[o]
                    for k in 0..<counts[o] {
                        sum += weights[offset + k] * input[(starts[o] + k) * stride + c]
                    }
                    output[o * outputStride + c] = sum
                }
            }
        }
    }
}

// MARK: - Listing and parallel decoding

/// The image files of a folder (see ``ImageFolderDataset``), sorted by path bytes.
private func listImageFiles(_ directory: String, recursive: Bool) throws(DatasetError) -> [String] {
    let top: FileSystem.Metadata?
    do { top = try FileSystem.metadata(FilePath(directory), followLinks: true) } catch {
        throw DatasetError(error, path: directory)
    }
    guard let top else { throw .io(path: directory, call: "stat", errno: ENOENT) }
    guard top.kind == .directory else { throw .notADirectory(path: directory) }
    var files: [String] = []
    var pending = [directory]
    while let folder = pending.popLast() {
        let names: [String]
        do { names = try FileSystem.list(FilePath(folder)) } catch { throw DatasetError(error, path: folder) }
        for name in names where !name.hasPrefix(".") {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            guard let entry = try? FileSystem.metadata(FilePath(path)) else { continue }
            if entry.kind == .directory {
                if recursive { pending.append(path) }
                continue
            }
            guard let dot = name.lastIndex(of: "."),
                imageFileExtensions.contains(name[name.index(after: dot)...].lowercased())
            else { continue }
            // Follows a symbolic link to a file.
            guard (try? FileSystem.metadata(FilePath(path), followLinks: true))?.kind == .regular else { continue }
            files.append(path)
        }
    }
    return files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}

/// `items.map(transform)`, computed on all cores (`DispatchQueue.concurrentPerform`).
private func concurrentMap<Item: Sendable, Output: Sendable>(
    _ items: [Item], _ transform: @Sendable (Item) -> Output
) -> [Output] {
    let slots = UnsafeMutableBufferPointer<Output?>.allocate(capacity: items.count)
    slots.initialize(repeating: nil)
    defer {
        _ = slots.deinitialize()
        slots.deallocate()
    }
    nonisolated(unsafe) let shared = slots  // each iteration writes only its own slot
    DispatchQueue.concurrentPerform(iterations: items.count) { i in
        shared[i] = transform(items[i])
    }
    return slots.map { $0! }
}
