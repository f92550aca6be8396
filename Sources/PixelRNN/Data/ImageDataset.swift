// In-memory image data sets of one geometry, as the trainer and the evaluator
// consume them, and the Fashion-MNIST loader.

public import Imaging
import SystemIO
import SystemPackage

/// A set of images of one size and channel count, stored contiguously.
///
/// Image `i` occupies `pixels[i * imageByteCount ..< (i + 1) * imageByteCount]`, in
/// row-major order with channels interleaved (HWC), one byte per sample (0…255).
/// The value is immutable and cheap to copy (the pixel array is copy-on-write).
public struct ImageDataset: Sendable, Equatable, CustomStringConvertible {
    /// Where the images came from, for reports (for example "Fashion-MNIST train").
    public let source: String
    /// The number of images.
    public let count: Int
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int
    /// Samples per pixel: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// All samples: `count × height × width × channels`, image after image, HWC.
    public let pixels: [UInt8]

    /// Creates a data set over existing samples.
    /// - Parameters:
    ///   - source: A short description of the origin, for reports.
    ///   - height: Rows per image (positive).
    ///   - width: Columns per image (positive).
    ///   - channels: 1 or 3.
    ///   - pixels: `count × height × width × channels` samples, HWC per image.
    /// - Precondition: The geometry is valid and `pixels.count` is a multiple of the image size.
    public init(source: String, height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(height > 0 && width > 0, "empty image geometry")
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        let size = height * width * channels
        precondition(pixels.count % size == 0, "pixel count is not a multiple of the image size")
        self.source = source
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
        self.count = pixels.count / size
    }

    /// Creates a data set from images that all have the same geometry (any alpha is ignored).
    /// - Precondition: `images` is not empty and all images have the first one's geometry.
    public init(source: String, images: [Image]) {
        precondition(!images.isEmpty, "no images")
        let first = images[0]
        var pixels: [UInt8] = []
        pixels.reserveCapacity(images.count * first.pixels.count)
        for image in images {
            precondition(
                image.width == first.width && image.height == first.height && image.channels == first.channels,
                "images of different geometry")
            pixels.append(contentsOf: image.pixels)
        }
        self.init(source: source, height: first.height, width: first.width, channels: first.channels, pixels: pixels)
    }

    /// Samples per image: `height × width × channels`.
    public var imageByteCount: Int { height * width * channels }

    /// A one-line summary, such as "Fashion-MNIST train: 60000 images of 28×28×1".
    public var description: String {
        "\(source): \(count) images of \(height)×\(width)×\(channels)"
    }

    /// The image at `index`.
    /// - Precondition: `0 <= index < count`.
    public subscript(index: Int) -> Image { image(at: index) }

    /// The image at `index`, as an ``Image`` (copies its samples).
    /// - Precondition: `0 <= index < count`.
    public func image(at index: Int) -> Image {
        precondition(index >= 0 && index < count, "image index out of range")
        let start = index * imageByteCount
        return Image(
            width: width, height: height, channels: channels,
            pixels: Array(pixels[start..<start + imageByteCount]))
    }

    /// Copies image `index`'s samples into `buffer` without allocating.
    /// - Parameters:
    ///   - index: The image, `0 ..< count`.
    ///   - buffer: Exactly ``imageByteCount`` bytes.
    /// - Precondition: The index is in range and the buffer has the right size.
    @inlinable
    public func copyImage(_ index: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        precondition(index >= 0 && index < count, "image index out of range")
        precondition(buffer.count == imageByteCount, "buffer size differs from the image size")
        pixels.withUnsafeBufferPointer { all in
            let start = all.baseAddress! + index * imageByteCount
            buffer.baseAddress!.update(from: start, count: imageByteCount)
        }
    }

    /// The images at `indices`, in that order, as a new data set.
    /// - Parameters:
    ///   - indices: Image indices, each in `0 ..< count`; may repeat.
    ///   - source: The new set's description (this set's by default).
    public func subset(_ indices: [Int], source: String? = nil) -> ImageDataset {
        let size = imageByteCount
        var result = [UInt8](repeating: 0, count: indices.count * size)
        result.withUnsafeMutableBufferPointer { out in
            for (k, index) in indices.enumerated() {
                copyImage(index, into: UnsafeMutableBufferPointer(rebasing: out[k * size..<(k + 1) * size]))
            }
        }
        return ImageDataset(
            source: source ?? self.source, height: height, width: width, channels: channels, pixels: result)
    }

