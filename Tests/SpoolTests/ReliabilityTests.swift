import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemon under an unlucky machine and a hostile neighbour: a full disk, a second
/// daemon racing a claim, a crash loop, names with control characters, a drain. The
/// built `pixelrnnd` on real spools; the disk-full test on a real 8 MiB tmpfs where the
/// machine lets us mount one.
@Suite(.serialized)
struct ReliabilityTests {
    static let rgba = TestImages.png(width: 6, height: 5, colourType: 6)

    func lastError(_ h: DaemonHarness) -> String {
        (((try? h.status())?["last_error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    func disk(_ h: DaemonHarness) -> [String: Any] {
        ((try? h.status())?["disk"] as? [String: Any]) ?? [:]
    }

    /// Every hidden name anywhere under the spool's four folders and in the work folders:
    /// temporary files and folders that must not be left behind.
    func leftovers(_ h: DaemonHarness) -> [String] {
        var found: [String] = []
        for folder in [h.inbox, h.outbox, h.failed, h.work] {
            found += h.hiddenNames(folder).map { "\(folder.lastPathComponent)/\($0)" }
        }
        for token in h.names(h.work) {
            found += h.hiddenNames(h.work.appendingPathComponent(token)).filter { $0.hasSuffix(".tmp") }
        }
        return found
    }

    // MARK: - 1. A full disk strands nothing

    /// Mounts an 8 MiB tmpfs on `folder`; `nil` (with the reason) where the machine does not allow it.
    static func mountSmallTmpfs(_ folder: URL) -> String? {
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=8m", "tmpfs", folder.path]
        let output = Pipe()
        mount.standardError = output
        mount.standardOutput = output
        do {
            try mount.run()
        } catch {
            return "cannot run mount: \(error)"
        }
        mount.waitUntilExit()
        if mount.terminationStatus == 0 { return nil }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return "mount -t tmpfs failed (status \(mount.terminationStatus)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))"
    }

    static func unmount(_ folder: URL) {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", folder.path]
        try? umount.run()
        umount.waitUntilExit()
    }

    /// Writes `file` until the file system says ENOSPC.
    static func fill(_ file: URL) -> Int {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var total = 0
        for size in [1 << 16, 4096, 1] {
            let chunk = [UInt8](repeating: 0x55, count: size)
            while true {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, size) }
                if n <= 0 { break }
                total += n
            }
        }
        return total
    }

    @Test func aFullDiskStrandsNothingAndTheDaemonResumesWhenSpaceIsFreed() throws {
        let count = 20
        let h = try DaemonHarness(settings: ["workers": "2", "min_free_bytes": "0", "transient_backoff_initial": "0.2",
                                             "transient_backoff_max": "2", "settle": "0.2"])
        let mountError = ProcessInfo.processInfo.environment["PIXELRNND_TEST_NO_TMPFS"] == nil
            ? Self.mountSmallTmpfs(h.spool) : "PIXELRNND_TEST_NO_TMPFS is set"
        let onTmpfs = mountError == nil
        defer { if onTmpfs { Self.unmount(h.spool) } }
        if let mountError {
            // The same story by fault injection: the first writes of results fail with ENOSPC.
            print("aFullDiskStrandsNothing: no tmpfs (\(mountError)); using PIXELRNND_FAULTS instead")
            h.environment["PIXELRNND_FAULTS"] = "write:ENOSPC:60:/spool/outbox/"
        }
        // The jobs are written first (on the same file system), the disk filled, then the
        // jobs renamed in, as an unlucky operator would.
        let staging = h.spool.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for i in 0..<count { try Data(Self.rgba).write(to: staging.appendingPathComponent(String(format: "j%02d.png", i))) }
        try h.start()
        defer { h.stop() }
        let filler = h.spool.appendingPathComponent("filler")
        if onTmpfs { #expect(Self.fill(filler) > 7 << 20) }
        for i in 0..<count {
            let name = String(format: "j%02d.png", i)
            #expect(rename(staging.appendingPathComponent(name).path, h.inbox.appendingPathComponent(name).path) == 0)
        }
        // Every job waits: none is failed, none charged an attempt, and status.json says
        // how many wait on the disk and why, at every read.
        var reads = 0
        var plateau: (status: [String: Any], claimed: [String])?
        try h.eventually(30, "every claimed job waiting on the disk, claiming paused") {
            let status = try h.status()
            reads += 1
            let jobs = status["jobs"] as? [String: Int] ?? [:]
            let disk = status["disk"] as? [String: Any] ?? [:]
            #expect((jobs["waiting"] ?? 0) + (jobs["in_flight"] ?? 0) + (jobs["done"] ?? 0) <= count)
            let claimed = h.names(h.work)
            guard jobs["waiting_on_disk"] == claimed.count, claimed.count >= 2, jobs["in_flight"] == 0,
                  disk["claiming"] as? String == "paused", jobs["waiting"] == count else { return false }
            plateau = (status, claimed)
            return true
        }
        #expect(h.names(h.failed).isEmpty)
        #expect(h.names(h.outbox).isEmpty)
        let claimed = plateau?.claimed ?? []
        let plateauDisk = plateau?.status["disk"] as? [String: Any] ?? [:]
        let waiting = plateauDisk["waiting_jobs"] as? [[String: Any]] ?? []
        #expect(waiting.count == claimed.count)
        #expect(waiting.allSatisfy { ($0["error"] as? String ?? "").contains("No space left on device") }, "\(waiting)")
        #expect((plateauDisk["paused_because"] as? String ?? "").contains("no space"), "\(plateauDisk)")
        for token in claimed {
            let dotFiles = h.hiddenNames(h.work.appendingPathComponent(token))
            #expect(!dotFiles.contains(".attempts"), "a transient error is not an attempt: \(dotFiles)")
        }
        #expect(leftovers(h).isEmpty, "\(leftovers(h))")
        #expect(h.log.contains("transient failure"))
        // Space is freed: the running daemon resumes (no restart), and everything ends
        // in outbox/ exactly once.
        if onTmpfs { try FileManager.default.removeItem(at: filler) }
        let freed = Date()
        try h.eventually(60, "all published") { h.names(h.outbox).count == count }
        let resumed = Date().timeIntervalSince(freed)
        #expect(h.names(h.outbox) == (0..<count).map { String(format: "j%02d", $0) })
        #expect(h.names(h.failed).isEmpty && h.names(h.inbox).isEmpty)
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
        #expect(leftovers(h).isEmpty, "\(leftovers(h))")
        try h.eventually(10, "status clear") {
            let jobs = h.jobs()
            return jobs["waiting"] == 0 && jobs["waiting_on_disk"] == 0 && jobs["done"] == count && jobs["failed"] == 0
                && disk(h)["claiming"] as? String == "open"
        }
        print("aFullDiskStrandsNothing: \(onTmpfs ? "tmpfs" : "fault injection"), \(reads) status reads, all \(count) published \(String(format: "%.2f", resumed)) s after space was freed")
        if onTmpfs { #expect(resumed < 10, "resumed promptly when space came back, not after a long backoff") }
    }

    @Test func theRunningDaemonRecoversStrandedWorkAndStaleClaimFolders() throws {
        let h = try DaemonHarness(settings: ["min_free_bytes": "auto"])
        try FileManager.default.createDirectory(at: h.work, withIntermediateDirectories: true)
        // Left by a process that died while claiming, long ago, and one claiming now.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = h.work.appendingPathComponent(".claim-old")
        let orphan = h.work.appendingPathComponent(".claim-\(gone.processIdentifier).0-1")
        let young = h.work.appendingPathComponent(".claim-\(getpid()).1-1")
        for folder in [stale, orphan, young] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: stale.path)
        try h.start()
        defer { h.stop() }
        try h.eventually(10, "stale claim folders removed") { h.hiddenNames(h.work) == [young.lastPathComponent] }
        #expect(h.log.split(separator: "\n").filter { $0.contains("removed a claim folder left by a dead process") }.count == 2)
        // min_free_bytes = auto: 2% of the file system, at most 256 MiB, and said so.
        let disk = disk(h)
        let size = disk["size_bytes"] as? Int ?? 0
        #expect(disk["min_free_bytes"] as? Int == min(256 << 20, size / 50))
        #expect((disk["min_free_bytes_source"] as? String ?? "").hasPrefix("auto"), "\(disk)")
        #expect(h.log.contains("msg=\"free space rule\""))
        // A job a dead neighbour left in work/ (no lock, a marker of its run) is taken up
        // by this daemon while it runs.
        let token = h.work.appendingPathComponent("deadbeef-1")
        try FileManager.default.createDirectory(at: token, withIntermediateDirectories: true)
        try Data(Self.rgba).write(to: token.appendingPathComponent("stranded.png"))
        try Data().write(to: token.appendingPathComponent(".running.999999-dead"))
        try h.eventually(10, "stranded job published") { h.names(h.outbox) == ["stranded"] }
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
        #expect(h.log.contains("recovered jobs left in work/"))
        #expect(h.log.contains("charged=true"), "it was the dead run's only job in flight")
        #expect(h.names(h.failed).isEmpty)
    }

    // MARK: - 2. A claim never runs without its lock

    @Test func aClaimWhoseFolderIsLockedElsewhereBacksOffAndNeverRuns() throws {
        let h = try DaemonHarness()
        // The first lock of a claim folder fails as if another process held it (EAGAIN).
        h.environment["PIXELRNND_FAULTS"] = "flock:11:1:work/.claim-"
        try h.start()
        defer { h.stop() }
        try h.drop("locked.png", Self.rgba)
        try h.eventually(20, "published by a later claim") { h.names(h.outbox) == ["locked"] }
        #expect(h.log.split(separator: "\n").filter { $0.contains("msg=\"injected fault\"") && $0.contains("call=flock") }.count == 1)
        #expect(h.log.contains("claim backed off"))
        // The claim that lost its lock moved nothing and ran nothing: one claim, one run.
        #expect(h.log.split(separator: "\n").filter { $0.contains("msg=claimed") }.count == 1, "\(h.log)")
        try h.eventually(10, "one publication logged") { h.log.contains("msg=published") }
        #expect(h.log.split(separator: "\n").filter { $0.contains("msg=published") }.count == 1)
        #expect(h.names(h.failed).isEmpty)
        try h.eventually(10, "nothing left") { h.names(h.work).isEmpty && leftovers(h).isEmpty }
        #expect(lastError(h).isEmpty)
    }

    @Test func aSecondDaemonStartingDuringAClaimNeverTakesTheJobBeingClaimed() throws {
        let b = try DaemonHarness(settings: ["rescan_interval": "0.3"])
        // B pauses 1.5 s between making its claim folder and locking it.
        try b.start(["--debug-claim-pause-ms", "1500", "--debug-job-delay-ms", "300"])
        defer { b.stop() }
        try b.drop("race.png", Self.rgba)
        try b.eventually(10, "B is claiming") { b.hiddenNames(b.work).contains { $0.hasPrefix(".claim-") } }
        // A starts on the same spool now: its start-up recovery and its periodic ones run
        // while B's folder is unlocked.
        let a = try DaemonHarness(sharingSpoolOf: b, settings: ["rescan_interval": "0.3"])
        try a.start()
        defer { a.stop() }
        try b.eventually(20, "published once") { b.names(b.outbox) == ["race"] }
        usleep(1_000_000)  // time for a duplicate to show, were there one
        #expect(b.names(b.outbox) == ["race"])
        #expect(b.names(b.failed).isEmpty && b.names(b.inbox).isEmpty)
        try b.eventually(10, "nothing left") { b.names(b.work).isEmpty && leftovers(b).isEmpty }
        #expect(!a.log.contains("re-queued a job left in work/"), "\(a.log)")
        #expect(lastError(a).isEmpty && lastError(b).isEmpty, "\(lastError(a)) | \(lastError(b))")
        let published = a.log.split(separator: "\n").filter { $0.contains("msg=published") }.count
            + b.log.split(separator: "\n").filter { $0.contains("msg=published") }.count
        #expect(published == 1)
    }

    // MARK: - 3. Status after a drain

    @Test func theLastStatusAfterADrainCountsWhatIsReallyInTheInbox() throws {
        let h = try DaemonHarness(settings: ["workers": "1", "queue_capacity": "8", "drain_timeout": "10"])
        try h.start(["--debug-job-delay-ms", "800"])
        defer { h.stop() }
        for i in 0..<20 { try h.drop(String(format: "d%02d.png", i), Self.rgba) }
        try h.eventually(20, "claimed up to capacity") { h.jobs()["in_flight"] == 1 && h.jobs()["queued"] == 8 }
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 30) == 0)
        let status = try h.status()
        let jobs = status["jobs"] as? [String: Int] ?? [:]
        #expect(status["state"] as? String == "stopped")
        #expect(h.names(h.work).isEmpty)
        #expect(h.names(h.inbox).count == 20 - h.names(h.outbox).count)
        #expect(jobs["waiting"] == h.names(h.inbox).count, "status \(jobs), inbox \(h.names(h.inbox).count)")
        #expect(jobs["queued"] == 0 && jobs["in_flight"] == 0)
    }

