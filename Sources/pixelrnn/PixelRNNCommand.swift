import ArgumentParser

/// `pixelrnn`: train, evaluate, inspect, benchmark and sample PixelRNN models.
@main
struct PixelRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pixelrnn",
        abstract: "Train, evaluate and use PixelRNN image models.",
        subcommands: [
            TrainCommand.self, EvalCommand.self, SampleCommand.self, CompleteCommand.self, InspectCommand.self, BenchCommand.self,
            GalleryCommand.self, DataCommand.self, WindowsCommand.self, AdaptCommand.self,
        ])
}

/// Options shared by the commands that compute.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Worker threads (each runs BLAS single-threaded).")
    var workers: Int = 2

    func validate() throws {
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256") }
    }
}
