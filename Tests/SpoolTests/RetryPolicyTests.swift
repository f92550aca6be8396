import Foundation
import Logging
import SystemPackage
import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// The one rule for transient errors and attempts, as pure values (`RetryPolicy`,
/// `RetryState`, `CrashAttribution`), and the naming rules of `failed/` and input copies.
struct RetryPolicyTests {
    @Test func backoffDoublesFromOneSecondToAFiveMinuteCap() {
        let policy = RetryPolicy()
        let delays = (1...12).map { policy.delay(afterFailures: $0) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300])
        #expect(policy.delay(afterFailures: 10_000) == 300)
        #expect(policy.giveUpAfter == 86_400)
        let configured = DaemonConfiguration().retryPolicy
        #expect(configured == policy, "the configuration's defaults are the product's schedule")
    }

    @Test func aRunOfFailuresSchedulesItsNextTryAndGivesUpAfterTransientGiveUp() {
        let policy = RetryPolicy(initialDelay: 1, maximumDelay: 300, giveUpAfter: 60)
        var state = RetryState(since: 1000)
        #expect(state.isDue(at: 1000, freeBytes: nil), "a recovered job runs at once")
        state.recordFailure("write failed", noSpace: false, freeBytes: nil, at: 1000, policy: policy)
        #expect(state.nextTry == 1001 && state.failures == 1)
        #expect(!state.isDue(at: 1000.5, freeBytes: nil) && state.isDue(at: 1001, freeBytes: nil))
        state.recordFailure("write failed", noSpace: false, freeBytes: nil, at: 1001, policy: policy)
        #expect(state.nextTry == 1003)
        #expect(!state.givesUp(at: 1059.9, policy: policy))
        #expect(state.givesUp(at: 1060, policy: policy), "counted from the first failure, not the last")
    }

    @Test func aNoSpaceFailureIsDueEarlyOnceSpaceIsFreed() {
        var state = RetryState(since: 0)
        state.recordFailure("ENOSPC", noSpace: true, freeBytes: 4096, at: 0, policy: RetryPolicy())
        #expect(!state.isDue(at: 0.5, freeBytes: 4096))
        #expect(!state.isDue(at: 0.5, freeBytes: 4096 + (1 << 20) - 1), "less than the 1 MiB margin")
        #expect(state.isDue(at: 0.5, freeBytes: 4096 + (1 << 20)))
        var other = RetryState(since: 0)
        other.recordFailure("EIO", noSpace: false, freeBytes: 4096, at: 0, policy: RetryPolicy())
        #expect(!other.isDue(at: 0.5, freeBytes: 1 << 30), "only a no-space failure waits for space")
    }

    @Test func aDeathIsChargedOnlyToAJobThatWasAloneInFlight() {
        // Run A died with two jobs in flight, run B with one, run C with one that also
        // carries a stale marker of A.
        let charged = CrashAttribution.charged([
            "t1": ["A"], "t2": ["A"], "t3": ["B"], "t4": [],
        ])
        #expect(charged == ["t3"])
        #expect(CrashAttribution.charged(["t1": ["A", "C"], "t2": ["A"]]) == ["t1"])
        #expect(CrashAttribution.run(ofMarker: ".running.123-ab") == "123-ab")
        #expect(CrashAttribution.run(ofMarker: ".running.") == nil)
        #expect(CrashAttribution.run(ofMarker: ".attempts") == nil)
    }

    @Test func minFreeBytesIsAutoByDefaultAndScalesWithTheFileSystem() throws {
        var c = DaemonConfiguration()
        #expect(c.minFreeBytes == nil)
        #expect(c.minimumFreeBytes(fileSystemSize: 8 << 20).bytes == (8 << 20) / 50)
        #expect(c.minimumFreeBytes(fileSystemSize: 8 << 20).source.hasPrefix("auto: 2%"))
        #expect(c.minimumFreeBytes(fileSystemSize: 1 << 40).bytes == 256 << 20)
        #expect(c.minimumFreeBytes(fileSystemSize: nil).bytes == 256 << 20)
        try c.apply(text: "min_free_bytes = 1000\ntransient_give_up = 5\ntransient_backoff_initial = 0.5\ntransient_backoff_max = 2",
                    origin: "test.conf")
        #expect(c.minimumFreeBytes(fileSystemSize: 8 << 20) == (1000, "configured"))
        #expect(c.retryPolicy == RetryPolicy(initialDelay: 0.5, maximumDelay: 2, giveUpAfter: 5))
        try c.apply(text: "min_free_bytes = auto", origin: "test.conf")
        #expect(c.minFreeBytes == nil)
        #expect(throws: SpoolError.self) { try c.apply(text: "min_free_bytes = some", origin: "test.conf") }
        #expect(throws: SpoolError.self) { try c.apply(text: "transient_give_up = -1", origin: "test.conf") }
    }
}

