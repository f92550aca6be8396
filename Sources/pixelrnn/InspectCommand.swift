import ArgumentParser
import Foundation
import PixelRNN

/// `pixelrnn inspect`: what a model file holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a model file's architecture, tensors and metadata.")

    @OptionGroup var modelOption: ModelOption
    @Option(help: "Set a metadata entry (KEY=VALUE) and rewrite the file; repeatable.")
    var set: [String] = []

    func validate() throws {
        for entry in set where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--set takes KEY=VALUE, not \"\(entry)\"")
        }
    }

    func run() throws {
        let (model, path) = try modelOption.load()
        if !set.isEmpty {
            for entry in set {
                let key = String(entry[..<entry.firstIndex(of: "=")!])
                model.metadata[key] = String(entry[entry.index(after: entry.firstIndex(of: "=")!)...])
            }
            try model.save(to: path)
        }
        let cfg = model.configuration
        print("file          \(path)")
        print("sha256        \(try SafetensorsFile.sha256(ofFileAt: path))")
        print("architecture  \(cfg.architecture) (\(cfg.architecture.rawValue))")
        print("channels      \(cfg.channels)  levels \(cfg.levels)")
        print("size          h = \(cfg.hidden), \(cfg.blocks) blocks, output \(cfg.features)→\(cfg.outputHidden)→\(cfg.outputWidth)")
        print("distribution  \(cfg.distribution)")
        print("parameters    \(model.parameterCount)")
        print("metadata:")
        for key in model.metadata.keys.sorted() { print("  \(key) = \(model.metadata[key]!)") }
        print("tensors:")
        for (name, shape) in model.tensorShapes {
            print("  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(shape.map(String.init).joined(separator: "×"))")
        }
    }
}
