import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// End-to-end tests: the built `pixelrnnd` binary on a temporary spool. Serialized, so that
/// several daemons do not fight for the two cores; every wait polls with a generous deadline.
@Suite(.serialized)
struct DaemonTests {
    static let rgba = TestImages.png(width: 6, height: 5, colourType: 6)
    static let rgb = TestImages.png(width: 6, height: 5, colourType: 2)
    static let mask = TestImages.png(width: 6, height: 5, colourType: 0) { x, _, _ in x < 3 ? 255 : 0 }

    @Test func alphaImageAndPairsInEitherOrderArePublished() throws {
        let h = try DaemonHarness()
        let prometheus = h.root.appendingPathComponent("pixelrnnd.prom")
        try h.writeConfig(["prometheus_textfile": prometheus.path])
        try h.start()
        defer { h.stop() }
        try h.drop("alpha.png", Self.rgba)
        try h.drop("imagefirst.png", Self.rgb)
        usleep(400_000)
        try h.drop("imagefirst.mask.png", Self.mask)
        try h.drop("maskfirst.mask.png", Self.mask)
        usleep(400_000)
        try h.dropAtomically("maskfirst.png", Self.rgb)
        try h.dropAtomically("opts.json", Array(#"{"samples": 3, "seed": 7, "temperature": 0.8}"#.utf8))
        usleep(100_000)
        try h.dropAtomically("opts.png", Self.rgba)
        try h.eventually(30, "four results") { h.names(h.outbox).count == 4 }
        #expect(h.names(h.outbox) == ["alpha", "imagefirst", "maskfirst", "opts"])
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.outbox.appendingPathComponent("alpha")) == ["alpha.png", "completed.png", "report.json"])
        #expect(h.names(h.outbox.appendingPathComponent("imagefirst")) == ["completed.png", "imagefirst.mask.png", "imagefirst.png", "report.json"])
        #expect(h.names(h.outbox.appendingPathComponent("maskfirst")) == ["completed.png", "maskfirst.mask.png", "maskfirst.png", "report.json"])
        #expect(h.names(h.outbox.appendingPathComponent("opts")) == ["completed.png", "opts.json", "opts.png", "report.json"])
        let completed = try Data(contentsOf: h.outbox.appendingPathComponent("imagefirst/completed.png"))
        #expect([UInt8](completed) == Self.rgb)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: h.outbox.appendingPathComponent("opts/report.json"))) as? [String: Any]
        let options = report?["options"] as? [String: Any]
        #expect(options?["samples"] as? Int == 3)
        #expect(options?["seed"] as? Int == 7)
        #expect(report?["occlusion"] as? String == "alpha")
        #expect(h.names(h.inbox).isEmpty)
        // The work folder goes just after the result's rename.
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
        #expect(h.hiddenNames(h.outbox).isEmpty)
        // A second job with a name already in outbox/ gets a suffix; nothing is overwritten.
        try h.dropAtomically("alpha.png", Self.rgba)
        try h.eventually(30, "suffixed result") { h.names(h.outbox).contains("alpha-1") }
        try h.eventually(10, "status counts") { h.jobs()["done"] == 5 }
        try h.eventually(10, "nothing left waiting") { h.jobs()["waiting"] == 0 && h.jobs()["in_flight"] == 0 }
        try h.eventually(10, "prometheus textfile") {
            ((try? String(contentsOf: prometheus, encoding: .utf8)) ?? "").contains("pixelrnnd_jobs_done_total 5")
        }
    }

    @Test func aFileWrittenSlowlyIsNotTakenBeforeItIsClosed() throws {
        let h = try DaemonHarness(settings: ["settle": "0.2", "rescan_interval": "0.2"])
        try h.start()
        defer { h.stop() }
        let bytes = Self.rgba
        let path = h.inbox.appendingPathComponent("slow.png").path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        let chunks = 4
        let size = (bytes.count + chunks - 1) / chunks
        for i in 0..<chunks {
            let part = Array(bytes[(i * size) ..< min(bytes.count, (i + 1) * size)])
            #expect(write(fd, part, part.count) == part.count)
            // Longer than `settle` and than the rescan interval: only the write lease check
            // keeps the daemon from taking the open file.
            usleep(700_000)
            #expect(FileManager.default.fileExists(atPath: path), "taken while still open (chunk \(i))")
            #expect(h.names(h.work).isEmpty && h.names(h.outbox).isEmpty && h.names(h.failed).isEmpty)
        }
        close(fd)
        try h.eventually(30, "slow.png published") { h.names(h.outbox) == ["slow"] }
        #expect(h.names(h.failed).isEmpty)
    }

