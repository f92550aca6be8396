import Foundation
import Imaging
import SystemIO
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One mask for many images: `masks/NAME.png`, chosen by `"mask"` in NAME.json or by the
/// configuration's `mask`, through the built `pixelrnnd` with the PixelRNN processor on a
/// small random model.
@Suite(.serialized)
struct SharedMaskTests {
    static let width = 16, height = 12

    /// A daemon on a tiny gray model, with `settings` on top.
    static func harness(_ settings: [String: String] = [:]) throws -> DaemonHarness {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let modelURL = h.root.appendingPathComponent("tiny.safetensors")
        try CompletionDaemonTests.writeModel(to: modelURL)
        try h.writeConfig(["model": modelURL.path].merging(settings) { $1 })
        return h
    }

    /// A gray picture without alpha whose pixels depend on `seed`.
    static func picture(_ seed: Int, width: Int = width, height: Int = height, alpha: [UInt8]? = nil) -> Image {
        Image(width: width, height: height, channels: 1,
              pixels: (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 * 7 + seed * 31 + ($0 * seed) % 13) }, alpha: alpha)
    }

    /// A mask PNG occluding the pixels for which `occluded(x, y)` holds.
    static func mask(width: Int = width, height: Int = height, _ occluded: (Int, Int) -> Bool) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height { for x in 0..<width where occluded(x, y) { pixels[y * width + x] = 255 } }
        return try Image(width: width, height: height, channels: 1, pixels: pixels).encodePNG()
    }

    static func writeMask(_ h: DaemonHarness, _ name: String, _ bytes: [UInt8]) throws {
        let masks = h.spool.appendingPathComponent("masks")
        try FileManager.default.createDirectory(at: masks, withIntermediateDirectories: true)
        let temporary = masks.appendingPathComponent(".\(name).tmp")
        try Data(bytes).write(to: temporary)
        #expect(rename(temporary.path, masks.appendingPathComponent(name).path) == 0)
    }

    static func report(_ h: DaemonHarness, _ job: String) throws -> [String: Any] {
        let data = try Data(contentsOf: h.outbox.appendingPathComponent("\(job)/report.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func maskField(_ h: DaemonHarness, _ job: String) throws -> [String: Any] {
        try #require(try report(h, job)["mask"] as? [String: Any])
    }

    static func occluded(_ h: DaemonHarness, _ job: String) throws -> Int? {
        (try report(h, job)["image"] as? [String: Any])?["occluded_pixels"] as? Int
    }

    static func sha256(_ bytes: [UInt8]) -> String { SHA256.hex(SHA256.hash(bytes)) }

    /// Renames files from a staging folder into the inbox, all at once.
    static func moveIn(_ h: DaemonHarness, _ files: [(String, [UInt8])]) throws {
        let stage = h.root.appendingPathComponent("stage")
        try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: stage.appendingPathComponent(name)) }
        for (name, _) in files {
            #expect(rename(stage.appendingPathComponent(name).path, h.inbox.appendingPathComponent(name).path) == 0)
        }
    }

    static func logLines(_ h: DaemonHarness, _ message: String) -> Int {
        h.log.split(separator: "\n").filter { $0.contains("msg=\(message)") || $0.contains("msg=\"\(message)\"") }.count
    }

    @Test func twoHundredImagesWithOneSharedMaskAreEachCompletedOnceWithIt() throws {
        let h = try Self.harness(["mask": "dust", "workers": "2", "queue_capacity": "64"])
        let occlusion: (Int, Int) -> Bool = { x, y in (5..<9).contains(x) && (4..<7).contains(y) || (x == 14 && y == 1) }
        let maskBytes = try Self.mask(occlusion)
        try Self.writeMask(h, "dust.png", maskBytes)
        try h.start()
        defer { h.stop() }
        let pictures = (0..<200).map { Self.picture($0) }
        try Self.moveIn(h, try pictures.enumerated().map { (String(format: "scan%03d.png", $0), try $1.encodePNG()) })
        try h.eventually(60, "200 results") { h.names(h.outbox).count + h.names(h.failed).count == 200 }
        #expect(h.names(h.failed).isEmpty, "\(h.names(h.failed))")
        // Each exactly once: no suffixed second result, one completion per job.
        #expect(h.names(h.outbox) == (0..<200).map { String(format: "scan%03d", $0) })
        #expect(Self.logLines(h, "completed") == 200)
        // The mask file was read once for the whole batch.
        #expect(Self.logLines(h, "shared mask read") == 1, "\(h.log)")
        let expected = Self.sha256(maskBytes)
        for (index, input) in pictures.enumerated() {
            let job = String(format: "scan%03d", index)
            let mask = try Self.maskField(h, job)
            #expect(mask["source"] as? String == "shared_mask" && mask["name"] as? String == "dust")
            #expect(mask["sha256"] as? String == expected)
            #expect(try Self.occluded(h, job) == 13)
            let completed = try Image.decode(contentsOf: h.outbox.appendingPathComponent("\(job)/completed.png").path)
            var same = true
            for y in 0..<Self.height { for x in 0..<Self.width where !occlusion(x, y) { same = same && completed[y, x, 0] == input[y, x, 0] } }
            #expect(same, "visible pixels of \(job) changed")
        }
    }

    @Test func replacingTheMaskNeverChangesClaimedJobsEvenAcrossARestart() throws {
        let h = try Self.harness(["mask": "logo", "queue_capacity": "32"])
        let first = try Self.mask { x, _ in x < 2 }, second = try Self.mask { x, _ in x >= 13 }
        try Self.writeMask(h, "logo.png", first)
        // Slow jobs: all six are claimed, none finishes before the daemon is killed.
        try h.start(["--debug-job-delay-ms", "60000"])
        try Self.moveIn(h, try (0..<6).map { ("early\($0).png", try Self.picture($0).encodePNG()) })
        try h.eventually(20, "six claimed") { h.names(h.inbox).isEmpty && h.names(h.work).count == 6 }
        // Replaced in place (same inode, new bytes), then the daemon dies.
        try Data(second).write(to: h.spool.appendingPathComponent("masks/logo.png"))
        h.stop()
        try h.start()
        defer { h.stop() }
        try Self.moveIn(h, try (0..<4).map { ("late\($0).png", try Self.picture($0).encodePNG()) })
        try h.eventually(30, "ten results") { h.names(h.outbox).count == 10 }
        for n in 0..<6 {
            #expect(try Self.maskField(h, "early\(n)")["sha256"] as? String == Self.sha256(first))
            #expect(try Self.occluded(h, "early\(n)") == 2 * Self.height)
        }
        for n in 0..<4 {
            #expect(try Self.maskField(h, "late\(n)")["sha256"] as? String == Self.sha256(second))
            #expect(try Self.occluded(h, "late\(n)") == 3 * Self.height)
        }
    }

    @Test func aMissingOrRemovedMaskFailsLaterJobsWithTheReason() throws {
        let h = try Self.harness(["mask": "stamp"])
        try Self.writeMask(h, "stamp.png", try Self.mask { x, y in x == y })
        try h.start()
        defer { h.stop() }
        try h.dropAtomically("before.png", try Self.picture(1).encodePNG())
        try h.eventually(20, "first result") { h.names(h.outbox) == ["before"] }
        try FileManager.default.removeItem(at: h.spool.appendingPathComponent("masks/stamp.png"))
        try h.dropAtomically("after.png", try Self.picture(2).encodePNG())
        try h.dropAtomically("named.json", Array(#"{"mask": "nosuch"}"#.utf8))
        try h.dropAtomically("named.png", try Self.picture(3).encodePNG())
        try h.eventually(20, "two failures") { h.names(h.failed).count == 2 }
        #expect(try h.errorReason("after").contains("the shared mask 'stamp' does not exist: there is no masks/stamp.png"))
        #expect(try h.errorReason("named").contains("the shared mask 'nosuch' does not exist"))
        // The inputs are kept with the reason; the daemon goes on.
        #expect(h.names(h.failed.appendingPathComponent("named")) == ["error.json", "named.json", "named.png"])
        #expect((try h.status()["state"] as? String) == "ready")
    }

    @Test func aMaskOfAnotherSizeFailsWithBothSizesUnlessAnchored() throws {
        let h = try Self.harness()
        try Self.writeMask(h, "corner.png", try Self.mask(width: 4, height: 3) { x, y in x >= 1 && y >= 1 })
        try h.start()
        defer { h.stop() }
        try h.dropAtomically("plain.json", Array(#"{"mask": "corner"}"#.utf8))
        try h.dropAtomically("plain.png", try Self.picture(1).encodePNG())
        try h.dropAtomically("anchored.json", Array(#"{"mask": "corner.png", "mask_anchor": "bottom-right"}"#.utf8))
        try h.dropAtomically("anchored.png", try Self.picture(2).encodePNG())
        try h.dropAtomically("scaled.json", Array(#"{"mask": "corner", "mask_anchor": "scale"}"#.utf8))
        try h.dropAtomically("scaled.png", try Self.picture(3).encodePNG())
        try h.dropAtomically("small.json", Array(#"{"mask": "corner", "mask_anchor": "top-left"}"#.utf8))
        try h.dropAtomically("small.png", try Self.picture(4, width: 3, height: 3).encodePNG())
        try h.eventually(20, "four jobs") { h.names(h.outbox).count + h.names(h.failed).count == 4 }
        #expect(h.names(h.failed) == ["plain", "small"])
        let plain = try h.errorReason("plain")
        #expect(plain.contains("is 4×3 pixels but the image is 16×12"), "\(plain)")
        #expect(try h.errorReason("small").contains("4×3 pixels, larger than the 3×3 image"))
        let anchored = try Self.maskField(h, "anchored")
        #expect(anchored["anchor"] as? String == "bottom-right" && anchored["width"] as? Int == 4 && anchored["height"] as? Int == 3)
        #expect(try Self.occluded(h, "anchored") == 6)
        // The occlusion sits in the bottom-right corner: everything else is unchanged.
        let input = Self.picture(2)
        let completed = try Image.decode(contentsOf: h.outbox.appendingPathComponent("anchored/completed.png").path)
        var same = true
        for y in 0..<Self.height { for x in 0..<Self.width where !(x >= 13 && y >= 10) { same = same && completed[y, x, 0] == input[y, x, 0] } }
        #expect(same)
        // Scaled 4×3 → 16×12: each mask pixel covers 4×4 image pixels.
        #expect(try Self.occluded(h, "scaled") == 6 * 16)
    }

    @Test func hostileSharedMasksAreRefusedWithoutBeingFollowedOrRead() throws {
        let h = try Self.harness(["max_width": "4096", "max_height": "4096"])
        try h.start()
        defer { h.stop() }
        let masks = h.spool.appendingPathComponent("masks")
        let target = h.root.appendingPathComponent("real.png")
        try Data(try Self.mask { _, _ in true }).write(to: target)
        try FileManager.default.createSymbolicLink(atPath: masks.appendingPathComponent("link.png").path, withDestinationPath: target.path)
        #expect(mkfifo(masks.appendingPathComponent("pipe.png").path, 0o644) == 0)
        try Data(TestImages.hugeHeaderPNG(width: 100_000, height: 100_000)).write(to: masks.appendingPathComponent("bomb.png"))
        try Data("not a png".utf8).write(to: masks.appendingPathComponent("text.png"))
        for name in ["link", "pipe", "bomb", "text"] {
            try h.dropAtomically("\(name).json", Array(#"{"mask": "\#(name)"}"#.utf8))
            try h.dropAtomically("\(name).png", try Self.picture(1).encodePNG())
        }
        try h.eventually(20, "four failures") { h.names(h.failed).count == 4 }
        #expect(try h.errorReason("link").contains("'masks/link.png' is a symbolic link, not a regular file; it was not followed or read"))
        #expect(try h.errorReason("pipe").contains("'masks/pipe.png' is a FIFO, not a regular file"))
        #expect(try h.errorReason("bomb").contains("masks/bomb.png is too large: width 100000 > maxWidth 4096"))
        #expect(try h.errorReason("text").contains("masks/text.png"))
        // The link's target was not touched and the daemon goes on.
        try Self.writeMask(h, "good.png", try Self.mask { x, _ in x == 0 })
        try h.dropAtomically("fine.json", Array(#"{"mask": "good"}"#.utf8))
        try h.dropAtomically("fine.png", try Self.picture(1).encodePNG())
        try h.eventually(20, "a result") { h.names(h.outbox) == ["fine"] }
    }

    @Test func theValidateProcessorChecksASharedMaskFromItsHeader() throws {
        let h = try DaemonHarness(settings: ["mask": "edge", "mask_anchor": "top"])
        try Self.writeMask(h, "edge.png", try Self.mask(width: 8, height: 2) { _, y in y == 0 })
        try h.start()
        defer { h.stop() }
        try h.dropAtomically("fits.png", try Self.picture(1).encodePNG())
        try h.dropAtomically("narrow.png", try Self.picture(2, width: 6, height: 12).encodePNG())
        try h.eventually(20, "two jobs") { h.names(h.outbox).count + h.names(h.failed).count == 2 }
        #expect(h.names(h.failed) == ["narrow"])
        #expect(try h.errorReason("narrow").contains("is 8×2 pixels, larger than the 6×12 image it is anchored in (mask_anchor = top)"))
        let report = try Self.report(h, "fits")
        #expect(report["occlusion"] as? String == "shared_mask")
        let shared = try #require(report["shared_mask"] as? [String: Any])
        #expect(shared["name"] as? String == "edge" && shared["anchor"] as? String == "top" && (shared["sha256"] as? String)?.count == 64)
    }

    /// Own `NAME.mask.png` > shared mask named in NAME.json > alpha > the configuration's
    /// mask; `"mask": null` turns the configuration's off.
    @Test func precedenceAmongOwnMaskNamedSharedMaskAlphaAndTheConfiguredMask() throws {
        let h = try Self.harness(["mask": "fallback", "mask_wait": "1"])
        try Self.writeMask(h, "named.png", try Self.mask { x, _ in x < 2 })       // 24 pixels
        try Self.writeMask(h, "fallback.png", try Self.mask { x, _ in x < 3 })    // 36 pixels
        try h.start()
        defer { h.stop() }
        let own = try Self.mask { x, _ in x < 1 }                                   // 12 pixels
        let alpha = (0..<(Self.width * Self.height)).map { $0 / Self.width < 4 ? UInt8(0) : 255 }  // 64 pixels
        let withAlpha = try Self.picture(1, alpha: alpha).encodePNG(), plain = try Self.picture(2).encodePNG()
        let named = Array(#"{"mask": "named"}"#.utf8), none = Array(#"{"mask": null}"#.utf8)
        // All four apply: the own mask wins.
        try h.dropAtomically("all.mask.png", own)
        try h.dropAtomically("all.json", named)
        try h.dropAtomically("all.png", withAlpha)
        // Named shared mask over alpha.
        try h.dropAtomically("namedalpha.json", named)
        try h.dropAtomically("namedalpha.png", withAlpha)
        // Alpha over the configured mask.
        try h.dropAtomically("alpha.png", withAlpha)
        // Nothing of its own: the configured mask.
        try h.dropAtomically("fallback.png", plain)
        // "mask": null keeps alpha and turns the configured mask off.
        try h.dropAtomically("nullalpha.json", none)
        try h.dropAtomically("nullalpha.png", withAlpha)
        try h.dropAtomically("nullplain.json", none)
        try h.dropAtomically("nullplain.png", plain)
        try h.eventually(30, "six jobs") { h.names(h.outbox).count + h.names(h.failed).count == 6 }
        #expect(h.names(h.failed) == ["nullplain"])
        #expect(try h.errorReason("nullplain").contains("no mask 'nullplain.mask.png' arrived"))
        let expected: [(String, String, String?, Int)] = [
            ("all", "mask_file", "all.mask.png", 12), ("namedalpha", "shared_mask", "named", 24),
            ("alpha", "alpha", nil, 64), ("fallback", "shared_mask", "fallback", 36), ("nullalpha", "alpha", nil, 64),
        ]
        for (job, source, name, count) in expected {
            let mask = try Self.maskField(h, job)
            #expect(mask["source"] as? String == source, "\(job)")
            #expect(mask["name"] as? String == name, "\(job)")
            #expect(try Self.occluded(h, job) == count, "\(job)")
        }
        #expect(try Self.maskField(h, "all")["sha256"] as? String == Self.sha256(own))
        #expect(try Self.maskField(h, "alpha")["sha256"] == nil)
    }
}