    // MARK: - 5. Names with control characters

    @Test func inputCopiesGetSafeNamesAndTheReportKeepsTheOriginals() throws {
        let h = try DaemonHarness()
        try h.start()
        defer { h.stop() }
        try h.drop("new\nline.png", Self.rgba)
        try h.drop("bad\tinput.png", Array("not an image".utf8))
        try h.eventually(20, "both settled") { h.names(h.outbox) == ["new_line"] && h.names(h.failed) == ["bad_input"] }
        #expect(h.names(h.outbox.appendingPathComponent("new_line")) == ["completed.png", "new_line.png", "report.json"])
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: h.outbox.appendingPathComponent("new_line/report.json"))) as? [String: Any]
        #expect(report?["original_input_names"] as? [String: String] == ["new_line.png": "new\nline.png"])
        #expect(report?["name"] as? String == "new\nline", "the processor's own fields are untouched")
        #expect(h.names(h.failed.appendingPathComponent("bad_input")) == ["bad_input.png", "error.json"])
        let error = try JSONSerialization.jsonObject(
            with: Data(contentsOf: h.failed.appendingPathComponent("bad_input/error.json"))) as? [String: Any]
        #expect(error?["inputs"] as? [String] == ["bad\tinput.png"])
        #expect(error?["original_input_names"] as? [String: String] == ["bad_input.png": "bad\tinput.png"])
    }

    // MARK: - 6. A crash loop fails the poison job, not the good ones

    /// Starts the daemon again whenever it has died, until `done` holds.
    func restartWhileDying(_ h: DaemonHarness, arguments: [String], deaths: inout Int, until done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while !done(), Date() < deadline {
            if h.reap() != nil { deaths += 1 }
            if !h.isRunning { try h.start(arguments, waitForReady: false) }
            usleep(50_000)
        }
    }

    @Test func aPoisonJobFailsAfterMaxAttemptsAndTheJobsBesideItDoNot() throws {
        let h = try DaemonHarness(settings: ["workers": "2", "max_attempts": "3"])
        try FileManager.default.createDirectory(at: h.inbox, withIntermediateDirectories: true)
        try h.drop("poison.png", Self.rgba)
        for i in 1...3 { try h.drop("good\(i).png", Self.rgba) }
        var deaths = 0
        try restartWhileDying(h, arguments: ["--debug-crash-on", "poison", "--debug-job-delay-ms", "300"], deaths: &deaths) {
            h.names(h.failed) == ["poison"] && h.names(h.outbox).count == 3
        }
        defer { h.stop() }
        #expect(h.names(h.failed) == ["poison"])
        #expect(h.names(h.outbox) == ["good1", "good2", "good3"])
        let error = try JSONSerialization.jsonObject(
            with: Data(contentsOf: h.failed.appendingPathComponent("poison/error.json"))) as? [String: Any]
        let reason = error?["reason"] as? String ?? ""
        #expect(error?["attempts"] as? Int == 3)
        #expect(reason.contains("tried 3 times"), "\(reason)")
        // The first death had a good job in flight beside the poison: nobody was charged.
        // Then the poison ran alone, died, and was charged each time.
        let recoveries = h.log.split(separator: "\n").filter { $0.contains("runs again alone") }
        #expect(recoveries.contains { $0.contains("job=poison") && $0.contains("charged=false") }, "\(recoveries)")
        #expect(recoveries.filter { $0.contains("job=poison") && $0.contains("charged=true") }.count == 3, "\(recoveries)")
        #expect(!recoveries.contains { $0.contains("job=good") && $0.contains("charged=true") }, "\(recoveries)")
        #expect(deaths == 4, "one beside a good job, three alone")
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    @Test func goodJobsKilledFromOutsideWhileOthersRunAreNeverFailed() throws {
        let count = 10
        let h = try DaemonHarness(settings: ["workers": "2", "max_attempts": "2"])
        try FileManager.default.createDirectory(at: h.inbox, withIntermediateDirectories: true)
        for i in 0..<count { try h.drop(String(format: "g%02d.png", i), Self.rgba) }
        var kills = 0
        for _ in 0..<4 {
            try h.start(["--debug-job-delay-ms", "400"], waitForReady: false)
            // Those found in flight rerun alone first; kill once two run side by side again.
            do {
                try h.eventually(20, "two jobs in flight") {
                    h.isRunning && (try? h.status())?["pid"] as? Int == h.pid && h.jobs()["in_flight"] == 2
                }
            } catch {
                break
            }
            h.stop()  // SIGKILL from outside
            kills += 1
        }
        try h.start()
        defer { h.stop() }
        try h.eventually(30, "all done") { h.names(h.outbox).count == count }
        #expect(kills >= 3)
        #expect(h.names(h.failed).isEmpty, "\(h.names(h.failed))")
        #expect(h.names(h.outbox) == (0..<count).map { String(format: "g%02d", $0) })
        let recoveries = h.log.split(separator: "\n").filter { $0.contains("runs again alone") }
        #expect(recoveries.filter { $0.contains("charged=false") }.count >= 2 * kills - 1, "\(recoveries)")
        try h.eventually(10, "work empty") { h.names(h.work).isEmpty }
    }

    // MARK: - 7. Prompt exit

    @Test func anIdleDaemonExitsPromptlyOnSigterm() throws {
        let h = try DaemonHarness()
        try h.start()
        defer { h.stop() }
        usleep(400_000)  // idle, inside the watcher's one-second wait
        let sent = Date()
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 10) == 0)
        let seconds = Date().timeIntervalSince(sent)
        print("anIdleDaemonExitsPromptly: exited \(String(format: "%.3f", seconds)) s after SIGTERM")
        #expect(seconds < 0.5, "took \(seconds) s")
    }
}