    /// A job that is publishing (here held between its `.done` marker and the rename) has
    /// given its worker to the next job: with one worker, two results wait for their
    /// renames at once, and both are published.
    @Test func aJobThatIsPublishingLetsTheNextOneStart() throws {
        let h = try DaemonHarness(settings: ["workers": "1"])
        try h.start(["--debug-publish-pause-ms", "3000"])
        defer { h.stop() }
        for name in ["first.png", "second.png"] { try h.drop(name, Self.rgba) }
        try h.eventually(20, "both results complete, neither renamed yet") {
            let folders = (try? FileManager.default.contentsOfDirectory(atPath: h.work.path)) ?? []
            let done = folders.filter {
                FileManager.default.fileExists(atPath: h.work.appendingPathComponent($0).appendingPathComponent(".done").path)
            }
            return done.count == 2 && h.names(h.outbox).isEmpty
        }
        try h.eventually(20, "both published") { h.names(h.outbox) == ["first", "second"] }
        #expect(h.names(h.failed).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func fiveHundredFilesAreEachProcessedOnceWithStatusAlwaysValid() throws {
        let h = try DaemonHarness(settings: ["workers": "2", "queue_capacity": "8"])
        try h.start()
        defer { h.stop() }
        let count = 500
        // The status file is replaced atomically: every read must parse. A reader of its own
        // reads it from before the first drop until the last result, however fast the
        // daemon goes, and counts the reads that saw jobs still to do.
        let reader = StatusReader(h.state.appendingPathComponent("status.json"), until: count)
        reader.start()
        defer { reader.stop() }
        for i in 0..<count { try h.drop(String(format: "job%03d.png", i), Self.rgba) }
        try h.eventually(90, "\(count) results") { h.names(h.outbox).count >= count }
        try h.eventually(10, "status done count") { h.jobs()["done"] == count }
        let (reads, torn) = reader.stop()
        #expect(torn == 0, "torn status.json in \(torn) of \(reads) reads taken while jobs were left")
        #expect(reads > 5, "status.json was read \(reads) times while jobs were left")
        let expected = (0..<count).map { String(format: "job%03d", $0) }
        #expect(h.names(h.outbox) == expected)
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.inbox).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
        let status = try h.status()
        let latency = status["latency_seconds"] as? [String: Any]
        #expect((latency?["p95"] as? Double ?? -1) >= (latency?["p50"] as? Double ?? 0))
        #expect((status["throughput_jobs_per_second"] as? Double ?? 0) > 0)
    }

    @Test func killNineWhileJobsAreInFlightLosesAndDuplicatesNothing() throws {
        let h = try DaemonHarness(settings: ["workers": "2"])
        let count = 24
        try h.start(["--debug-job-delay-ms", "150"])
        defer { h.stop() }
        for i in 0..<count { try h.drop("k\(i).png", i % 3 == 0 ? Self.rgb : Self.rgba) }
        for i in stride(from: 0, to: count, by: 3) { try h.drop("k\(i).mask.png", Self.mask) }
        try h.eventually(30, "some jobs done") { h.names(h.outbox).count >= 3 }
        h.stop()  // SIGKILL, mid-flight
        #expect(!h.names(h.work).isEmpty, "nothing was in flight at the kill")
        try h.start(["--debug-job-delay-ms", "100"])
        try h.eventually(20, "more jobs done") { h.names(h.outbox).count >= 10 }
        h.stop()  // and once more
        try h.start()
        try h.eventually(60, "all jobs finished") { h.names(h.outbox).count + h.names(h.failed).count >= count }
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty && h.hiddenNames(h.outbox).isEmpty }
        #expect(h.names(h.outbox) == (0..<count).map { "k\($0)" }.sorted())
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.inbox).isEmpty)
        for i in stride(from: 0, to: count, by: 3) {
            #expect(h.names(h.outbox.appendingPathComponent("k\(i)")).contains("k\(i).mask.png"))
        }
    }

    @Test func aJobThatNeverFinishesFailsAfterMaxAttempts() throws {
        let h = try DaemonHarness(settings: ["max_attempts": "2"])
        try FileManager.default.createDirectory(at: h.inbox, withIntermediateDirectories: true)
        try h.drop("poison.png", Self.rgba)
        for attempt in 1...2 {
            try h.start(["--debug-job-delay-ms", "60000"])
            try h.eventually(20, "attempt \(attempt) in flight") { h.jobs()["in_flight"] == 1 }
            h.stop()  // SIGKILL: the job "killed the daemon"
        }
        try h.start()
        defer { h.stop() }
        try h.eventually(20, "poison job failed") { h.names(h.failed) == ["poison"] }
        #expect(try h.errorReason("poison").contains("tried 2 times"))
        #expect(h.names(h.failed.appendingPathComponent("poison")) == ["error.json", "poison.png"])
        #expect(h.names(h.outbox).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func badInputsFailWithClearReasonsAndTheDaemonKeepsServing() throws {
        let h = try DaemonHarness(settings: ["max_width": "1000", "max_height": "1000", "max_pixels": "100000"])
        try h.start()
        defer { h.stop() }
        try h.drop("corrupt.png", Array(Self.rgba.prefix(40)) + [1, 2, 3, 4, 5, 6, 7, 8])
        try h.drop("photo.jpg", TestImages.jpegHeader(width: 6, height: 5))
        try h.drop("wrongsize.png", Self.rgb)
        try h.drop("wrongsize.mask.png", TestImages.png(width: 3, height: 3, colourType: 0))
        try h.drop("text.png", Array("this is not an image\n".utf8))
        try h.drop("huge.png", TestImages.hugeHeaderPNG(width: 100_000, height: 100_000))
        try h.drop("notes.txt", Array("hello".utf8))
        try h.drop("badopts.json", Array(#"{"samples": "many"}"#.utf8))
        try h.drop("badopts.png", Self.rgba)
        try FileManager.default.createDirectory(at: h.inbox.appendingPathComponent("folder.png"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: h.inbox.appendingPathComponent("link.png").path, withDestinationPath: "/etc/passwd")
        #expect(mkfifo(h.inbox.appendingPathComponent("evil.png").path, 0o644) == 0)
        try h.drop("zero.png", [])
        let expected: [String: String] = [
            "corrupt": "corrupt PNG",
            "photo": "no mask",
            "wrongsize": "mask is 3×3 but the image is 6×5",
            "text": "expected PNG or JPEG",
            "huge": "100000×100000",
            "notes": "not a job input name",
            "badopts": "samples",
            "folder": "is a directory",
            "link": "is a symbolic link",
            "evil": "is a FIFO",
            "zero": "empty input",
        ]
        try h.eventually(40, "all bad inputs failed") { h.names(h.failed).count >= expected.count }
        #expect(h.names(h.failed) == expected.keys.sorted())
        for (name, phrase) in expected {
            let reason = try h.errorReason(name)
            #expect(reason.contains(phrase), "\(name): \(reason)")
        }
        // Inputs are kept, untouched; links and folders are moved, never followed.
        #expect(h.names(h.failed.appendingPathComponent("wrongsize")) == ["error.json", "wrongsize.mask.png", "wrongsize.png"])
        // One rule for every name: failed/NAME/, the entry's name without its extension.
        #expect(h.names(h.failed.appendingPathComponent("notes")) == ["error.json", "notes.txt"])
        #expect(h.names(h.failed.appendingPathComponent("evil")) == ["error.json", "evil.png"])
        #expect(h.names(h.failed.appendingPathComponent("zero")) == ["error.json", "zero.png"])
        let link = h.failed.appendingPathComponent("link/link.png").path
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "/etc/passwd")
        #expect(h.names(h.outbox).isEmpty)
        try h.drop("good.png", Self.rgba)
        try h.eventually(20, "good job published") { h.names(h.outbox) == ["good"] }
        let status = try h.status()
        #expect(status["state"] as? String == "ready")
        #expect((status["last_error"] as? [String: Any])?["message"] != nil)
        try h.eventually(10, "status failed count") { h.jobs()["failed"] == expected.count }
    }

    @Test func sighupReloadsAGoodModelAndKeepsTheOldOneOnACorruptModel() throws {
        let h = try DaemonHarness()
        let model = h.root.appendingPathComponent("model.safetensors")
        try Data(TestImages.safetensors()).write(to: model)
        try h.writeConfig(["model": model.path, "model_name": "first"])
        try h.start()
        defer { h.stop() }
        func modelName() -> String? { ((try? h.status())?["model"] as? [String: Any])?["name"] as? String }
        #expect(modelName() == "first")
        try h.writeConfig(["model": model.path, "model_name": "second"])
        h.signal(SIGHUP)
        try h.eventually(20, "reloaded model") { modelName() == "second" }
        let corrupt = h.root.appendingPathComponent("corrupt.safetensors")
        try Data(Array("definitely not a model".utf8)).write(to: corrupt)
        try h.writeConfig(["model": corrupt.path, "model_name": "third"])
        h.signal(SIGHUP)
        try h.eventually(20, "reload failure reported") {
            ((try? h.status())?["last_error"] as? [String: Any])?["message"] as? String ?? "" != ""
        }
        let message = ((try h.status())["last_error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("safetensors"), "\(message)")
        try h.eventually(10, "ready again") { (try? h.status())?["state"] as? String == "ready" }
        #expect(modelName() == "second")
        #expect(h.log.contains("reload failed"))
        try h.drop("after.png", Self.rgba)
        try h.eventually(20, "still serving") { h.names(h.outbox) == ["after"] }
    }

    @Test func sigtermFinishesInFlightJobsReturnsTheRestAndExitsZero() throws {
        let h = try DaemonHarness(settings: ["workers": "1", "drain_timeout": "20"])
        try h.start(["--debug-job-delay-ms", "1500"])
        defer { h.stop() }
        for name in ["d1", "d2", "d3"] { try h.drop("\(name).png", Self.rgba) }
        try h.eventually(20, "one job in flight") { h.jobs()["in_flight"] == 1 }
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 30) == 0)
        #expect(h.names(h.outbox).count == 1)
        #expect(h.names(h.inbox).count == 2)
        #expect(h.names(h.work).isEmpty)
        #expect(try h.status()["state"] as? String == "stopped")
        // Restarted, the daemon takes the returned jobs.
        try h.start()
        try h.eventually(30, "returned jobs done") { h.names(h.outbox) == ["d1", "d2", "d3"] }
    }

    @Test func sigtermPastTheDrainTimeoutReturnsTheInFlightJob() throws {
        let h = try DaemonHarness(settings: ["workers": "1", "drain_timeout": "0.3"])
        try h.start(["--debug-job-delay-ms", "4000"])
        defer { h.stop() }
        try h.drop("slowjob.png", Self.rgba)
        try h.eventually(20, "job in flight") { h.jobs()["in_flight"] == 1 }
        let sent = Date()
        h.signal(SIGINT)
        #expect(try h.waitForExit(timeout: 20) == 0)
        #expect(Date().timeIntervalSince(sent) < 3.5, "did not honour the drain timeout")
        #expect(h.names(h.inbox) == ["slowjob.png"])
        #expect(h.names(h.outbox).isEmpty && h.names(h.work).isEmpty)
    }

    /// Two jobs returned by the drain timeout: their runs end after the drain, and the
    /// lease the drain wrote ("stopped") is what stays.
    @Test func aDrainThatReturnsTwoJobsLeavesTheLeaseStopped() throws {
        let h = try DaemonHarness(settings: ["workers": "2", "drain_timeout": "0.3"])
        try h.start(["--debug-job-delay-ms", "4000"])
        defer { h.stop() }
        for name in ["slow1.png", "slow2.png"] { try h.drop(name, Self.rgba) }
        try h.eventually(20, "both in flight") { h.jobs()["in_flight"] == 2 }
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 20) == 0)
        #expect(h.names(h.inbox) == ["slow1.png", "slow2.png"])
        let leases = h.spool.appendingPathComponent("leases")
        let files = try FileManager.default.contentsOfDirectory(atPath: leases.path)
        #expect(files.count == 1)
        let text = try String(contentsOf: leases.appendingPathComponent(files[0]), encoding: .utf8)
        #expect(text.contains("state=stopped"), "\(text)")
    }

    @Test func badConfigurationIsAClearError() throws {
        let h = try DaemonHarness(settings: ["colour": "blue"])
        try h.start(waitForReady: false)
        #expect(try h.waitForExit(timeout: 20) != 0)
        #expect(h.log.contains("unknown key 'colour'"))
        try h.writeConfig(["workers": "many"])
        try h.start(waitForReady: false)
        #expect(try h.waitForExit(timeout: 20) != 0)
        #expect(h.log.contains("workers = 'many'"))
    }

    @Test func systemdNotificationsFollowTheLifeCycle() throws {
        let h = try DaemonHarness()
        let listener = try NotifyListener(path: h.root.appendingPathComponent("notify.sock").path)
        h.environment = ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000"]
        try h.start()
        defer { h.stop() }
        try h.eventually(20, "READY=1") { listener.receive(); return listener.messages.contains("READY=1") }
        #expect(listener.messages.contains { $0.hasPrefix("STATUS=ready") })
        try h.eventually(20, "WATCHDOG=1") { listener.receive(); return listener.messages.contains("WATCHDOG=1") }
        h.signal(SIGHUP)
        try h.eventually(20, "RELOADING=1 then READY=1") {
            listener.receive()
            guard let reloading = listener.messages.lastIndex(of: "RELOADING=1") else { return false }
            return listener.messages[reloading...].contains("READY=1")
        }
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 20) == 0)
        listener.receive()
        #expect(listener.messages.contains("STOPPING=1"))
    }

    @Test func aSlowReloadKeepsTheWatchdogAndJobsGoingAndASigtermStillDrains() throws {
        let h = try DaemonHarness()
        let listener = try NotifyListener(path: h.root.appendingPathComponent("notify.sock").path)
        h.environment = ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000"]
        try h.start(["--debug-reload-delay-ms", "3000", "--debug-job-delay-ms", "1000"])
        defer { h.stop() }
        // Read the notifications while polling: a full socket queue would block the daemon's sends.
        func state() -> String? {
            listener.receive()
            return (try? h.status())?["state"] as? String
        }
        func reloads() -> Int {
            listener.receive()
            return h.log.components(separatedBy: "msg=reloaded").count - 1
        }
        try h.drop("during.png", Self.rgba)
        try h.eventually(20, "job in flight") { listener.receive(); return h.jobs()["in_flight"] == 1 }
        h.signal(SIGHUP)
        try h.eventually(10, "reloading") { state() == "reloading" }
        listener.receive()
        let start = listener.messages.count
        // A second SIGHUP during the load is served once it is over.
        h.signal(SIGHUP)
        // While the model loads, the job in flight is published and the watchdog is pinged.
        try h.eventually(10, "job published during the reload") { listener.receive(); return h.names(h.outbox) == ["during"] }
        for _ in 0..<10 {
            usleep(100_000)
            listener.receive()
        }
        let pings = listener.messages[start...].filter { $0 == "WATCHDOG=1" }.count
        #expect(pings >= 3, "\(listener.messages[start...])")
        try h.eventually(20, "two reloads") { reloads() == 2 }
        try h.eventually(10, "ready again") { state() == "ready" }
        // A SIGTERM during a load drains at once; the load's result is not used.
        h.signal(SIGHUP)
        try h.eventually(10, "reloading again") { state() == "reloading" }
        let sent = Date()
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 20) == 0)
        #expect(Date().timeIntervalSince(sent) < 2.5, "the drain waited for the load")
        #expect(state() == "stopped")
        #expect(reloads() == 2)
    }

    @Test(.enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func systemdUnitVerifiesCleanly() throws {
        let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/pixelrnnd.service")
        let text = try String(contentsOf: unit, encoding: .utf8)
        #expect(text.contains("Type=notify"))
        #expect(text.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        let directory = try TemporaryDirectory(prefix: "pixelrnnd-unit")
        // Point ExecStart at a binary that exists here (the real one installs to /usr/bin).
        let copy = directory.url.appendingPathComponent("pixelrnnd.service")
        let patched = text.replacingOccurrences(of: "/usr/bin/pixelrnnd", with: DaemonHarness.binary.path)
        try patched.write(to: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = ["verify", "--man=no", copy.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(stderr.isEmpty, "systemd-analyze verify: \(stderr)")
    }
}

/// Reads a daemon's status.json in a loop on a thread of its own, counting the reads taken
/// while its `done` count was below a target and the reads that did not parse.
private final class StatusReader: @unchecked Sendable {
    private let url: URL
    private let target: Int
    private let lock = NSLock()
    private var running = true
    private var reads = 0
    private var torn = 0
    private let finished = DispatchSemaphore(value: 0)

    init(_ url: URL, until target: Int) {
        self.url = url
        self.target = target
    }

    func start() {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                if let data = try? Data(contentsOf: url) {
                    let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
                    let done = (object?["jobs"] as? [String: Any])?["done"] as? Int ?? 0
                    lock.withLock {
                        if object == nil { torn += 1 }
                        if object == nil || done < target { reads += 1 }
                    }
                }
                usleep(2_000)
            }
            finished.signal()
        }
    }

    /// Stops the loop and returns the reads taken while jobs were left, and the torn ones.
    /// Stopping twice is harmless.
    @discardableResult
    func stop() -> (reads: Int, torn: Int) {
        let wasRunning = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        if wasRunning { finished.wait() }
        return lock.withLock { (reads, torn) }
    }
}
