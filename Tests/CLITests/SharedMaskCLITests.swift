import Foundation
import Imaging
import TestSupport
import Testing

/// `pixelrnn complete` with one mask for several images (the embedded default model).
@Suite(.serialized)
struct SharedMaskCLITests {
    static func picture(_ seed: Int, width: Int = 10, height: Int = 8) -> Image {
        Image(width: width, height: height, channels: 1, pixels: (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 * 5 + seed * 17) })
    }

    static func report(_ folder: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent("report.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The SHA-256 of a file by coreutils' `sha256sum`, independent of the project's own.
    static func sha256sum(_ file: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }

    @Test func oneMaskForSeveralImagesIsReadOnceAndNamedWithItsHashInEachReport() throws {
        let dir = try TemporaryDirectory()
        for n in 0..<3 { try Self.picture(n).writePNG(to: dir.url.appendingPathComponent("scan\(n).png").path) }
        try Self.picture(9, width: 14, height: 8).writePNG(to: dir.url.appendingPathComponent("wide.png").path)
        let mask = Image(width: 3, height: 2, channels: 1, pixels: [255, 255, 255, 0, 255, 255])
        try mask.writePNG(to: dir.url.appendingPathComponent("logo.png").path)
        let expectedHash = try Self.sha256sum(dir.url.appendingPathComponent("logo.png"))

        let run = try CLITests.run(["complete", "scan0.png", "scan1.png", "scan2.png", "wide.png", "--mask", "logo.png",
                                    "--mask-anchor", "bottom-right", "--out", "results"], in: dir.url)
        #expect(run.status == 0, "\(run.err)")
        for job in ["scan0", "scan1", "scan2", "wide"] {
            let folder = dir.url.appendingPathComponent("results/\(job)")
            let report = try Self.report(folder)
            let summary = try #require(report["mask"] as? [String: Any])
            #expect(summary["source"] as? String == "shared_mask" && summary["name"] as? String == "logo.png")
            #expect((summary["sha256"] as? String)?.count == 64)
            #expect(summary["anchor"] as? String == "bottom-right" && summary["width"] as? Int == 3)
            #expect((report["image"] as? [String: Any])?["occluded_pixels"] as? Int == 5)
            // Visible pixels unchanged; the hole is the bottom-right 3×2 corner.
            let input = try Image.decode(contentsOf: dir.url.appendingPathComponent("\(job).png").path)
            let completed = try Image.decode(contentsOf: folder.appendingPathComponent("completed.png").path)
            for y in 0..<input.height { for x in 0..<(input.width - 3) { #expect(completed[y, x, 0] == input[y, x, 0]) } }
        }
        let shas = try ["scan0", "scan1", "wide"].map { try (Self.report(dir.url.appendingPathComponent("results/\($0)"))["mask"] as? [String: Any])?["sha256"] as? String }
        #expect(Set(shas) == [expectedHash])

        // One image: the outputs go into --out itself and the mask is that image's own file.
        let one = try CLITests.run(["complete", "scan0.png", "--mask", "logo.png", "--mask-anchor", "top-left", "--out", "single"], in: dir.url)
        #expect(one.status == 0, "\(one.err)")
        #expect((try Self.report(dir.url.appendingPathComponent("single"))["mask"] as? [String: Any])?["source"] as? String == "mask_file")

        // Without an anchor a mask of another size is an error naming both sizes.
        let wrong = try CLITests.run(["complete", "scan0.png", "scan1.png", "--mask", "logo.png", "--out", "wrong"], in: dir.url)
        #expect(wrong.status != 0)
        #expect(wrong.err.contains("mask is 3×2 pixels but the image is 10×8"), "\(wrong.err)")
        // Two images that would write the same folder are refused before any work.
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("other"), withIntermediateDirectories: true)
        try Self.picture(1).writePNG(to: dir.url.appendingPathComponent("other/scan0.png").path)
        let twice = try CLITests.run(["complete", "scan0.png", "other/scan0.png", "--mask", "logo.png", "--out", "twice"], in: dir.url)
        #expect(twice.status != 0 && twice.err.contains("both write"), "\(twice.err)")
    }
}