struct FailedNameTests {
    @Test(arguments: [
        ("photo.png", "photo"), ("photo.mask.png", "photo"), ("photo.json", "photo"), ("notes.txt", "notes"),
        ("README", "README"), ("a.b.c", "a.b"), ("evil.png", "evil"),
    ])
    func everyEntryHasOneJobName(entry: String, job: String) {
        #expect(SpoolNames.jobName(of: entry) == job)
    }

    @Test func aRefusedEntryGoesToFailedUnderItsJobNameLikeAJob() {
        let refused = InboxClaim(job: "evil.png", files: ["evil.png"], failure: nil, kind: .refused)
        let job = InboxClaim(job: "zero", files: ["zero.png"], failure: nil, kind: .job)
        #expect(refused.outputName == "evil")
        #expect(job.outputName == "zero")
        #expect(InboxClaim(job: "new\nline.txt", files: [], failure: nil, kind: .refused).outputName == "new_line")
    }

    @Test func inputCopiesGetSafeNames() {
        #expect(SpoolNames.safeFileName("new\nline.png") == "new_line.png")
        #expect(SpoolNames.safeFileName("tab\there.mask.png") == "tab_here.mask.png")
        #expect(SpoolNames.safeFileName("bell\u{7}\u{85}.json") == "bell__.json")
        #expect(SpoolNames.safeFileName("plain.png") == "plain.png")
        #expect(SpoolNames.safeFileName(String(repeating: "é", count: 120) + ".png").hasSuffix(".png"), "not shortened")
    }

    @Test func originalNamesAreAddedToTheReportWithoutTouchingTheRest() throws {
        let folder = try TemporaryDirectory()
        let report = folder.url.appendingPathComponent("report.json")
        let original = "{\n  \"bits_per_dim\" : 2.8623000000000001,\n  \"model\" : {\n    \"name\" : \"x\"\n  }\n}\n"
        try Data(original.utf8).write(to: report)
        try JobPublisher.addOriginalNames(["new_line.png": "new\nline.png"], toReportIn: FilePath(folder.url.path))
        let text = try String(contentsOf: report, encoding: .utf8)
        #expect(text.hasPrefix("{\n  \"bits_per_dim\" : 2.8623000000000001,\n  \"model\" : {\n    \"name\" : \"x\"\n  }"),
                "the processor's text is kept byte for byte")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["original_input_names"] as? [String: String] == ["new_line.png": "new\nline.png"])
        #expect((object["model"] as? [String: Any])?["name"] as? String == "x")
        // An empty object gets the entry without a comma.
        try FileManager.default.removeItem(at: report)
        try Data("{}".utf8).write(to: report)
        try JobPublisher.addOriginalNames(["a_.png": "a\t.png"], toReportIn: FilePath(folder.url.path))
        let empty = try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any]
        #expect(empty?["original_input_names"] as? [String: String] == ["a_.png": "a\t.png"])
    }
}

/// The inotify thread's one-second wait must not delay an idle daemon's exit. The
/// watcher is process-global (one per process), so this is the only test that makes one.
struct WatcherStopTests {
    @Test func stoppingTheWatcherIsPromptWhileItWaitsForEvents() throws {
        let folder = try TemporaryDirectory()
        let watcher = try InotifyWatcher.initialize()
        try watcher.start(watching: FilePath(folder.url.path), logger: .init(label: "test")) { _ in }
        usleep(300_000)  // well inside its one-second wait
        let started = DispatchTime.now()
        watcher.stop()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        #expect(seconds < 0.2, "stop took \(seconds) s")
    }
}

/// Limits the documentation states, checked against the code.
struct DocumentedLimitsTests {
    @Test func optionsFilesAreCappedAt64KiBAsDocumented() throws {
        let folder = try TemporaryDirectory()
        let file = folder.url.appendingPathComponent("job.json")
        let body = "{\"samples\": 2}"
        let padding = String(repeating: " ", count: 65_536 - body.utf8.count)
        try Data((body + padding).utf8).write(to: file)  // exactly 64 KiB
        #expect(try JobOptions(contentsOf: FilePath(file.path), defaults: DaemonConfiguration()).samples == 2)
        try Data((body + padding + " ").utf8).write(to: file)
        #expect(throws: SpoolError.self) { try JobOptions(contentsOf: FilePath(file.path), defaults: DaemonConfiguration()) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/daemon.md"), encoding: .utf8)
        #expect(docs.contains("`NAME.json` (at most 64 KiB"))
    }
}
