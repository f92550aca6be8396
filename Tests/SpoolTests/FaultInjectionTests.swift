import Foundation
import Imaging
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults injected into the daemon's file layer (`PIXELRNND_FAULTS`): each leaves the job
/// safe in work/ (retried, with bounded attempts) or in failed/ with its inputs, the
/// status file reports the error, and nothing is lost. Every test checks from the log
/// that its fault really fired (the daemon logs `msg="injected fault" call=… errno=…`
/// for each one), so that none passes by never meeting its fault.
@Suite(.serialized)
struct FaultInjectionTests {
    static let rgba = TestImages.png(width: 6, height: 5, colourType: 6)

    func lastError(_ h: DaemonHarness) -> String {
        (((try? h.status())?["last_error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    /// The log lines of injected faults of `call` failing with `errno`.
    func injected(_ h: DaemonHarness, call: String, errno: String) -> [Substring] {
        h.log.split(separator: "\n").filter {
            $0.contains("msg=\"injected fault\"") && $0.contains(" call=\(call) ") && $0.contains(" errno=\(errno) ")
        }
    }

    func errorDocument(_ h: DaemonHarness, _ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: h.failed.appendingPathComponent(name).appendingPathComponent("error.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func publishingRenameFailsTwiceThenTheJobIsPublished() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "renameat2:EIO:2:outbox"
        try h.start()
        defer { h.stop() }
        try h.drop("flaky.png", Self.rgba)
        try h.eventually(30, "published after retries") { h.names(h.outbox) == ["flaky"] }
        // Exactly the two injected failures, each followed by a retry.
        let faults = injected(h, call: "renameat2", errno: "EIO")
        #expect(faults.count == 2, "\(h.log)")
        #expect(faults.allSatisfy { $0.contains("outbox") })
        #expect(h.log.split(separator: "\n").filter { $0.contains("transient failure") }.count == 2)
        #expect(h.names(h.failed).isEmpty)
        #expect(lastError(h).contains("Input/output error"), "\(lastError(h))")
        #expect(h.names(h.outbox.appendingPathComponent("flaky")) == ["completed.png", "flaky.png", "report.json"])
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
        try h.eventually(10, "status counts") { h.jobs()["done"] == 1 && h.jobs()["failed"] == 0 }
    }

    @Test func diskFullOnEveryFsyncKeepsTheJobWaitingInWorkWithoutAttemptsUntilTheDiskRecovers() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "fsync:ENOSPC:*:/spool/"
        try h.start()
        try h.drop("full.png", Self.rgba)
        // Neither outbox/ nor failed/ can be written: the job waits in work/ with backoff,
        // tried again and again, and the status says so and why.
        try h.eventually(30, "several transient failures") {
            h.log.split(separator: "\n").filter { $0.contains("transient failure") }.count >= 4
        }
        try h.eventually(10, "status counts the job waiting on the disk") {
            let disk = (try? h.status())?["disk"] as? [String: Any]
            let waiting = disk?["waiting_jobs"] as? [[String: Any]] ?? []
            return h.jobs()["waiting_on_disk"] == 1 && h.jobs()["waiting"] == 1 && h.jobs()["in_flight"] == 0
                && waiting.first?["name"] as? String == "full"
                && (waiting.first?["error"] as? String ?? "").contains("No space left")
                && (waiting.first?["failures"] as? Int ?? 0) >= 2
                && disk?["claiming"] as? String == "paused"
                && (disk?["paused_because"] as? String ?? "").contains("no space")
        }
        #expect(injected(h, call: "fsync", errno: "ENOSPC").count >= 4)
        #expect(lastError(h).contains("No space left"), "\(lastError(h))")
        #expect(h.log.contains("retry_in="))
        #expect(h.names(h.outbox).isEmpty)
        #expect(h.names(h.failed).isEmpty)
        // No temporary result is left behind, and no attempt was charged.
        #expect(h.hiddenNames(h.outbox).isEmpty && h.hiddenNames(h.failed).isEmpty)
        let tokens = h.names(h.work)
        #expect(tokens.count == 1)
        let folder = h.work.appendingPathComponent(tokens.first ?? "")
        #expect(h.names(folder) == ["full.png"])
        let dotFiles = h.hiddenNames(folder)
        #expect(!dotFiles.contains(".attempts") && !dotFiles.contains { $0.hasSuffix(".tmp") }, "\(dotFiles)")
        #expect(dotFiles.contains { $0.hasPrefix(".transient-since.") }, "\(dotFiles)")
        // A drain leaves it in work/; the last status still counts it.
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 20) == 0)
        #expect(h.names(h.work) == tokens)
        #expect(h.jobs()["waiting"] == 1 && h.jobs()["waiting_on_disk"] == 1)
        // The disk recovers: at the next start the job is simply published (transient
        // errors were never attempts); nothing is lost or duplicated.
        let firstRun = h.log.count
        h.environment["PIXELRNND_FAULTS"] = nil
        try h.start()
        defer { h.stop() }
        try h.eventually(30, "job published") { h.names(h.outbox) == ["full"] }
        #expect(!h.log.dropFirst(firstRun).contains("injected fault"))
        #expect(h.names(h.outbox.appendingPathComponent("full")) == ["completed.png", "full.png", "report.json"])
        #expect(h.names(h.failed).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty && h.hiddenNames(h.work).isEmpty }
        try h.eventually(10, "status clear") { h.jobs()["waiting_on_disk"] == 0 && h.jobs()["waiting"] == 0 }
    }

    @Test func aReadOnlyOutboxPastTransientGiveUpSendsTheJobToFailedWithItsInput() throws {
        let h = try DaemonHarness(settings: ["transient_give_up": "1"])
        // The result folder (work/TOKEN@RUN/.result, renamed to outbox/NAME) cannot be made.
        h.environment["PIXELRNND_FAULTS"] = "mkdir:EROFS:*:/.result"
        try h.start()
        defer { h.stop() }
        try h.drop("readonly.png", Self.rgba)
        try h.eventually(40, "failed after transient_give_up") { h.names(h.failed) == ["readonly"] }
        // One refused mkdir per try, several tries (backoff 0.1 s doubling to 1 s), none of
        // them an attempt.
        let tries = injected(h, call: "mkdir", errno: "EROFS").count
        #expect(tries >= 3, "\(h.log)")
        let error = try errorDocument(h, "readonly")
        let reason = error["reason"] as? String ?? ""
        #expect(error["stage"] as? String == "output")
        #expect(error["attempts"] as? Int == 0)
        #expect(error["transient_failures"] as? Int == tries)
        #expect(error["transient_since"] is String)
        #expect(reason.contains("of transient errors (transient_give_up = 1 s)"), "\(reason)")
        #expect(reason.contains("Read-only file system"), "\(reason)")
        #expect(h.names(h.failed.appendingPathComponent("readonly")) == ["error.json", "readonly.png"])
        #expect(h.names(h.outbox).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty && h.hiddenNames(h.work).isEmpty }
        #expect(h.hiddenNames(h.outbox).isEmpty && h.hiddenNames(h.failed).isEmpty)
    }

    @Test func aFileThatVanishesBetweenEventAndClaimIsTakenByTheNextScan() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "rename:ENOENT:1:inbox"
        try h.start()
        defer { h.stop() }
        try h.drop("vanishing.png", Self.rgba)
        // The claim's rename finds nothing (as if another daemon took the file): the job is
        // left alone, not failed; the file is really still there, so a later scan takes it.
        try h.eventually(30, "published by a later scan") { h.names(h.outbox) == ["vanishing"] }
        let faults = injected(h, call: "rename", errno: "ENOENT")
        #expect(faults.count == 1, "\(h.log)")
        #expect(faults.first?.contains("inbox/vanishing.png") == true)
        #expect(!h.log.contains("claim failed"))
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.inbox).isEmpty)
    }

    @Test func withoutRenameNoReplaceTheDaemonWarnsOnceAndStillNeverOverwrites() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "renameat2:ENOSYS:*"
        try h.start()
        defer { h.stop() }
        try h.drop("same.png", Self.rgba)
        try h.eventually(30, "first result") { h.names(h.outbox) == ["same"] }
        try h.drop("same.png", Self.rgba)
        try h.eventually(30, "second result beside the first") { h.names(h.outbox) == ["same", "same-1"] }
        // One publication, then two for the second job: the name taken, then the suffix.
        #expect(injected(h, call: "renameat2", errno: "ENOSYS").count == 3, "\(h.log)")
        let warnings = h.log.split(separator: "\n").filter { $0.contains("renaming without RENAME_NOREPLACE") }
        #expect(warnings.count == 1, "\(h.log)")
        #expect(warnings.first?.contains("level=warning") == true)
        #expect(warnings.first?.contains("errno 38") == true, "the reason names ENOSYS")
        #expect(h.names(h.failed).isEmpty)
    }

    // MARK: - The `pixelrnn` processor's own reads and writes (Imaging, Completion)

    /// A daemon with the `pixelrnn` processor on a tiny random model, the faults armed,
    /// and a gray picture with alpha (its lower half occluded) dropped as `NAME.png`.
    func startCompletion(faults: String, dropping name: String) throws -> DaemonHarness {
        let h = try DaemonHarness()
        h.processor = "pixelrnn"
        let model = h.root.appendingPathComponent("tiny.safetensors")
        try CompletionDaemonTests.writeModel(to: model)
        try h.writeConfig(["model": model.path])
        h.environment["PIXELRNND_FAULTS"] = faults
        try h.start()
        let image = CompletionDaemonTests.image(width: 12, height: 10, channels: 1, alpha: true)
        try h.dropAtomically("\(name).png", try image.encodePNG())
        return h
    }

    @Test func diskFullWritingCompletedPNGTwiceIsRetriedThenPublished() throws {
        let h = try startCompletion(faults: "write:ENOSPC:2:completed.png", dropping: "full")
        defer { h.stop() }
        try h.eventually(60, "published after retries") { h.names(h.outbox) == ["full"] }
        let faults = injected(h, call: "write", errno: "ENOSPC")
        #expect(faults.count == 2, "\(h.log)")
        #expect(faults.allSatisfy { $0.contains("/completed.png") })
        #expect(h.log.split(separator: "\n").filter { $0.contains("transient failure") }.count == 2)
        #expect(lastError(h).contains("No space left on device"), "\(lastError(h))")
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.outbox.appendingPathComponent("full")) == ["completed.png", "full.png", "preview.png", "report.json"])
        let completed = try Image.decode(contentsOf: h.outbox.appendingPathComponent("full/completed.png").path)
        #expect(completed.width == 12 && completed.height == 10)
        try h.eventually(10, "status counts") { h.jobs()["done"] == 1 && h.jobs()["failed"] == 0 }
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func anIOErrorReadingTheInputIsRetriedNotBlamedOnTheInput() throws {
        let h = try startCompletion(faults: "read:EIO:1:/spool/work/", dropping: "flaky")
        defer { h.stop() }
        try h.eventually(60, "published after a retry") { h.names(h.outbox) == ["flaky"] }
        let faults = injected(h, call: "read", errno: "EIO")
        #expect(faults.count == 1, "\(h.log)")
        #expect(faults.first?.contains("/flaky.png") == true)
        #expect(h.log.split(separator: "\n").filter { $0.contains("transient failure") }.count == 1)
        #expect(h.names(h.failed).isEmpty)
    }

    @Test func aPermanentErrorWritingTheResultsFailsTheJobWithoutRetrying() throws {
        let h = try startCompletion(faults: "open:EACCES:*:completed.png", dropping: "denied")
        defer { h.stop() }
        try h.eventually(60, "failed at once") { h.names(h.failed) == ["denied"] }
        #expect(injected(h, call: "open", errno: "EACCES").count == 1, "\(h.log)")
        #expect(!h.log.contains("transient failure"))
        let error = try errorDocument(h, "denied")
        #expect(error["attempts"] as? Int == 1)
        #expect((error["reason"] as? String ?? "").contains("Permission denied"), "\(error)")
        #expect(h.names(h.failed.appendingPathComponent("denied")) == ["denied.png", "error.json"])
        #expect(h.names(h.outbox).isEmpty)
    }

    @Test(arguments: [
        ("fsync:ENOSPC", "3 required fields"),
        ("fsnyc:ENOSPC:1", "'fsnyc' is not a call"),
        ("fsync:ENOSPACE:1", "'ENOSPACE' is not an errno"),
        ("fsync:ENOSPC:-1", "count '-1'"),
        ("fsync:ENOSPC:1,", "rule 2 ''"),
    ])
    func aMalformedRuleStopsTheDaemonAtStart(rules: String, phrase: String) throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = rules
        try h.start(waitForReady: false)
        #expect(try h.waitForExit(timeout: 20) != 0)
        #expect(h.log.contains("PIXELRNND_FAULTS"), "\(h.log)")
        #expect(h.log.contains(phrase), "\(h.log)")
        #expect(!FileManager.default.fileExists(atPath: h.state.appendingPathComponent("status.json").path))
    }
}
