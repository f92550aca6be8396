import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults injected into the daemon's file layer (`PIXELRNND_FAULTS`): each leaves the job
/// safe in work/ (retried, with bounded attempts) or in failed/ with its inputs, the
/// status file reports the error, and nothing is lost.
@Suite(.serialized)
struct FaultInjectionTests {
    static let rgba = TestImages.png(width: 6, height: 5, colourType: 6)

    func lastError(_ h: DaemonHarness) -> String {
        (((try? h.status())?["last_error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    @Test func publishingRenameFailsTwiceThenTheJobIsPublished() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "renameat2:EIO:2:outbox"
        try h.start()
        defer { h.stop() }
        try h.drop("flaky.png", Self.rgba)
        try h.eventually(30, "published after retries") { h.names(h.outbox) == ["flaky"] }
        #expect(h.names(h.failed).isEmpty)
        #expect(lastError(h).contains("Input/output error") || lastError(h).contains("EIO") || lastError(h).contains("errno 5"),
                "\(lastError(h))")
        #expect(h.log.contains("transient failure"))
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func diskFullOnEveryFsyncKeepsTheJobInWorkUntilTheDiskRecovers() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "fsync:ENOSPC:*:/spool/"
        try h.start()
        try h.drop("full.png", Self.rgba)
        try h.eventually(30, "error reported") { lastError(h).contains("No space left") }
        // Retried up to max_attempts; neither outbox nor failed can be written, so the job
        // and its input stay in work/.
        try h.eventually(40, "given up for this run") { h.log.contains("cannot publish failure") }
        #expect(h.names(h.outbox).isEmpty)
        #expect(h.names(h.failed).isEmpty)
        let tokens = h.names(h.work)
        #expect(tokens.count == 1)
        #expect(tokens.first.map { h.names(h.work.appendingPathComponent($0)) } == ["full.png"])
        h.stop()
        // The disk recovers: at the next start the job ends in failed/ (attempts used up),
        // with its input and the reason; nothing is lost or duplicated.
        h.environment["PIXELRNND_FAULTS"] = nil
        try h.start()
        defer { h.stop() }
        do {
            try h.eventually(30, "job settled") { h.names(h.failed) == ["full"] }
        } catch {
            try? h.log.write(toFile: "/tmp/ft-log.txt", atomically: true, encoding: .utf8)
            throw error
        }
        #expect(h.names(h.failed.appendingPathComponent("full")).contains("full.png"))
        #expect(h.names(h.outbox).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func readOnlyOutboxSendsTheJobToFailedWithItsInputAfterBoundedAttempts() throws {
        let h = try DaemonHarness()
        h.environment["PIXELRNND_FAULTS"] = "mkdir:EROFS:*:outbox/.tmp-"
        try h.start()
        defer { h.stop() }
        try h.drop("readonly.png", Self.rgba)
        try h.eventually(40, "failed after bounded attempts") { h.names(h.failed) == ["readonly"] }
        let reason = try h.errorReason("readonly")
        #expect(reason.contains("gave up after 3 attempts"), "\(reason)")
        #expect(reason.contains("Read-only file system"), "\(reason)")
        #expect(h.names(h.failed.appendingPathComponent("readonly")).contains("readonly.png"))
        #expect(h.names(h.outbox).isEmpty)
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
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.inbox).isEmpty)
    }
}
