import ArgumentParser
import Foundation
import Completion
import PixelRNN

/// `pixelrnn bench`: training and evaluation speed of the BENCH-ROW model
/// (DESIGN.md §3), or of the same size with another architecture (`--arch`),
/// against the machine's peak float32 rate.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmark training and evaluation speed (BENCH-ROW).")

    @Option(help: "Seconds to measure each row.")
    var seconds: Double = 8
    @Option(help: "Comma-separated worker counts to measure.")
    var workers = "1,2"
    @Flag(help: "Skip the completion timings.")
    var skipCompletion = false
    @Option(help: "Peak float32 GFLOP/s of this machine (default: cores × 32 FLOP/cycle × clock).")
    var peak: Double?
    @Option(help: "Architecture: row, diagonal, pixelcnn, or all (each at the BENCH-ROW size: 28×28×1, 7 blocks, h = 32).")
    var arch = "row"

    func validate() throws {
        guard arch == "all" || Architecture(rawValue: arch) != nil else {
            throw ValidationError("--arch must be row, diagonal, pixelcnn or all")
        }
    }

    func run() throws {
        BLAS.setThreads(1)
        let architectures = arch == "all" ? Architecture.allCases : [Architecture(rawValue: arch)!]
        for (i, architecture) in architectures.enumerated() {
            if i > 0 { print("") }
            try bench(architecture)
        }
    }

    func bench(_ architecture: Architecture) throws {
        var configuration = ModelConfiguration.benchRow
        configuration.architecture = architecture
        let model = try PixelRNN(configuration: configuration, seed: 1)
        let height = 28, width = 28
        let macs = Double(model.multiplyAccumulates(height: height, width: width))
        let machinePeak = peak ?? MachinePeak.estimate()
        let name = architecture == .rowLSTM ? "BENCH-ROW" : "BENCH-ROW size"
        print("\(name): \(architecture), 28×28×1, 7 blocks, h = 32, output 64→64→256, float32")
        print("multiply-accumulates per pixel (live connections):")
        let layers = model.multiplyAccumulatesPerPixelByLayer()
        let nameWidth = max(32, layers.map(\.name.count).max() ?? 0)
        for (name, count) in layers where !name.hasPrefix("blocks.") || name.hasPrefix("blocks.0.") {
            print("  \(name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)) \(count)\(name.hasPrefix("blocks.0.") ? "  (× 7 blocks)" : "")")
        }
        print(String(format: "forward pass: %.1f million MACs per image (%.3f GFLOP); training counted as 3× forward",
                     macs / 1e6, 2 * macs / 1e9))
        print(String(format: "peak: %.0f GFLOP/s (%@)", machinePeak, MachinePeak.describe()))
        print("")
        print("| workload | workers | images/s | GFLOP/s | % of peak |")
        print("| --- | ---: | ---: | ---: | ---: |")
        var random = RandomSource(seed: 5)
        let data = (0..<(64 * height * width)).map { _ in UInt8(random.nextInt(below: 256)) }
        for w in workers.split(separator: ",").compactMap({ Int($0) }) {
            let trainer = Trainer(model: model, batchSize: 16, workers: w, optimizer: AdamConfiguration())
            let trainRate = data.withUnsafeBufferPointer { p in
                measure(seconds: seconds, imagesPerCall: 16) {
                    _ = trainer.trainStep(pixels: p.baseAddress!, count: 16, height: height, width: width)
                }
            }
            row("training, batch 16", w, trainRate, flopsPerImage: 6 * macs, peak: machinePeak)
            let evalRate = measure(seconds: seconds, imagesPerCall: 64) {
                _ = try? model.negativeLogLikelihoods(of: data, count: 64, height: height, width: width, workers: w)
            }
            row("evaluation, batch 64", w, evalRate, flopsPerImage: 2 * macs, peak: machinePeak)
        }
        guard !skipCompletion else { return }
        print("")
        print("Completion of 28×28 images with rows 14–27 occluded (16 images per call):")
        print("")
        print("| method | samples K | particles per state | threads | ms per image |")
        print("| --- | ---: | ---: | ---: | ---: |")
        let threadCounts = workers.split(separator: ",").compactMap { Int($0) }
        var incremental1 = Double.nan, naive = Double.nan
        _ = try CompletionBenchmark.run(model: model, threads: threadCounts, seconds: max(1, seconds / 2)) { r in
            print(String(format: "| %@ | %d | %d | %d | %.2f |", r.method, r.samples, r.particlesPerState, r.threads, r.millisecondsPerImage))
            if r.method == "incremental" && r.samples == 1 && r.threads == 1 && r.particlesPerState == 16 { incremental1 = r.millisecondsPerImage }
            if r.method == "naive" { naive = r.millisecondsPerImage }
        }
        print("")
        print(String(format: "naive / incremental (K = 1, one thread): %.0f×", naive / incremental1))
    }

    func row(_ name: String, _ workers: Int, _ rate: Double, flopsPerImage: Double, peak: Double) {
        let gflops = rate * flopsPerImage / 1e9
        print(String(format: "| %@ | %d | %.1f | %.1f | %.1f%% |", name, workers, rate, gflops, 100 * gflops / peak))
    }

    /// Images per second of `body` (after one warm-up call).
    func measure(seconds: Double, imagesPerCall: Int, _ body: () -> Void) -> Double {
        body()
        let start = Date()
        var calls = 0
        while Date().timeIntervalSince(start) < seconds {
            body()
            calls += 1
        }
        return Double(calls * imagesPerCall) / Date().timeIntervalSince(start)
    }
}

/// The machine's peak float32 rate: cores × 32 FLOP/cycle (two 256-bit FMA units) × clock.
enum MachinePeak {
    static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    static var clockGHz: Double {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return 2.45 }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let v = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                return v / 1000
            }
        }
        return 2.45
    }

    static func estimate() -> Double { Double(cores) * 32 * clockGHz }

    static func describe() -> String {
        String(format: "%d cores × 32 FLOP/cycle × %.2f GHz", cores, clockGHz)
    }
}
