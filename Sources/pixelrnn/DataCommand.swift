import ArgumentParser
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn data wallpapers`: shows how the colour data set is built from the installed
/// packages and writes its test tiles as PNG files, so other tools can score the same set.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Show the wallpapers data set and write its test tiles as PNG files.")

    @Argument(help: "The data set (wallpapers).")
    var name = "wallpapers"
    @Option(help: "Write the test tiles into this folder as NNNN.png, in set order.")
    var tiles: String?
    @Flag(help: "List every picture with its part (train, validation or test).")
    var list = false

    func validate() throws {
        guard name == "wallpapers" else { throw ValidationError("only the wallpapers data set is built here") }
    }

    func run() throws {
        let split = try Wallpapers.split()
        print("wallpapers: \(split.train.count + split.test.count) pictures, \(split.train.count) train, \(split.test.count) test")
        if list {
            for path in split.test { print("test        \(path)") }
            for (index, path) in split.train.enumerated() {
                print((index % 12 == 6 ? "validation  " : "train       ") + path)
            }
        }
        guard let tiles else { return }
        let set = try Wallpapers.testTiles(split)
        try FileManager.default.createDirectory(atPath: tiles, withIntermediateDirectories: true)
        for index in 0..<set.count {
            try set[index].writePNG(to: String(format: "%@/%04d.png", tiles, index))
        }
        print("wrote \(set.count) test tiles of 32×32 to \(tiles)")
    }
}
