import Foundation
import Imaging
import PixelRNN
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `pixelrnnd` with the PixelRNN processor (the product's default), on a
/// small random model so the tests stay fast: real decoding, completion, report and
/// preview, published through the spool.
@Suite(.serialized)
struct CompletionDaemonTests {
    /// A small random Row LSTM model file (gray or RGB) in `directory`.
    static func writeModel(to url: URL, channels: Int = 1, name: String = "tiny", proposalTemperature: String? = nil) throws {
        let model = try PixelRNN(configuration: ModelConfiguration(channels: channels, hidden: 6, blocks: 1), seed: 3)
        model.metadata["name"] = name
        model.metadata["proposal_temperature"] = proposalTemperature
        model.metadata["training_data"] = "none (random weights, for tests)"
        model.metadata["test_bpd"] = "8.0"
        for (p, v) in [(1, 7.5), (5, 7.7), (25, 7.9), (50, 8.0), (75, 8.1), (95, 8.3), (99, 8.5)] {
            model.metadata[String(format: "test_bpd_p%02d", p)] = String(v)
        }
        try model.save(to: url.path)
    }

    static func image(width: Int, height: Int, channels: Int, alpha: Bool) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for i in pixels.indices { pixels[i] = UInt8((i * 37) % 251) }
        let a: [UInt8]? = alpha ? (0..<(width * height)).map { $0 / width >= height / 2 ? 0 : 255 } : nil
        return Image(width: width, height: height, channels: channels, pixels: pixels, alpha: a)
    }

    func report(_ h: DaemonHarness, _ job: String) throws -> [String: Any] {
        let data = try Data(contentsOf: h.outbox.appendingPathComponent("\(job)/report.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func alphaImageAndMaskPairsAreCompletedWithReportAndPreview() throws {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let modelURL = h.root.appendingPathComponent("tiny.safetensors")
        try Self.writeModel(to: modelURL)
        try h.writeConfig(["model": modelURL.path])
        try h.start()
        defer { h.stop() }

        let withAlpha = Self.image(width: 12, height: 10, channels: 1, alpha: true)
        try h.dropAtomically("alpha.png", try withAlpha.encodePNG())
        let plain = Self.image(width: 9, height: 7, channels: 3, alpha: false)
        let maskImage = Image(width: 9, height: 7, channels: 1,
                              pixels: (0..<63).map { ($0 % 9) >= 3 && ($0 % 9) < 6 && $0 / 9 >= 2 ? 255 : 0 })
        try h.dropAtomically("pair.mask.png", try maskImage.encodePNG())
        usleep(300_000)
        try h.dropAtomically("pair.png", try plain.encodePNG())
        try h.dropAtomically("samples.json", Array(#"{"samples": 4, "seed": 11}"#.utf8))
        usleep(100_000)
        try h.dropAtomically("samples.png", try withAlpha.encodePNG())

        try h.eventually(60, "three results") { h.names(h.outbox).count == 3 }
        #expect(h.names(h.failed).isEmpty, "\(h.log)")
        #expect(h.names(h.outbox.appendingPathComponent("alpha")) == ["alpha.png", "completed.png", "preview.png", "report.json"])
        #expect(h.names(h.outbox.appendingPathComponent("samples")).contains("samples"))

        // Visible pixels are bit-identical; the report is consistent.
        let completed = try Image.decode(contentsOf: h.outbox.appendingPathComponent("alpha/completed.png").path)
        #expect(completed.channels == 1 && completed.width == 12 && completed.height == 10)
        for y in 0..<5 { for x in 0..<12 { #expect(completed[y, x, 0] == withAlpha[y, x, 0]) } }
        let r = try report(h, "alpha")
        let image = try #require(r["image"] as? [String: Any])
        #expect(image["occluded_pixels"] as? Int == 60)
        #expect(image["visible_pixels"] as? Int == 60)
        let model = try #require(r["model"] as? [String: Any])
        #expect(model["name"] as? String == "tiny")
        #expect((model["weights_sha256"] as? String)?.count == 64)
        let samples = try #require(r["samples"] as? [[String: Any]])
        #expect(samples.count == 1)
        let logP = try #require(samples[0]["log_p_nats"] as? Double)
        let bpd = try #require(samples[0]["nll_bits_per_dim"] as? Double)
        #expect(abs(-logP / (120 * log(2.0)) - bpd) < 1e-9)
        #expect(r["evidence"] as? [String: Any] != nil)
        #expect(r["typicality"] as? [String: Any] != nil)

        // A gray mask on an RGB image: gray model converts the RGB input (documented).
        let pair = try report(h, "pair")
        #expect((pair["image"] as? [String: Any])?["occluded_pixels"] as? Int == 15)
        let multi = try report(h, "samples")
        #expect((multi["samples"] as? [[String: Any]])?.count == 4)
        #expect(h.names(h.outbox.appendingPathComponent("samples/samples")).count == 4)
        let preview = try Image.decode(contentsOf: h.outbox.appendingPathComponent("alpha/preview.png").path)
        #expect(preview.width > 100)
    }

    /// A SIGTERM while a job is adapting the model to its picture returns the job to
    /// inbox/ like any other in-flight job once drain_timeout is over: adaptation is
    /// bounded by the drain, not by its own step budget, and leaves nothing behind.
    @Test func aSigtermDuringAdaptationReturnsTheJobToTheInbox() throws {
        let h = try DaemonHarness(settings: ["workers": "1", "drain_timeout": "0.5", "adapt_max_seconds": "120"])
        h.processor = "pixelrnn"
        let modelURL = h.root.appendingPathComponent("tiny.safetensors")
        try Self.writeModel(to: modelURL)
        try h.writeConfig(["model": modelURL.path, "workers": "1", "drain_timeout": "0.5", "adapt_max_seconds": "120"])
        try h.start()
        defer { h.stop() }
        try h.dropAtomically("adapting.json", Array(#"{"adapt": 100000}"#.utf8))
        usleep(100_000)
        try h.dropAtomically("adapting.png", try Self.image(width: 96, height: 96, channels: 1, alpha: true).encodePNG())
        try h.eventually(20, "job in flight") { h.jobs()["in_flight"] == 1 }
        usleep(1_000_000)  // well into its 100,000 steps
        let sent = Date()
        h.signal(SIGTERM)
        let status = try h.waitForExit(timeout: 20)
        // The drain cancels the returned job's adaptation and waits for it to stop: the
        // process never ends under a running adaptation.
        #expect(status == 0, "exit status \(status)")
        #expect(!h.log.contains("did not stop in time"), "\(h.log)")
        #expect(Date().timeIntervalSince(sent) < 4, "the drain did not bound the adaptation")
        #expect(h.names(h.inbox) == ["adapting.json", "adapting.png"])
        #expect(h.names(h.outbox).isEmpty && h.names(h.failed).isEmpty && h.names(h.work).isEmpty)
    }

    @Test func statusShowsTheModelWithNumbersAsNumbersAndPlainPaths() throws {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let modelURL = h.root.appendingPathComponent("tiny.safetensors")
        try Self.writeModel(to: modelURL)
        try h.writeConfig(["model": modelURL.path])
        try h.start()
        defer { h.stop() }
        let model = try #require(try h.status()["model"] as? [String: Any])
        #expect(model["name"] as? String == "tiny")
        #expect(model["file"] as? String == modelURL.path)
        #expect(model["architecture"] as? String == "row")
        #expect((model["sha256"] as? String)?.count == 64)
        // JSONSerialization reads 1 and 8.0 as NSNumber; a string would not cast.
        #expect(model["channels"] as? Int == 1)
        #expect(model["hidden"] as? Int == 6)
        #expect(model["blocks"] as? Int == 1)
        #expect(model["test_bpd"] as? Double == 8.0)
        #expect(Set(model.filter { $0.value is String }.keys) == ["name", "file", "architecture", "sha256"])
        let text = try String(contentsOf: h.state.appendingPathComponent("status.json"), encoding: .utf8)
        #expect(!text.contains("\\/"), "escaped slashes in status.json")
        #expect(text.contains("\"channels\" : 1"), "\(text)")
        // The log shows the model as flat key=value fields, not a dictionary.
        let loaded = try #require(h.log.split(separator: "\n").first { $0.contains("msg=\"model loaded\"") })
        #expect(loaded.contains(" model_name=tiny"), "\(loaded)")
        #expect(loaded.contains(" model_channels=1"), "\(loaded)")
        #expect(loaded.contains(" model_file=\(modelURL.path)"), "\(loaded)")
        #expect(!loaded.contains("["), "\(loaded)")
    }

    /// A gray and a colour model in one daemon: each job goes to the model with its
    /// channel count, NAME.json may name one, an unknown name fails with the names
    /// available, and status.json lists both. A job that names no temperature samples at
    /// its model's own (the colour model's file names 0.5, the gray one's none).
    @Test func jobsGoToTheModelOfTheirChannelsOrTheOneTheyName() throws {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let gray = h.root.appendingPathComponent("gray.safetensors"), colour = h.root.appendingPathComponent("colour.safetensors")
        try Self.writeModel(to: gray, channels: 1, name: "tiny-gray")
        try Self.writeModel(to: colour, channels: 3, name: "tiny-colour", proposalTemperature: "0.5")
        try h.writeConfig(["model.gray": gray.path, "model.colour": colour.path])
        try h.start()
        defer { h.stop() }
        let models = try #require(try h.status()["models"] as? [[String: Any]])
        #expect(Set(models.compactMap { $0["name"] as? String }) == ["gray", "colour"])

        let rgb = Self.image(width: 8, height: 6, channels: 3, alpha: true)
        let grayImage = Self.image(width: 8, height: 6, channels: 1, alpha: true)
        try h.dropAtomically("photo.png", try rgb.encodePNG())
        try h.dropAtomically("scan.png", try grayImage.encodePNG())
        try h.dropAtomically("asked.json", Array(#"{"model": "gray"}"#.utf8))
        try h.dropAtomically("warm.json", Array(#"{"temperature": 0.8}"#.utf8))
        try h.dropAtomically("unknown.json", Array(#"{"model": "sepia"}"#.utf8))
        usleep(200_000)
        try h.dropAtomically("asked.png", try rgb.encodePNG())
        try h.dropAtomically("unknown.png", try rgb.encodePNG())
        try h.dropAtomically("warm.png", try rgb.encodePNG())
        try h.eventually(60, "five results") { h.names(h.outbox).count + h.names(h.failed).count == 5 }
        #expect(h.names(h.outbox) == ["asked", "photo", "scan", "warm"], "\(h.log)")
        func temperature(_ job: String) throws -> Double? { (try report(h, job)["sampling"] as? [String: Any])?["temperature"] as? Double }
        #expect(try temperature("photo") == 0.5)
        #expect(try temperature("scan") == 1)
        #expect(try temperature("asked") == 1)
        #expect(try temperature("warm") == 0.8)
        func served(_ job: String) throws -> (String?, String?, Int?) {
            let r = try report(h, job)
            let image = r["image"] as? [String: Any]
            return ((r["model"] as? [String: Any])?["name"] as? String, image?["channel_conversion"] as? String,
                    (try Image.decode(contentsOf: h.outbox.appendingPathComponent("\(job)/completed.png").path)).channels)
        }
        #expect(try served("photo") == ("colour", "none", 3))
        #expect(try served("scan") == ("gray", "none", 1))
        #expect(try served("asked") == ("gray", "rgb_to_gray_bt601_luma", 1))
        let data = try Data(contentsOf: h.failed.appendingPathComponent("unknown/error.json"))
        let reason = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["reason"] as? String ?? ""
        #expect(reason.contains("sepia") && reason.contains("gray") && reason.contains("colour"), "\(reason)")
    }

    @Test func badInputsFailClearlyWithTheModelProcessor() throws {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let modelURL = h.root.appendingPathComponent("tiny.safetensors")
        try Self.writeModel(to: modelURL)
        try h.writeConfig(["model": modelURL.path])
        try h.start()
        defer { h.stop() }
        var png = try Self.image(width: 8, height: 8, channels: 1, alpha: true).encodePNG()
        png[png.count / 2] ^= 0xFF  // corrupt the compressed data (CRC mismatch)
        try h.dropAtomically("corrupt.png", png)
        let rgb = try Self.image(width: 8, height: 8, channels: 3, alpha: false).encodePNG()
        try h.dropAtomically("wrongsize.mask.png", try Image(width: 4, height: 4, channels: 1, filledWith: 255).encodePNG())
        usleep(200_000)
        try h.dropAtomically("wrongsize.png", rgb)
        try h.eventually(60, "two failures") { h.names(h.failed).count == 2 }
        for name in ["corrupt", "wrongsize"] {
            let data = try Data(contentsOf: h.failed.appendingPathComponent("\(name)/error.json"))
            let error = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let reason = error["reason"] as? String ?? ""
            #expect(!reason.isEmpty, "\(name): \(error)")
            if name == "wrongsize" { #expect(reason.contains("4×4") || reason.contains("4x4") || reason.contains("size"), "\(reason)") }
        }
        try h.dropAtomically("fine.png", try Self.image(width: 8, height: 8, channels: 1, alpha: true).encodePNG())
        try h.eventually(60, "still serving") { h.names(h.outbox) == ["fine"] }
    }

    @Test func sighupSwapsRealModelsAndKeepsTheOldOneWhenTheNewIsCorrupt() throws {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let first = h.root.appendingPathComponent("first.safetensors")
        let second = h.root.appendingPathComponent("second.safetensors")
        try Self.writeModel(to: first, name: "first")
        try Self.writeModel(to: second, channels: 3, name: "second")
        try h.writeConfig(["model": first.path])
        try h.start()
        defer { h.stop() }
        func modelName() -> String? { ((try? h.status())?["model"] as? [String: Any])?["name"] as? String }
        #expect(modelName() == "first")
        try h.writeConfig(["model": second.path])
        h.signal(SIGHUP)
        try h.eventually(30, "reloaded") { modelName() == "second" }
        // Truncate a copy of a real model file: a clear error, the old model stays.
        let broken = h.root.appendingPathComponent("broken.safetensors")
        let bytes = try Data(contentsOf: second)
        try bytes.prefix(bytes.count / 2).write(to: broken)
        try h.writeConfig(["model": broken.path])
        h.signal(SIGHUP)
        try h.eventually(30, "reload failure reported") {
            (((try? h.status())?["last_error"] as? [String: Any])?["message"] as? String ?? "").contains("broken.safetensors")
        }
        try h.eventually(10, "ready again") { (try? h.status())?["state"] as? String == "ready" }
        #expect(modelName() == "second")
        try h.dropAtomically("after.png", try Self.image(width: 6, height: 6, channels: 3, alpha: true).encodePNG())
        try h.eventually(60, "served by the old model") { h.names(h.outbox) == ["after"] }
        let r = try report(h, "after")
        #expect((r["model"] as? [String: Any])?["name"] as? String == "second")
    }
}
