import Foundation
import Imaging
import Testing
import TestSupport
@testable import PixelRNN

@Suite("Image folders")
struct DataImageFolderTests {
    /// Reference area average: every output pixel is the overlap-weighted mean over
    /// the source pixels, computed directly in two dimensions.
    static func referenceAreaAverage(_ image: Image, width newWidth: Int, height newHeight: Int) -> [Double] {
        let sx = Double(image.width) / Double(newWidth)
        let sy = Double(image.height) / Double(newHeight)
        var out = [Double](repeating: 0, count: newWidth * newHeight * image.channels)
        for oy in 0..<newHeight {
            for ox in 0..<newWidth {
                for c in 0..<image.channels {
                    var sum = 0.0
                    for y in 0..<image.height {
                        for x in 0..<image.width {
                            let ow = min(Double(ox + 1) * sx, Double(x + 1)) - max(Double(ox) * sx, Double(x))
                            let oh = min(Double(oy + 1) * sy, Double(y + 1)) - max(Double(oy) * sy, Double(y))
                            if ow > 0 && oh > 0 { sum += ow * oh * Double(image[y, x, c]) }
                        }
                    }
                    out[(oy * newWidth + ox) * image.channels + c] = sum / (sx * sy)
                }
            }
        }
        return out
    }

    @Test func areaAveragingOfTwoByTwoBlocks() throws {
        // 4 rows × 6 columns, shorter side 4 → 2: each output is a 2×2 block mean.
        let pixels = (0..<24).map { UInt8(($0 * 37) % 256) }
        let image = Image(width: 6, height: 4, channels: 1, pixels: pixels)
        let scaled = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 1))
        #expect(scaled.width == 3 && scaled.height == 2)
        for oy in 0..<2 {
            for ox in 0..<3 {
                let block = [image[2 * oy, 2 * ox, 0], image[2 * oy, 2 * ox + 1, 0],
                             image[2 * oy + 1, 2 * ox, 0], image[2 * oy + 1, 2 * ox + 1, 0]]
                let mean = Double(block.map(Int.init).reduce(0, +)) / 4
                #expect(scaled[oy, ox, 0] == UInt8(mean.rounded(.toNearestOrAwayFromZero)), "output (\(oy), \(ox))")
            }
        }
        // Spelled out for the first block: (0 + 37 + 222 + 259 % 256) / 4 = (0 + 37 + 222 + 3) / 4 = 65.5 → 66.
        #expect(scaled[0, 0, 0] == 66)
        // The transposed image gives the transposed result.
        let tall = Image(width: 4, height: 6, channels: 1, pixels: (0..<24).map { image[$0 % 4, $0 / 4, 0] })
        let tallScaled = try #require(ImageFolderDataset.prepare(tall, size: 2, channels: 1))
        #expect(tallScaled.width == 2 && tallScaled.height == 3)
        for oy in 0..<3 { for ox in 0..<2 { #expect(tallScaled[oy, ox, 0] == scaled[ox, oy, 0]) } }
    }

    @Test(arguments: [(3, 3, 2), (5, 7, 3), (9, 4, 3), (13, 17, 5), (8, 8, 8)])
    func areaAveragingWithFractionalFactors(width: Int, height: Int, size: Int) throws {
        var random = RandomSource(seed: UInt64(width * 100 + height))
        let pixels = (0..<(width * height * 3)).map { _ in UInt8(random.nextInt(below: 256)) }
        let image = Image(width: width, height: height, channels: 3, pixels: pixels)
        let scaled = try #require(ImageFolderDataset.prepare(image, size: size, channels: 3))
        #expect(min(scaled.width, scaled.height) == size)
        let longer = Int((Double(max(width, height)) * Double(size) / Double(min(width, height))).rounded())
        #expect(max(scaled.width, scaled.height) == longer)
        let reference = Self.referenceAreaAverage(image, width: scaled.width, height: scaled.height)
        for (value, expected) in zip(scaled.pixels, reference) {
            #expect(abs(Double(value) - expected) <= 0.5 + 1e-3)
        }
        if width == size && height == size { #expect(scaled.pixels == pixels) }
    }

    @Test func threeByThreeToTwoByTwoSpelledOut() throws {
        // Output (0, 0) covers source [0, 1.5)²: weights 1, ½, ½, ¼ over an area of 2.25.
        let image = Image(width: 3, height: 3, channels: 1, pixels: [90, 180, 0, 45, 0, 0, 0, 0, 0])
        let scaled = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 1))
        #expect(scaled[0, 0, 0] == 90)  // (90 + 90 + 22.5 + 0) / 2.25 = 90
        #expect(scaled[0, 1, 0] == 40)  // (90 + 0 + 0 + 0) / 2.25 = 40
        #expect(scaled[1, 0, 0] == 10)  // (22.5 + 0 + 0 + 0) / 2.25 = 10
        #expect(scaled[1, 1, 0] == 0)
    }

    @Test func constantImagesStayConstant() throws {
        let image = Image(width: 17, height: 13, channels: 3, filledWith: 200)
        let scaled = try #require(ImageFolderDataset.prepare(image, size: 5, channels: 3))
        #expect(scaled.width == 7 && scaled.height == 5)
        #expect(scaled.pixels.allSatisfy { $0 == 200 })
    }

    @Test func neverScalesUp() {
        let image = Image(width: 10, height: 3, channels: 1)
        #expect(ImageFolderDataset.prepare(image, size: 4, channels: 1) == nil)
        let data = ImageFolderDataset(images: [image, Image(width: 4, height: 4, channels: 1)], size: 4, channels: 1)
        #expect(data.count == 1)
        #expect(data.skipped == [.init(path: "#0", reason: .tooSmall(width: 10, height: 3))])
    }

    @Test func alphaIsCompositedOverWhite() throws {
        let image = Image(width: 2, height: 2, channels: 1, pixels: [0, 0, 0, 100], alpha: [0, 128, 255, 255])
        let gray = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 1))
        #expect(gray.pixels == [255, 127, 0, 100])
        #expect(gray.alpha == nil)
        let rgb = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 3))
        #expect(rgb.pixels == [255, 255, 255, 127, 127, 127, 0, 0, 0, 100, 100, 100])
    }

    @Test func colourConversion() throws {
        let image = Image(width: 2, height: 2, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
        let gray = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 1))
        // Rec. 601 luma: 76.245, 149.685, 29.07, 18.15.
        #expect(gray.pixels == [76, 150, 29, 18])
        let same = try #require(ImageFolderDataset.prepare(image, size: 2, channels: 3))
        #expect(same.pixels == image.pixels)
    }

    // MARK: Folders

    static func write(_ image: Image, to path: String) throws {
        try writeFile(encodeNetpbm(image), to: path)
    }

    static func gradient(width: Int, height: Int, channels: Int) -> Image {
        Image(width: width, height: height, channels: channels,
              pixels: (0..<(width * height * channels)).map { UInt8(($0 * 7) % 256) })
    }

    @Test func loadsAFolderAndSkipsWhatItCannotUse() throws {
        let folder = try TemporaryDirectory()
        let root = folder.url.path
        let wide = Self.gradient(width: 8, height: 6, channels: 3)
        let square = Self.gradient(width: 5, height: 5, channels: 1)
        try Self.write(wide, to: root + "/a.ppm")
        try Self.write(square, to: root + "/b.PGM")
        try Self.write(Self.gradient(width: 3, height: 3, channels: 1), to: root + "/c.pgm")
        try writeFile(Array("not a png".utf8), to: root + "/d.png")
        try writeFile(Array(encodeNetpbm(wide).dropLast(5)), to: root + "/e.ppm")
        try Self.write(square, to: root + "/.hidden.pgm")
        try writeFile(Array("notes".utf8), to: root + "/notes.txt")
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: false)
        try Self.write(square, to: root + "/sub/f.pgm")

        let data = try ImageFolderDataset(directory: root, size: 4, channels: 3)
        #expect(data.paths == [root + "/a.ppm", root + "/b.PGM"])
        #expect(data.count == 2)
        #expect(data.images[0] == ImageFolderDataset.prepare(wide, size: 4, channels: 3))
        #expect(data.images[1] == ImageFolderDataset.prepare(square, size: 4, channels: 3))
        #expect(data.images[0].width == 5 && data.images[0].height == 4)  // 8×6 → 5.33×4 → 5×4
        #expect(data.skipped.map(\.path) == [root + "/c.pgm", root + "/d.png", root + "/e.ppm"])
        #expect(data.skipped[0].reason == .tooSmall(width: 3, height: 3))
        guard case .unreadable(let message) = data.skipped[2].reason else { Issue.record("e.ppm"); return }
        #expect(message.contains("truncated"))

        let recursive = try ImageFolderDataset(directory: root, size: 4, channels: 1, recursive: true)
        #expect(recursive.paths.last == root + "/sub/f.pgm" && recursive.count == 3)
        #expect(recursive.images.allSatisfy { $0.channels == 1 })

        let limited = try ImageFolderDataset(directory: root, size: 4, channels: 1, limit: 1)
        #expect(limited.paths == [root + "/a.ppm"] && limited.skipped.isEmpty)
    }

    @Test func folderErrors() throws {
        let folder = try TemporaryDirectory()
        let empty = #expect(throws: DatasetError.self) {
            try ImageFolderDataset(directory: folder.url.path, size: 4, channels: 1)
        }
        #expect(empty == .noImages(path: folder.url.path, skipped: 0))
        try Self.write(Self.gradient(width: 2, height: 2, channels: 1), to: folder.url.path + "/small.pgm")
        let small = #expect(throws: DatasetError.self) {
            try ImageFolderDataset(directory: folder.url.path, size: 4, channels: 1)
        }
        #expect(small == .noImages(path: folder.url.path, skipped: 1))
        let file = folder.url.path + "/small.pgm"
        #expect(throws: DatasetError.notADirectory(path: file)) {
            try ImageFolderDataset(directory: file, size: 4, channels: 1)
        }
        let missing = #expect(throws: DatasetError.self) {
            try ImageFolderDataset(directory: folder.url.path + "/none", size: 4, channels: 1)
        }
        guard case .io(_, "stat", ENOENT) = missing else { Issue.record("\(String(describing: missing))"); return }
    }

    @Test func oversizedHeadersAreRefusedBeforeAllocation() throws {
        let header = Array("P6\n100000 100000\n255\n".utf8) + [1, 2, 3]
        let error = #expect(throws: DatasetError.self) {
            try decodeNetpbm(header, path: "big.ppm", maximumPixels: ImageFolderDataset.defaultMaximumPixels)
        }
        #expect(error?.description.contains("exceeds the limit") == true)
    }

    @Test func netpbmVariants() throws {
        // Comments, a 16-bit maximum value (big-endian samples), a small maximum value.
        let sixteen = Array("P5 # comment\n2 1\n# another\n65535\n".utf8) + [0xFF, 0xFF, 0x80, 0x00]
        #expect(try decodeNetpbm(sixteen, path: "x", maximumPixels: 100).pixels == [255, 128])
        let small = Array("P5 2 1 3\n".utf8) + [3, 1]
        #expect(try decodeNetpbm(small, path: "x", maximumPixels: 100).pixels == [255, 85])
        #expect(throws: DatasetError.self) { try decodeNetpbm(Array("P3 1 1 255\n0 0 0".utf8), path: "x", maximumPixels: 100) }
        #expect(throws: DatasetError.self) { try decodeNetpbm(Array("P5 1 1 0\n\0".utf8), path: "x", maximumPixels: 100) }
    }

    // MARK: Crops and splits

    @Test func centreAndRandomCrops() throws {
        // A 4-row × 9-column image at size 4 keeps its size; crops are 4×4 windows.
        let image = Image(width: 9, height: 4, channels: 1, pixels: (0..<36).map { UInt8($0) })
        let data = ImageFolderDataset(images: [image, Image(width: 4, height: 4, channels: 1, filledWith: 9)],
                                      size: 4, channels: 1)
        #expect(data.images[0] == image)
        let crops = data.centreCrops()
        #expect(crops.count == 2 && crops.width == 4 && crops.height == 4 && crops.channels == 1)
        // Centre: free width 5, offset 2.
        #expect(crops[0].pixels == (0..<4).flatMap { y in (2..<6).map { UInt8(y * 9 + $0) } })
        #expect(crops[1].pixels == [UInt8](repeating: 9, count: 16))

        var random = RandomSource(seed: 8)
        var seen = Set<Int>()
        var buffer = [UInt8](repeating: 0, count: 16)
        for _ in 0..<200 {
            buffer.withUnsafeMutableBufferPointer { data.randomCrop(0, random: &random, into: $0) }
            let x = Int(buffer[0])
            #expect(buffer == (0..<4).flatMap { y in (x..<x + 4).map { UInt8(y * 9 + $0) } })
            seen.insert(x)
        }
        #expect(seen == Set(0...5))  // every horizontal offset occurs

        var a = RandomSource(seed: 3)
        var b = RandomSource(seed: 3)
        #expect(data.randomCrops(random: &a) == data.randomCrops(random: &b))
        #expect(a.next() == b.next())
    }

    @Test func splitsAreDeterministic() {
        let images = (0..<10).map { Image(width: 4, height: 5, channels: 1, filledWith: UInt8($0)) }
        let data = ImageFolderDataset(images: images, size: 4, channels: 1)
        let (train, held) = data.split(holdOut: 3, seed: 1)
        #expect(train.count == 7 && held.count == 3)
        #expect(Set(train.paths + held.paths) == Set(data.paths))
        let again = data.split(holdOut: 3, seed: 1)
        #expect(again.heldOut.paths == held.paths)
        #expect(held.centreCrops().pixels.count == 3 * 16)
    }
}
