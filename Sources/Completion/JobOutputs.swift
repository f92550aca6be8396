// The files of one finished job (DESIGN.md §1, "Job outputs").

import Dispatch
import Foundation
public import Imaging
import SystemIO
import SystemPackage

/// Writes the outputs of one completion job into `directory` (created if missing):
/// - `completed.png`: the selected completion;
/// - `samples/sample-N.png` (N = 1…K): every completion, when more than one was asked for;
/// - `preview.png`: the input with the occlusion marked, the completions (the selected
///   one first, at most eight, or three for pictures over 128 pixels), and the selected
///   completion's per-pixel NLL in bits as a heat map with its colour scale;
/// - `report.json`: ``CompletionReport`` (schema in docs/report.md).
///
/// The original inputs are not copied; the caller (the daemon) does that. Every system
/// call goes through the SystemIO module (its fault-injection rules apply).
/// - Parameters:
///   - result: The completion.
///   - directory: The job's output folder.
///   - sync: `fsync` every file (and the folders) before returning, for a caller that
///     publishes the folder by renaming it.
///   - threads: the PNG files are encoded on up to this many threads.
/// - Throws: ``CompletionError/io(path:call:errno:)`` for a failed system call (see
///   ``CompletionError/isTransient``), ``CompletionError/outputFailed(path:reason:)`` when a
///   PNG cannot be encoded; either names the file.
public func writeJobOutputs(
    _ result: CompletionResult, to directory: String, sync: Bool = false, threads: Int = 1
) throws(CompletionError) {
    try makeDirectory(directory)
    var files: [(name: String, content: PNGContent, image: @Sendable () -> Image)] = [
        ("completed.png", .photo, { result.completed }),
    ]
    if result.report.sampling.samples > 1 && result.samples.count > 1 {
        try makeDirectory(directory + "/samples")
        for (k, sample) in result.samples.enumerated() { files.append(("samples/sample-\(k + 1).png", .photo, { sample })) }
    }
    files.append(("preview.png", previewContent(result), { previewImage(result) }))
    let failures = OutputFailures()
    let list = files
    let workers = max(1, min(threads, list.count))
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: list.count, by: workers) {
            let path = directory + "/" + list[index].name
            do throws(ImagingError) {
                try list[index].image().writePNG(to: path, sync: sync, content: list[index].content)
            } catch {
                failures.record(index, CompletionError(error, path: path))
            }
        }
    }
    if let failure = failures.first { throw failure }
    if sync && result.samples.count > 1 && result.report.sampling.samples > 1 { try syncDirectory(directory + "/samples") }
    try writeFile(directory + "/report.json", bytes: [UInt8](result.report.jsonData()), sync: sync)
    if sync { try syncDirectory(directory) }
}

/// The job preview: input with the occlusion marked | completions | NLL heat map and scale.
/// - Parameter result: The completion.
/// - Returns: An RGB picture.
public func previewImage(_ result: CompletionResult) -> Image {
    let region = previewRegion(result)
    let w = region.width, h = region.height
    let scale = previewScale(of: region)
    // At most eight completions (three for pictures over 128 pixels), the selected one first.
    let shown = max(w, h) > 128 ? 3 : 8
    var order = [result.selectedIndex]
    for k in result.samples.indices where k != result.selectedIndex && order.count < shown { order.append(k) }
    let report = result.report
    var title = "\(report.model.name): \(report.image.occludedPixels) of \(report.image.pixels) pixels occluded"
    if report.sampling.sampled {
        // No-break spaces keep "K = 16" and "T = 0.5" whole when the title wraps.
        title += ", K\u{A0}=\u{A0}\(report.sampling.samples), T\u{A0}=\u{A0}\(report.sampling.temperature); completion 1 is the selected one"
    } else {
        title += " (nothing to fill: likelihood only)"
    }
    if region != PixelRect(x: 0, y: 0, width: result.input.width, height: result.input.height) {
        title += "; shown: the windows, \(region) of \(result.input.width)×\(result.input.height)"
    }
    func crop(_ image: Image) -> Image {
        Image(width: w, height: h, channels: image.channels,
              pixels: Completer.crop(image.pixels, width: image.width, channels: image.channels, to: region),
              alpha: image.alpha.map { Completer.crop($0, width: image.width, channels: 1, to: region) })
    }
    return CompletionFigures.preview(
        input: crop(result.input), mask: Completer.crop(result.occluded, width: result.input.width, channels: 1, to: region),
        completions: order.map { crop(result.samples[$0]) },
        nll: Completer.crop(result.pixelNLL, width: result.input.width, channels: 1, to: region).map { $0 / log(2.0) },
        scale: scale, title: title, unit: "NLL, bits per pixel")
}

/// How many times the preview enlarges the pictures of `region`: up to 4, so that they are
/// about 160 pixels on their long side; 1 for pictures over 80 pixels.
func previewScale(of region: PixelRect) -> Int {
    max(1, min(4, 160 / max(region.width, region.height)))
}

/// How the preview is compressed: pictures scaled up repeat each pixel and row, which the
/// fast encoder for per-job figures packs well; larger ones keep zlib, whose files are
/// half the size there.
func previewContent(_ result: CompletionResult) -> PNGContent {
    previewScale(of: previewRegion(result)) > 1 ? .jobFigure : .figure
}

/// What the preview shows: the whole picture, or, for a windowed completion of a
/// picture over 512 pixels on a side, the bounding box of its windows (at most 512 on a
/// side, taken from the first window's corner), so that the holes are visible.
func previewRegion(_ result: CompletionResult) -> PixelRect {
    let w = result.input.width, h = result.input.height
    let whole = PixelRect(x: 0, y: 0, width: w, height: h)
    guard max(w, h) > 512, let windows = result.report.windows, var box = windows.first?.rect else { return whole }
    for window in windows.dropFirst() { box = box.union(window.rect) }
    box.width = min(box.width, 512)
    box.height = min(box.height, 512)
    return box
}

/// The failures of a parallel write; the one of the earliest file wins, so the error
/// does not depend on scheduling.
private final class OutputFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [Int: CompletionError] = [:]
    func record(_ index: Int, _ error: CompletionError) { lock.withLock { failures[index] = error } }
    var first: CompletionError? { lock.withLock { failures.keys.min().map { failures[$0]! } } }
}

// MARK: - File helpers (the SystemIO module's, with this module's errors)

/// Creates `path` and any missing folders above it.
private func makeDirectory(_ path: String) throws(CompletionError) {
    do { try FileSystem.makeDirectories(FilePath(path)) } catch { throw CompletionError(error) }
}

/// Writes `bytes` to `path` (replacing it), optionally with `fsync`.
private func writeFile(_ path: String, bytes: [UInt8], sync: Bool) throws(CompletionError) {
    do { try FileSystem.writeFile(FilePath(path), bytes, sync: sync, overwrite: true) } catch { throw CompletionError(error) }
}

/// `fsync`s a folder.
private func syncDirectory(_ path: String) throws(CompletionError) {
    do { try FileSystem.syncDirectory(FilePath(path)) } catch { throw CompletionError(error) }
}
