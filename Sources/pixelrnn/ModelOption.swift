import ArgumentParser
import Foundation
import PixelRNN

/// `--model PATH`; without it, the embedded default model.
struct ModelOption: ParsableArguments {
    @Option(help: "Model file (safetensors). Default: the embedded default model.")
    var model: String?

    /// Loads the model and returns it with the path it came from.
    func load() throws -> (PixelRNN, String) {
        let path = try model ?? DefaultModel.path()
        return (try PixelRNN(contentsOf: path), path)
    }
}
