import ArgumentParser
import Dispatch
import Foundation
import Imaging
import PixelRNN

/// `pixelrnn train`: trains a model with a live progress line, periodic checkpoints,
/// `--resume`, and a loss-curve plot; Ctrl-C saves a checkpoint and stops.
///
/// Output failures are never skipped: when a checkpoint, the best model or a line of
/// `loss.csv` cannot be written (disk full, permissions…), the error is printed, training
/// stops at the next step, the final checkpoint and model are still attempted (saving
/// what can be saved), and the command exits non-zero naming every file that could not be
/// written. Only `loss.png`, a picture redrawn from `loss.csv` at every checkpoint, is a
/// warning when it cannot be drawn.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a PixelRNN on Fashion-MNIST or a folder of images.")

    @Option(help: "Training data: fashion-mnist; wallpapers (colour: the training wallpapers and every extra source), wallpapers-photos (the same without the tuxpaint stamps), wallpapers-only; or a folder of PNG/JPEG images.")
    var data = "fashion-mnist"
    @Option(help: "Output folder: checkpoint.safetensors, model.safetensors, loss.csv, loss.png.")
    var out = "runs/default"
    @Option(help: "Image size for folder data (shorter side scaled to it by area averaging, then cropped).")
    var size = 28
    @Option(help: "Channels for folder data: 1 (gray) or 3 (RGB).")
    var channels = 1
    @Option(help: "Architecture: row, diagonal or pixelcnn.")
    var arch = "row"
    @Option(help: "LSTM state width h (residual streams carry 2h features).")
    var hidden = 32
    @Option(help: "Residual blocks.")
    var blocks = 7
    @Option(help: "Width of the hidden output layer (default 2h).")
    var outputHidden: Int?
    @Option(help: "Scan orientations: 1 (upright only) or 8 (every flip and transpose, learned per orientation and trained as augmentation).")
    var orientations = 1
    @Option(help: "Output distribution of each sub-pixel: softmax (the paper's 256-way softmax) or mixture (a discretized mixture of logistics, PixelCNN++).")
    var distribution = "softmax"
    @Option(help: "Logistic components per sub-pixel for --distribution mixture.")
    var mixtureComponents = 10
    @Option(help: "Start from this model's weights (adding orientation support when --orientations 8 asks for it).")
    var initFrom: String?
    @Option(help: "Images per step.")
    var batch = 16
    @Option(help: "Total steps (the learning-rate schedule ends here).")
    var steps = 20_000
    @Option(help: "Stop after this many minutes (the checkpoint can be resumed).")
    var minutes: Double?
    @Option(help: "Peak learning rate (Adam).")
    var learningRate: Float = 1e-3
    @Option(help: "Warm-up steps.")
    var warmup = 200
    @Option(help: "Global gradient-norm clip (0 = none).")
    var clip: Float = 1
    @Option(help: "Images held out of the training data for validation.")
    var holdOut = 5000
    @Option(help: "Steps between validation passes.")
    var validateEvery = 1000
    @Option(help: "Steps between checkpoints.")
    var checkpointEvery = 500
    @Option(help: "Random seed (weights, batch order, hold-out split).")
    var seed: UInt64 = 1
    @Flag(help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard Architecture(rawValue: arch) != nil else { throw ValidationError("--arch must be row, diagonal or pixelcnn") }
        guard channels == 1 || channels == 3 else { throw ValidationError("--channels must be 1 or 3") }
        guard orientations == 1 || orientations == 8 else { throw ValidationError("--orientations must be 1 or 8") }
        guard !(resume && initFrom != nil) else { throw ValidationError("--resume and --init-from exclude each other") }
        guard batch >= 1, steps >= 1, hidden >= 1, blocks >= 0 else { throw ValidationError("sizes must be positive") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        _ = try outputDistribution()
    }

    /// The distribution that --distribution and --mixture-components name.
    func outputDistribution() throws -> OutputDistribution {
        switch distribution {
        case "softmax": return .softmax
        case "mixture":
            guard (1...64).contains(mixtureComponents) else { throw ValidationError("--mixture-components must be in 1...64") }
            return .logisticMixture(components: mixtureComponents)
        default: throw ValidationError("--distribution must be softmax or mixture")
        }
    }

    func run() throws {
        BLAS.setThreads(1)
        let fm = FileManager.default
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        let checkpointPath = out + "/checkpoint.safetensors"
        let (train, validation, epochs) = try DataSource.trainingData(
            data, holdOut: holdOut, seed: seed, size: size, channels: channels)

        let model: PixelRNN
        if resume {
            guard fm.fileExists(atPath: checkpointPath) else {
                throw DataSourceError("--resume: no checkpoint at \(checkpointPath)")
            }
            model = try PixelRNN(contentsOf: checkpointPath)
        } else if let initFrom {
            let start = try PixelRNN(contentsOf: initFrom)
            guard start.configuration.channels == train.channels else {
                throw DataSourceError("--init-from: \(initFrom) models \(start.configuration.channels) channels, the data has \(train.channels)")
            }
            model = orientations == 8 && !start.configuration.supportsOrientations ? start.addingOrientationSupport() : start
            for key in ["validation_bpd", "test_bpd", "steps", "wall_time_s"] { model.metadata[key] = nil }
            model.metadata["initialised_from"] = initFrom
        } else {
            let config = ModelConfiguration(
                architecture: Architecture(rawValue: arch)!, channels: train.channels, hidden: hidden,
                blocks: blocks, outputHidden: outputHidden, orientations: orientations,
                distribution: try outputDistribution())
            model = try PixelRNN(configuration: config, seed: seed)
        }
        var options = TrainingOptions()
        options.batchSize = batch
        options.steps = steps
        options.workers = compute.workers
        options.seed = seed
        options.validateEvery = validateEvery
        options.timeLimit = minutes.map { $0 * 60 }
        options.optimizer.learningRate = learningRate
        options.optimizer.warmupSteps = warmup
        options.optimizer.clipNorm = clip
        let run = try TrainingRun(model: model, training: train, validation: validation, options: options)
        run.epochData = epochs
        if resume { try run.trainer.restoreOptimizer(from: checkpointPath) }
        let startStep = run.trainer.step
        let startWall = Double(model.metadata["wall_time_s"] ?? "0") ?? 0

        let command = CommandLine.arguments.joined(separator: " ")
        model.metadata["training_data"] = "\(data): \(train.count) training images, \(validation.count) held out (seed \(seed))"
        let output = model.configuration.distribution == .softmax
            ? "discrete \(model.configuration.levels)-way softmax" : "discretized \(model.configuration.distribution)"
        model.metadata["preprocessing"] = "none: 8-bit values, input scaled by 1/255, \(output)"
        model.metadata["training_command"] = model.metadata["training_command"].map { $0 + " ; " + command } ?? command
        model.metadata["seed"] = String(seed)
        model.metadata["optimizer"] = "Adam lr \(learningRate), warm-up \(warmup), cosine to 5% at \(steps), clip \(clip), batch \(batch)"

        printError("pixelrnn train: \(model.configuration.architecture), h=\(model.configuration.hidden), blocks=\(model.configuration.blocks), \(model.parameterCount) parameters; \(train.description); validation \(validation.count)")
        printError(resume ? "resuming at step \(startStep)" : "starting")

        let stop = StopFlag()
        let signalSource = installInterruptHandler(stop)
        _ = signalSource
        let csvPath = out + "/loss.csv"
        if !resume || !fm.fileExists(atPath: csvPath) {
            try "step,loss_bpd,smoothed_bpd,validation_bpd,learning_rate,images_per_s\n".write(toFile: csvPath, atomically: true, encoding: .utf8)
        }
        let csv = try FileHandle(forWritingTo: URL(fileURLWithPath: csvPath))
        csv.seekToEndOfFile()
        let isTTY = isatty(2) != 0
        var lastLine = Date.distantPast
        var bestValidation = Double(model.metadata["validation_bpd"] ?? "") ?? .infinity
        let started = Date()
        // Every output that could not be written, in order; the first one stops training.
        var failures: [String] = []
        func writeFailed(_ what: String, step: Int, _ error: any Error) {
            let failure = "step \(step): cannot write \(what): \(error)"
            guard !failures.contains(failure) else { return }  // the final save retrying the same step
            failures.append(failure)
            printError("error: \(failure)" + (failures.count == 1 ? "; stopping training" : ""))
        }

        func saveCheckpoint(_ step: Int) {
            model.metadata["steps"] = String(step)
            model.metadata["wall_time_s"] = String(format: "%.0f", startWall + Date().timeIntervalSince(started))
            do {
                try run.trainer.saveCheckpoint(to: checkpointPath)
            } catch {
                writeFailed("the checkpoint", step: step, error)
            }
            do {
                try writeLossPlot(csvPath: csvPath, to: out + "/loss.png")
            } catch {
                printError("warning: cannot draw \(out)/loss.png: \(error)")
            }
        }

        run.run(shouldStop: { stop.isSet || !failures.isEmpty }) { p in
            var line = String(format: "%d,%.5f,%.5f,", p.step, p.lossBitsPerDim, p.smoothedLossBitsPerDim)
            line += p.validationBitsPerDim.map { String(format: "%.5f", $0) } ?? ""
            line += String(format: ",%.3g,%.1f\n", p.learningRate, p.imagesPerSecond)
            do { try csv.write(contentsOf: Data(line.utf8)) } catch { writeFailed(csvPath, step: p.step, error) }
            if let v = p.validationBitsPerDim, v < bestValidation {
                bestValidation = v
                model.metadata["validation_bpd"] = String(format: "%.4f", v)
                model.metadata["steps"] = String(p.step)
                do {
                    try model.save(to: out + "/model.safetensors")
                } catch {
                    writeFailed("the best model", step: p.step, error)
                }
            }
            if p.step % checkpointEvery == 0 { saveCheckpoint(p.step) }
            let now = Date()
            if now.timeIntervalSince(lastLine) >= (isTTY ? 0.5 : 30) || p.validationBitsPerDim != nil {
                lastLine = now
                let progress = String(
                    format: "step %d/%d  loss %.3f bits/dim (avg %.3f)%@  %.0f img/s  lr %.2e  ETA %@",
                    p.step, p.totalSteps, p.lossBitsPerDim, p.smoothedLossBitsPerDim,
                    p.validationBitsPerDim.map { String(format: "  val %.3f", $0) } ?? "",
                    p.imagesPerSecond, p.learningRate, formatDuration(p.remainingSeconds))
                if isTTY && p.validationBitsPerDim == nil {
                    FileHandle.standardError.write(Data(("\r\u{1B}[K" + progress).utf8))
                } else {
                    printError((isTTY ? "\r\u{1B}[K" : "") + progress)
                }
            }
        }
        if isTTY { printError("") }
        let step = run.trainer.step
        saveCheckpoint(step)
        printError("validating on all \(validation.count) held-out images…")
        let finalValidation = run.validate()
        if finalValidation < bestValidation || !fm.fileExists(atPath: out + "/model.safetensors") {
            model.metadata["validation_bpd"] = String(format: "%.4f", finalValidation)
            model.metadata["steps"] = String(step)
            do {
                try model.save(to: out + "/model.safetensors")
            } catch {
                writeFailed("the final model", step: step, error)
            }
        }
        let why = !failures.isEmpty ? " (an output could not be written)" : stop.isSet ? " (interrupted)" : ""
        printError(String(format: "stopped at step %d%@; validation %.4f bits/dim", step, why, finalValidation))
        guard failures.isEmpty else {
            throw DataSourceError(
                "training stopped because outputs could not be written:\n  " + failures.joined(separator: "\n  "))
        }
        printError("wrote \(out)/model.safetensors")
    }
}