    /// The first `n` images (all of them when `n >= count`).
    /// - Precondition: `n >= 0`.
    public func prefix(_ n: Int) -> ImageDataset {
        precondition(n >= 0, "negative prefix length")
        let kept = min(n, count)
        return ImageDataset(
            source: source, height: height, width: width, channels: channels,
            pixels: Array(pixels[0..<kept * imageByteCount]))
    }

    /// Splits the set into a training part and `holdOut` held-out images, chosen by a
    /// shuffle seeded with `seed`. The same seed always holds out the same images.
    /// Both parts keep the original order of their images.
    /// - Parameters:
    ///   - holdOut: How many images to hold out, `0 ... count`.
    ///   - seed: The shuffle's seed.
    /// - Returns: The remaining images (source suffixed " (train part)") and the held-out
    ///   ones (" (held out)").
    /// - Precondition: `0 <= holdOut <= count`.
    public func split(holdOut: Int, seed: UInt64) -> (train: ImageDataset, heldOut: ImageDataset) {
        let (train, held) = splitIndices(count: count, holdOut: holdOut, seed: seed)
        return (
            subset(train, source: "\(source) (train part)"),
            subset(held, source: "\(source) (held out)")
        )
    }
}

/// Chooses `holdOut` of `0 ..< count` by a seeded shuffle; both lists are ascending.
func splitIndices(count: Int, holdOut: Int, seed: UInt64) -> (train: [Int], heldOut: [Int]) {
    precondition(holdOut >= 0 && holdOut <= count, "hold-out size out of range")
    var random = RandomSource(seed: seed)
    let order = random.permutation(count)
    let held = order[0..<holdOut].sorted()
    let train = order[holdOut...].sorted()
    return (train, held)
}

// MARK: - Fashion-MNIST

/// Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 70,000 gray 28×28 images of
/// clothing, 60,000 for training and 10,000 for testing, as installed by Debian's
/// `dataset-fashion-mnist` package.
public enum FashionMNIST {
    /// The two parts of the data set.
    public enum Split: String, Sendable, CaseIterable {
        /// The 60,000 training images (`train-*`).
        case train
        /// The 10,000 test images (`t10k-*`).
        case test

        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The Debian package that provides the data.
    public static let debianPackage = "dataset-fashion-mnist"
    /// Rows and columns of every image.
    public static let imageSize = 28

    /// Loads the images of one split.
    ///
    /// Reads `{train,t10k}-images-idx3-ubyte.gz` (or the same name without `.gz`).
    /// - Parameters:
    ///   - split: `.train` or `.test`.
    ///   - directory: The folder with the IDX files.
    /// - Returns: The images, described as "Fashion-MNIST train" or "Fashion-MNIST test".
    /// - Throws: ``DatasetError/datasetNotInstalled(name:directory:package:)`` when the
    ///   file is missing, or any error of ``IDX/read(contentsOf:)``; `.badDimensions`
    ///   when the file does not hold 28×28 images.
    public static func load(_ split: Split, directory: String = defaultDirectory) throws(DatasetError) -> ImageDataset {
        let path = try locate("\(split.filePrefix)-images-idx3-ubyte", in: directory)
        let array = try IDX.read(contentsOf: path)
        guard array.dimensions.count == 3, array.dimensions[1] == imageSize, array.dimensions[2] == imageSize else {
            throw .badDimensions(path: path, dimensions: array.dimensions, reason: "expected N×28×28 images")
        }
        return ImageDataset(
            source: "Fashion-MNIST \(split.rawValue)", height: imageSize, width: imageSize, channels: 1,
            pixels: array.bytes)
    }

    /// Loads the class labels (0…9) of one split, in image order.
    /// - Parameters:
    ///   - split: `.train` or `.test`.
    ///   - directory: The folder with the IDX files.
    /// - Throws: As ``load(_:directory:)``; `.badDimensions` when the file is not one-dimensional.
    public static func loadLabels(_ split: Split, directory: String = defaultDirectory) throws(DatasetError) -> [UInt8] {
        let path = try locate("\(split.filePrefix)-labels-idx1-ubyte", in: directory)
        let array = try IDX.read(contentsOf: path)
        guard array.dimensions.count == 1 else {
            throw .badDimensions(path: path, dimensions: array.dimensions, reason: "expected a list of labels")
        }
        return array.bytes
    }

    /// The path of `name.gz` or `name` in `directory`, whichever exists.
    private static func locate(_ name: String, in directory: String) throws(DatasetError) -> String {
        for candidate in ["\(directory)/\(name).gz", "\(directory)/\(name)"] where FileSystem.exists(FilePath(candidate)) {
            return candidate
        }
        throw .datasetNotInstalled(name: "Fashion-MNIST", directory: directory, package: debianPackage)
    }
}
