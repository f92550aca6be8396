import ArgumentParser
import Foundation
import Completion
import Imaging
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
    @Flag(help: "Only the completion timings (no sgemm, training or evaluation rows).")
    var completionOnly = false
    @Flag(help: "Only what one 28×28 daemon job costs, stage by stage (the default model, bottom half occluded, one thread).")
    var jobStages = false
    @Option(help: "Kernel path of the hand-written kernels: avx512, avx2 or portable (default: the best this CPU runs).")
    var kernels: String?
    @Option(help: "Peak float32 GFLOP/s of this machine (default: cores × FLOP/cycle of the CPU × the clock measured under load).")
    var peak: Double?
    @Option(help: "Architecture: row, diagonal, pixelcnn, or all (each at the BENCH-ROW size: 28×28×1, 7 blocks, h = 32).")
    var arch = "row"

    func validate() throws {
        guard arch == "all" || Architecture(rawValue: arch) != nil else {
            throw ValidationError("--arch must be row, diagonal, pixelcnn or all")
        }
    }

    func run() throws {
        if let kernels {
            let paths: [String: KernelPath] = ["avx512": .avx512, "avx2": .avx2, "portable": .portable]
            guard let path = paths[kernels], KernelPath.force(path) else {
                throw ValidationError("--kernels \(kernels): not a kernel path this CPU runs")
            }
        }
        print("hand-written kernels: \(KernelPath.active) (available: \(KernelPath.allCases.filter(\.isAvailable).map(\.description).joined(separator: ", ")))")
        if jobStages { return try benchJobStages() }
        let reference = completionOnly ? (peak: Double.nan, sgemmOurShapes: Double.nan) : measureMachine()
        BLAS.setThreads(1)
        let architectures = arch == "all" ? Architecture.allCases : [Architecture(rawValue: arch)!]
        for (i, architecture) in architectures.enumerated() {
            if i > 0 { print("") }
            try bench(architecture, reference: reference)
        }
    }

    /// The machine, its measured clock and peak, and the BLAS's own best on our shapes
    /// and on a large square; printed as a preamble.
    func measureMachine() -> (peak: Double, sgemmOurShapes: Double) {
        let machine = Machine.current()
        let (flops, reason) = machine.floatOpsPerCycle
        let clock = Machine.measureLoadedClockGHz()
        let machinePeak = peak ?? Double(machine.cores) * Double(flops) * clock
        print("CPU:  \(machine.modelName) (\(machine.vendor), family \(machine.family), model \(machine.model)), \(machine.cores) cores")
        print(String(format: "peak: %.0f GFLOP/s = %d cores × %d FLOP/cycle (%@) × %.2f GHz (measured on all cores with dependent adds)%@",
                     machinePeak, machine.cores, flops, reason, clock, peak == nil ? "" : "; overridden by --peak"))
        print("BLAS: \(BLAS.configuration); kernels: \(BLAS.coreName)")
        let environment = ProcessInfo.processInfo.environment
        if let forced = environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
            print("warning: OPENBLAS_CORETYPE=\(forced) forces OpenBLAS's \(forced) kernels instead of its own choice for this CPU"
                  + (machine.hasAVX512 ? " (which uses AVX-512 here)" : "") + "; unset it (and OPENBLAS_L2_SIZE) to measure what a user gets")
        }
        BLAS.setThreads(machine.cores)
        var ours = 0.0
        print("")
        print("| sgemm, \(machine.cores) BLAS threads | GFLOP/s | % of peak |")
        print("| --- | ---: | ---: |")
        for (m, n, k) in [(4096, 128, 64), (4096, 128, 96), (2048, 2048, 2048)] {
            let rate = sgemmRate(m: m, n: n, k: k)
            if m == 4096 { ours = max(ours, rate) }
            print(String(format: "| %d × %d × %d | %.0f | %.0f%% |", m, n, k, rate, 100 * rate / machinePeak))
        }
        print("")
        return (machinePeak, ours)
    }

    /// GFLOP/s of `C = A·B` (row-major, m×k times k×n) over about a second.
    func sgemmRate(m: Int, n: Int, k: Int) -> Double {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2 * Double(m) * Double(n) * Double(k)
        func once() {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        BLAS.gemm(m: m, n: n, k: k, a.baseAddress!, lda: k, b.baseAddress!, ldb: n, c.baseAddress!, ldc: n)
                    }
                }
            }
        }
        once()
        let start = Date()
        var calls = 0
        while Date().timeIntervalSince(start) < min(1.0, seconds) {
            once()
            calls += 1
        }
        return flops * Double(calls) / Date().timeIntervalSince(start) / 1e9
    }

    func bench(_ architecture: Architecture, reference: (peak: Double, sgemmOurShapes: Double)) throws {
        var configuration = ModelConfiguration.benchRow
        configuration.architecture = architecture
        let model = try PixelRNN(configuration: configuration, seed: 1)
        let height = 28, width = 28
        let macs = Double(model.multiplyAccumulates(height: height, width: width))
        let machinePeak = reference.peak
        if completionOnly {
            try benchCompletion(model: model)
            return
        }
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
        print("")
        print(String(format: "| workload | workers | images/s | GFLOP/s | %% of peak | %% of sgemm on our shapes (%.0f) |", reference.sgemmOurShapes))
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        var random = RandomSource(seed: 5)
        let data = (0..<(64 * height * width)).map { _ in UInt8(random.nextInt(below: 256)) }
        for w in workers.split(separator: ",").compactMap({ Int($0) }) {
            let trainer = Trainer(model: model, batchSize: 16, workers: w, optimizer: AdamConfiguration())
            let trainRate = data.withUnsafeBufferPointer { p in
                measure(seconds: seconds, imagesPerCall: 16) {
                    _ = trainer.trainStep(pixels: p.baseAddress!, count: 16, height: height, width: width)
                }
            }
            row("training, batch 16", w, trainRate, flopsPerImage: 6 * macs, peak: machinePeak, sgemm: reference.sgemmOurShapes)
            let evalRate = measure(seconds: seconds, imagesPerCall: 64) {
                _ = try? model.negativeLogLikelihoods(of: data, count: 64, height: height, width: width, workers: w)
            }
            row("evaluation, batch 64", w, evalRate, flopsPerImage: 2 * macs, peak: machinePeak, sgemm: reference.sgemmOurShapes)
        }
        guard !skipCompletion else { return }
        try benchCompletion(model: model)
    }

    func benchCompletion(model: PixelRNN) throws {
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
        if incremental1.isFinite && naive.isFinite {
            print(String(format: "naive / incremental (K = 1, one thread): %.0f×", naive / incremental1))
        }
    }

    /// The stages of the daemon benchmark's job (`scripts/bench-daemon.sh`): a bright block
    /// on black, 28×28 gray, rows 14–27 occluded, on the default model.
    func benchJobStages() throws {
        BLAS.setThreads(1)
        let served = try ModelCatalog.load(try ModelCatalog.embeddedEntries()).models[0]
        let pixels = (0..<(28 * 28)).map { i -> UInt8 in (6..<22).contains(i % 28) && (4..<25).contains(i / 28) ? 200 : 0 }
        let mask = Mask(width: 28, height: 28, occluded: (0..<(28 * 28)).map { $0 / 28 >= 14 })
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pixelrnn-job-stages-\(getpid())").path
        let stages = try JobStagesBenchmark.run(
            completer: served.completer, image: Image(width: 28, height: 28, channels: 1, pixels: pixels), mask: mask,
            folder: folder, seconds: max(0.5, seconds / 4))
        print("")
        print("One 28×28 job on \(served.name), one thread (`pixelrnn bench --job-stages`):")
        print("")
        print("| stage | ms per job |")
        print("| --- | ---: |")
        for (stage, ms) in stages { print(String(format: "| %@ | %.3f |", stage, ms)) }
        if let compute = stages.first?.milliseconds, let outputs = stages.last?.milliseconds {
            print("")
            print(String(format: "outputs / completion: %.2f (the daemon adds claiming, copying the input, fsyncs and renames)", outputs / compute))
        }
    }

    func row(_ name: String, _ workers: Int, _ rate: Double, flopsPerImage: Double, peak: Double, sgemm: Double) {
        let gflops = rate * flopsPerImage / 1e9
        print(String(format: "| %@ | %d | %.1f | %.1f | %.1f%% | %.1f%% |", name, workers, rate, gflops, 100 * gflops / peak,
                     100 * gflops / sgemm))
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
