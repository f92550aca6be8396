import Foundation
import Imaging
import TestSupport
import Testing

/// The built `pixelrnn` binary, end to end: training on a folder of PNG files, resuming,
/// evaluation, inspection, sampling and completion.
@Suite(.serialized)
struct CLITests {
    /// The built `pixelrnn`, next to the test bundle in the build products folder.
    static var binary: URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.pathExtension == "xctest" { folder.deleteLastPathComponent() }
        return folder.appendingPathComponent("pixelrnn")
    }

    /// Runs `pixelrnn` with `arguments`; returns exit status, stdout and stderr.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// A folder of 40 small gray PNG "images" (stripes of varying width and phase).
    static func writeImageFolder(_ folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for n in 0..<40 {
            let w = 12 + n % 5, h = 10 + n % 3
            var pixels = [UInt8](repeating: 0, count: w * h)
            for y in 0..<h { for x in 0..<w { pixels[y * w + x] = ((x + n) / (2 + n % 3)) % 2 == 0 ? 230 : 20 } }
            try Image(width: w, height: h, channels: 1, pixels: pixels).writePNG(to: folder.appendingPathComponent("img\(n).png").path)
        }
    }

    @Test func trainResumeEvalInspectSampleAndComplete() throws {
        let dir = try TemporaryDirectory()
        let images = dir.url.appendingPathComponent("images")
        try Self.writeImageFolder(images)
        let common = ["--data", images.path, "--size", "8", "--hidden", "6", "--blocks", "1", "--batch", "4",
                      "--hold-out", "8", "--validate-every", "10", "--checkpoint-every", "10", "--workers", "2", "--out", "run"]
        let first = try Self.run(["train", "--steps", "40", "--learning-rate", "0.01", "--warmup", "5"] + common + ["--minutes", "0.0001"], in: dir.url)
        #expect(first.status == 0, "\(first.err)")
        let run = dir.url.appendingPathComponent("run")
        for file in ["checkpoint.safetensors", "model.safetensors", "loss.csv", "loss.png"] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(file)")
        }
        let plot = try Image.decode(contentsOf: run.appendingPathComponent("loss.png").path)
        #expect(plot.width == 900 && plot.height == 520 && plot.channels == 3)
        // Resume to the end of the schedule.
        let second = try Self.run(["train", "--steps", "40", "--learning-rate", "0.01", "--warmup", "5", "--resume"] + common, in: dir.url)
        #expect(second.status == 0, "\(second.err)")
        #expect(second.err.contains("resuming at step"))
        #expect(second.err.contains("stopped at step 40"), "\(second.err)")
        let csv = try String(contentsOf: run.appendingPathComponent("loss.csv"), encoding: .utf8)
        let steps = csv.split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: ",")[0]) }
        #expect(steps.last == 40)
        #expect(Set(steps).count == steps.count, "a resumed run repeats no step")
        // Learned something: validation below the uniform 8 bits/dim.
        let model = run.appendingPathComponent("model.safetensors").path
        let inspect = try Self.run(["inspect", "--model", model], in: dir.url)
        #expect(inspect.status == 0)
        #expect(inspect.out.contains("blocks.0.state_to_state.weight"))
        let validation = inspect.out.split(separator: "\n").first { $0.contains("validation_bpd") }
        let bpd = validation.flatMap { Double($0.split(separator: "=").last!.trimmingCharacters(in: .whitespaces)) }
        #expect((bpd ?? 99) < 7, "\(inspect.out)")

        let sample = try Self.run(["sample", "--model", model, "--count", "4", "--size", "8", "--out", "s.png"], in: dir.url)
        #expect(sample.status == 0, "\(sample.err)")
        let grid = try Image.decode(contentsOf: dir.url.appendingPathComponent("s.png").path)
        #expect(grid.width > 32)

        var input = try Image.decode(contentsOf: images.appendingPathComponent("img3.png").path)
        input.alpha = (0..<(input.width * input.height)).map { $0 / input.width >= input.height / 2 ? 0 : 255 }
        try input.writePNG(to: dir.url.appendingPathComponent("job.png").path)
        let complete = try Self.run(["complete", "job.png", "--model", model, "--samples", "3", "--out", "result"], in: dir.url)
        #expect(complete.status == 0, "\(complete.err)")
        let result = dir.url.appendingPathComponent("result")
        for file in ["completed.png", "preview.png", "report.json", "samples"] {
            #expect(FileManager.default.fileExists(atPath: result.appendingPathComponent(file).path), "\(file)")
        }
        // Input, three completions and the heat map, 4× enlarged, side by side.
        let preview = try Image.decode(contentsOf: result.appendingPathComponent("preview.png").path)
        #expect(preview.width > 5 * 4 * input.width && preview.height > 4 * input.height && preview.channels == 3)
    }

    @Test func aCheckpointThatCannotBeWrittenStopsTrainingWithAnError() throws {
        let dir = try TemporaryDirectory()
        let images = dir.url.appendingPathComponent("images")
        try Self.writeImageFolder(images)
        // A non-empty folder where the checkpoint goes: renaming the new file over it fails.
        let blocker = dir.url.appendingPathComponent("run/checkpoint.safetensors")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: true)
        try Data([1]).write(to: blocker.appendingPathComponent("keep"))
        let result = try Self.run(
            ["train", "--data", images.path, "--size", "8", "--hidden", "6", "--blocks", "1", "--batch", "4",
             "--hold-out", "8", "--validate-every", "10", "--checkpoint-every", "10", "--workers", "2", "--out", "run",
             "--steps", "40", "--warmup", "5"], in: dir.url)
        #expect(result.status != 0, "\(result.err)")
        #expect(result.err.contains("error: step 10: cannot write the checkpoint: run/checkpoint.safetensors: rename failed"),
                "\(result.err)")
        // Training stopped at the failure, and what could be saved was saved.
        #expect(result.err.contains("stopped at step 10 (an output could not be written)"), "\(result.err)")
        #expect(result.err.contains("training stopped because outputs could not be written"), "\(result.err)")
        let run = dir.url.appendingPathComponent("run")
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("model.safetensors").path))
        let csv = try String(contentsOf: run.appendingPathComponent("loss.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").last?.hasPrefix("10,") == true, "\(csv)")
    }

    @Test func badArgumentsAndFilesGiveClearErrors() throws {
        let dir = try TemporaryDirectory()
        let missing = try Self.run(["eval", "--model", "nope.safetensors"], in: dir.url)
        #expect(missing.status != 0)
        #expect(missing.err.contains("nope.safetensors"))
        try Data("not a model".utf8).write(to: dir.url.appendingPathComponent("bad.safetensors"))
        let bad = try Self.run(["inspect", "--model", "bad.safetensors"], in: dir.url)
        #expect(bad.status != 0)
        #expect(bad.err.contains("bad.safetensors"))
        let arch = try Self.run(["train", "--arch", "lstm"], in: dir.url)
        #expect(arch.status != 0)
        #expect(arch.err.contains("--arch"))
    }
}