/// Set from the SIGINT handler; polled by the training loop.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Ctrl-C sets `flag` (the loop then saves a checkpoint); a second Ctrl-C exits at once.
func installInterruptHandler(_ flag: StopFlag) -> any DispatchSourceSignal {
    signal(SIGINT, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    let handler: @Sendable () -> Void = {
        if flag.isSet { exit(130) }
        printError("\ninterrupted: saving a checkpoint (Ctrl-C again to quit now)")
        flag.set()
    }
    source.setEventHandler(handler: handler)
    source.resume()
    return source
}

/// Renders loss.csv as a line chart (training loss, its average, validation points).
/// - Throws: when loss.csv cannot be read or the picture cannot be written.
func writeLossPlot(csvPath: String, to path: String) throws {
    let text = try String(contentsOfFile: csvPath, encoding: .utf8)
    var train: [Point2D] = [], smooth: [Point2D] = [], validation: [Point2D] = []
    for line in text.split(separator: "\n").dropFirst() {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count >= 4, let step = Double(f[0]), let loss = Double(f[1]), let avg = Double(f[2]) else { continue }
        if Int(step) % 10 == 0 { train.append(Point2D(x: step, y: loss)) }
        smooth.append(Point2D(x: step, y: avg))
        if let v = Double(f[3]) { validation.append(Point2D(x: step, y: v)) }
    }
    var chart = LineChart(
        title: "Training loss", xLabel: "step", yLabel: "bits/dim",
        series: [
            LineChart.Series(name: "training (every 10th step)", points: train, color: RGB(gray: 190), style: .line),
            LineChart.Series(name: "training, moving average", points: smooth, color: .blue, style: .line),
            LineChart.Series(name: "validation", points: validation, color: .orange, style: .lineAndMarkers),
        ])
    if let lo = (smooth + validation).map(\.y).min() { chart.yRange = (lo - 0.05)...(min(8, lo + 1.5)) }
    let image = chart.render(width: 900, height: 520)
    try image.writePNG(to: path, content: .figure)
}
