// The files of one finished job (DESIGN.md §1, "Job outputs").

import Foundation
import Imaging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes the outputs of one completion job into `directory` (created if missing):
/// - `completed.png`: the selected completion;
/// - `samples/sample-N.png` (N = 1…K): every completion, when more than one was asked for;
/// - `preview.png`: the input with the occlusion marked, the completions (the selected
///   one first, at most eight, or three for pictures over 128 pixels), and the selected
///   completion's per-pixel NLL in bits as a heat map with its colour scale;
/// - `report.json`: ``CompletionReport`` (schema in docs/report.md).
///
/// The original inputs are not copied; the caller (the daemon) does that.
/// - Parameters:
///   - result: The completion.
///   - directory: The job's output folder.
///   - sync: `fsync` every file (and the folders) before returning, for a caller that
///     publishes the folder by renaming it.
/// - Throws: `CompletionError.outputFailed` naming the file.
public func writeJobOutputs(_ result: CompletionResult, to directory: String, sync: Bool = false) throws(CompletionError) {
    try makeDirectory(directory)
    func png(_ image: Image, _ name: String) throws(CompletionError) {
        let path = directory + "/" + name
        do {
            try image.writePNG(to: path, sync: sync)
        } catch {
            throw .outputFailed(path: path, reason: error.description)
        }
    }
    try png(result.completed, "completed.png")
    if result.report.sampling.samples > 1 && result.samples.count > 1 {
        try makeDirectory(directory + "/samples")
        for (k, sample) in result.samples.enumerated() { try png(sample, "samples/sample-\(k + 1).png") }
        if sync { try syncDirectory(directory + "/samples") }
    }
    try png(previewImage(result), "preview.png")
    try writeFile(directory + "/report.json", bytes: [UInt8](result.report.jsonData()), sync: sync)
    if sync { try syncDirectory(directory) }
}

/// The job preview: input with the occlusion marked | completions | NLL heat map and scale.
/// - Parameter result: The completion.
/// - Returns: An RGB picture.
public func previewImage(_ result: CompletionResult) -> Image {
    let w = result.input.width, h = result.input.height
    let scale = max(1, min(4, 160 / max(w, h)))
    // At most eight completions (three for pictures over 128 pixels), the selected one first.
    let shown = max(w, h) > 128 ? 3 : 8
    var order = [result.selectedIndex]
    for k in result.samples.indices where k != result.selectedIndex && order.count < shown { order.append(k) }
    let report = result.report
    var title = "\(report.model.name): \(report.image.occludedPixels) of \(report.image.pixels) pixels occluded"
    if report.sampling.sampled {
        title += ", K = \(report.sampling.samples), T = \(report.sampling.temperature); completion 1 is the selected one"
    } else {
        title += " (nothing to fill: likelihood only)"
    }
    return CompletionFigures.preview(
        input: result.input, mask: result.occluded, completions: order.map { result.samples[$0] },
        nll: result.pixelNLL.map { $0 / log(2.0) }, scale: scale, title: title, unit: "NLL, bits per pixel")
}

// MARK: - File helpers

private func makeDirectory(_ path: String) throws(CompletionError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw .outputFailed(path: path, reason: "cannot create the folder: \(error.localizedDescription)")
    }
}

/// Writes `bytes` to `path` (replacing it), optionally with `fsync`.
private func writeFile(_ path: String, bytes: [UInt8], sync: Bool) throws(CompletionError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .outputFailed(path: path, reason: "open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            throw .outputFailed(path: path, reason: "write: \(String(cString: strerror(errno)))")
        }
        offset += n
    }
    if sync && fsync(fd) != 0 {
        throw .outputFailed(path: path, reason: "fsync: \(String(cString: strerror(errno)))")
    }
}

private func syncDirectory(_ path: String) throws(CompletionError) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw .outputFailed(path: path, reason: "open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    if fsync(fd) != 0 { throw .outputFailed(path: path, reason: "fsync: \(String(cString: strerror(errno)))") }
}
