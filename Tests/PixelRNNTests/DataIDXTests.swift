import Foundation
import Imaging
import SystemIO
import SystemPackage
import Testing
import TestSupport
@testable import PixelRNN

@Suite("IDX and Fashion-MNIST")
struct DataIDXTests {
    // MARK: Real data

    @Test func fashionMNISTTestSplit() throws {
        let data = try FashionMNIST.load(.test)
        #expect(data.count == 10_000)
        #expect(data.height == 28 && data.width == 28 && data.channels == 1)
        #expect(data.pixels.count == 10_000 * 784)
        #expect(data.source == "Fashion-MNIST test")
        var sum = 0
        var histogram = [Int](repeating: 0, count: 256)
        for p in data.pixels {
            sum += Int(p)
            histogram[Int(p)] += 1
        }
        let mean = Double(sum) / Double(data.pixels.count)
        // Fashion-MNIST's published mean is 0.286 (×255 = 72.9); about half the pixels are background.
        #expect(mean > 70 && mean < 76)
        #expect(histogram[0] > data.pixels.count / 3)
        #expect(histogram[255] > 0)
        // Corners are background in almost every image.
        let cornerMean = (0..<data.count).map { Int(data.pixels[$0 * 784]) }.reduce(0, +) / data.count
        #expect(cornerMean < 2)

        let labels = try FashionMNIST.loadLabels(.test)
        #expect(labels.count == 10_000)
        for label in 0..<10 { #expect(labels.filter { $0 == label }.count == 1000) }
    }

    @Test func missingDataSetNamesThePackage() {
        let error = #expect(throws: DatasetError.self) {
            try FashionMNIST.load(.train, directory: "/nonexistent/fashion")
        }
        #expect(error == .datasetNotInstalled(
            name: "Fashion-MNIST", directory: "/nonexistent/fashion", package: "dataset-fashion-mnist"))
        #expect(error?.description.contains("apt-get install dataset-fashion-mnist") == true)
    }

    // MARK: Constructed files

    static func sampleArray(seed: UInt64 = 1) -> IDXArray {
        var random = RandomSource(seed: seed)
        let bytes = (0..<(5 * 7 * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        return IDXArray(dimensions: [5, 7, 3], bytes: bytes)
    }

    @Test(arguments: [true, false])
    func roundTrip(compressed: Bool) throws {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/a.idx"
        let array = Self.sampleArray()
        try IDX.write(array, to: path, compressed: compressed)
        #expect(try IDX.read(contentsOf: path) == array)
    }

    @Test func fashionMNISTLoaderReadsAConstructedFolder() throws {
        let folder = try TemporaryDirectory()
        var random = RandomSource(seed: 2)
        let bytes = (0..<(3 * 28 * 28)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try IDX.write(IDXArray(dimensions: [3, 28, 28], bytes: bytes),
                      to: folder.url.path + "/train-images-idx3-ubyte", compressed: false)
        let data = try FashionMNIST.load(.train, directory: folder.url.path)
        #expect(data.count == 3)
        #expect(data.pixels == bytes)
        // Wrong geometry is refused.
        try IDX.write(IDXArray(dimensions: [2, 28, 27], bytes: [UInt8](repeating: 0, count: 2 * 28 * 27)),
                      to: folder.url.path + "/t10k-images-idx3-ubyte.gz", compressed: true)
        let error = #expect(throws: DatasetError.self) { try FashionMNIST.load(.test, directory: folder.url.path) }
        guard case .badDimensions(_, [2, 28, 27], _) = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
    }

    /// Writes `bytes` as a plain file and returns the error reading it gives.
    func readError(_ bytes: [UInt8]) throws -> DatasetError? {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/x.idx"
        try writeFile(bytes, to: path)
        return #expect(throws: DatasetError.self) { try IDX.read(contentsOf: path) }
    }

    func plainBytes(_ array: IDXArray) throws -> [UInt8] {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/plain.idx"
        try IDX.write(array, to: path, compressed: false)
        return try FileSystem.readFile(FilePath(path))
    }

    @Test func badHeadersAreRefused() throws {
        let good = try plainBytes(Self.sampleArray())
        var badMagic = good
        badMagic[0] = 0x1f
        guard case .badMagic = try readError(badMagic) else { Issue.record("bad magic accepted"); return }

        var floats = good
        floats[2] = 0x0D
        #expect(try readError(floats)?.description.contains("0xd") == true)
        guard case .unsupportedElementType(_, 0x0D) = try readError(floats) else {
            Issue.record("float element type accepted"); return
        }

        let zeroDimension: [UInt8] = [0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 5]
        guard case .badDimensions = try readError(zeroDimension) else { Issue.record("empty accepted"); return }

        let huge: [UInt8] = [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9]
        guard case .badDimensions = try readError(huge) else { Issue.record("huge accepted"); return }

        let shortHeader: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 5]
        guard case .truncated(_, 16, 8) = try readError(shortHeader) else { Issue.record("short header accepted"); return }
    }

    @Test func wrongPayloadSizesAreRefused() throws {
        let good = try plainBytes(Self.sampleArray())
        let error = try readError(Array(good.dropLast(10)))
        guard case .truncated(_, 105, 95) = error else { Issue.record("got \(String(describing: error))"); return }
        guard case .trailingData = try readError(good + [1]) else { Issue.record("trailing data accepted"); return }
    }

    @Test func damagedGzipIsRefused() throws {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/a.idx.gz"
        let array = IDXArray(dimensions: [100, 100], bytes: (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        try IDX.write(array, to: path, compressed: true)
        let gz = try FileSystem.readFile(FilePath(path))
        #expect(gz[0] == 0x1f && gz[1] == 0x8b)

        // Cut in the middle: the payload is short.
        try writeFile(Array(gz[0..<gz.count / 2]), to: path)
        let cut = #expect(throws: DatasetError.self) { try IDX.read(contentsOf: path) }
        guard case .truncated(_, 10_000, let got) = cut, got < 10_000 else {
            Issue.record("got \(String(describing: cut))"); return
        }

        // A wrong CRC-32 in the gzip trailer: the data is corrupt.
        var badCRC = gz
        badCRC[gz.count - 6] ^= 0xff
        try writeFile(badCRC, to: path)
        let crc = #expect(throws: DatasetError.self) { try IDX.read(contentsOf: path) }
        guard case .corrupt = crc else { Issue.record("got \(String(describing: crc))"); return }
    }

    @Test func missingFileAndFolderAreIOErrors() throws {
        let folder = try TemporaryDirectory()
        let missing = #expect(throws: DatasetError.self) { try IDX.read(contentsOf: folder.url.path + "/none") }
        guard case .io(_, _, let code) = missing, code == 2 else { Issue.record("got \(String(describing: missing))"); return }
        let directory = #expect(throws: DatasetError.self) { try IDX.read(contentsOf: folder.url.path) }
        guard case .io(_, _, 21) = directory else { Issue.record("got \(String(describing: directory))"); return }
    }

    @Test func datasetOperations() {
        let pixels = (0..<(10 * 2 * 3)).map { UInt8($0) }
        let data = ImageDataset(source: "ten", height: 2, width: 3, channels: 1, pixels: pixels)
        #expect(data.count == 10)
        #expect(data.description == "ten: 10 images of 2×3×1")
        #expect(data[4].pixels == Array(24..<30).map { UInt8($0) })
        var buffer = [UInt8](repeating: 0, count: 6)
        buffer.withUnsafeMutableBufferPointer { data.copyImage(9, into: $0) }
        #expect(buffer == Array(54..<60).map { UInt8($0) })
        #expect(data.prefix(3).count == 3 && data.prefix(30).count == 10)
        #expect(data.prefix(3).pixels == Array(pixels[0..<18]))

        let (train, held) = data.split(holdOut: 3, seed: 42)
        #expect(train.count == 7 && held.count == 3)
        let (train2, held2) = data.split(holdOut: 3, seed: 42)
        #expect(train2 == train && held2 == held)
        // Together the two parts are the whole set, each image once.
        let firsts = (train.pixels + held.pixels).enumerated().filter { $0.offset % 6 == 0 }.map { Int($0.element) / 6 }
        #expect(firsts.sorted() == Array(0..<10))
        let (_, heldOther) = data.split(holdOut: 3, seed: 43)
        let (_, heldThird) = data.split(holdOut: 3, seed: 44)
        #expect(heldOther != held || heldThird != held)
    }
}

/// Writes `bytes` to `path`, replacing it.
func writeFile(_ bytes: [UInt8], to path: String) throws {
    try FileSystem.replaceFile(FilePath(path), bytes)
}
