import Foundation
@testable import Spool
import SystemPackage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several daemons on one spool, as several hosts sharing it over NFS would run: distinct
/// host identities (`host_id`) so that each judges the others by their leases, polling
/// watchers, a daemon killed and never restarted, a daemon paused past its lease, and
/// publication without `RENAME_NOREPLACE`. The built `pixelrnnd` with the `validate`
/// processor, on real spools.
@Suite(.serialized)
struct ManyHostsTests {
    static let rgba = TestImages.png(width: 6, height: 5, colourType: 6)

    /// Short leases and intervals, so that a takeover takes seconds.
    static let fleet: [String: String] = [
        "lease": "2", "lease_renew": "0.4", "poll_interval": "0.2", "rescan_interval": "1", "settle": "0.3",
        "workers": "2", "queue_capacity": "6",
    ]

    static func settings(_ host: String, watch: String, _ extra: [String: String] = [:]) -> [String: String] {
        fleet.merging(["host_id": host, "watch": watch]) { $1 }.merging(extra) { $1 }
    }

    func run(of h: DaemonHarness) -> String {
        ((try? h.status())?["host"] as? [String: Any])?["run"] as? String ?? ""
    }

    func lease(of h: DaemonHarness) -> [String: Any] {
        ((try? h.status())?["lease"] as? [String: Any]) ?? [:]
    }

    /// Work folders owned by `run` (`work/TOKEN@RUN`).
    func folders(of run: String, in h: DaemonHarness) -> [String] {
        h.names(h.work).filter { $0.hasSuffix("@" + run) }
    }

    func lines(_ log: String, _ text: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(text) }.count
    }

    /// Drops jobs by renaming them in from dot-names, as a careful producer does.
    func dropMany(_ h: DaemonHarness, _ names: [String]) throws {
        for name in names { try h.dropAtomically(name + ".png", Self.rgba) }
    }

    // MARK: - A host dies and never comes back

    @Test func threeDaemonsSixHundredJobsOneKilledAndNeverRestarted() throws {
        let a = try DaemonHarness(settings: Self.settings("host-a", watch: "inotify"))
        let b = try DaemonHarness(sharingSpoolOf: a, settings: Self.settings("host-b", watch: "poll"))
        let c = try DaemonHarness(sharingSpoolOf: a, settings: Self.settings("host-c", watch: "poll"))
        let delay = ["--debug-job-delay-ms", "20"]
        for h in [a, b, c] { try h.start(delay) }
        defer { for h in [a, b, c] { h.stop() } }
        for h in [b, c] {
            let watch = (try h.status())["watch"] as? [String: Any] ?? [:]
            #expect(watch["mode"] as? String == "poll" && watch["configured"] as? String == "poll", "\(watch)")
        }
        let names = (0..<600).map { String(format: "job%03d", $0) }
        try dropMany(a, names)
        let runA = run(of: a)
        #expect(!runA.isEmpty)
        // Kill A while it holds claims, once it has done a share of the work.
        try a.eventually(60, "A is busy with claims of its own") {
            (a.jobs()["done"] ?? 0) >= 40 && folders(of: runA, in: a).count >= 2
        }
        a.stop()  // SIGKILL, never restarted
        let killedAt = Date()
        let stranded = folders(of: runA, in: a).count
        try b.eventually(20, "A's claims taken over") { folders(of: runA, in: b).isEmpty }
        let recovered = Date().timeIntervalSince(killedAt)
        try b.eventually(90, "all 600 published") { b.names(b.outbox).count >= 600 }
        usleep(1_000_000)  // time for a duplicate to show, were there one
        #expect(b.names(b.outbox) == names, "every job exactly once, under its own name")
        #expect(b.names(b.failed).isEmpty && b.names(b.inbox).isEmpty)
        try b.eventually(10, "work empty") { b.names(b.work).isEmpty }
        for name in ["job000", "job599"] {
            #expect(b.names(b.outbox.appendingPathComponent(name)) == ["completed.png", "\(name).png", "report.json"])
        }
        let takeovers = lines(b.log, "msg=\"took over a job\"") + lines(c.log, "msg=\"took over a job\"")
        #expect(takeovers >= stranded, "A left \(stranded) folders; \(takeovers) takeovers")
        #expect(lines(b.log + c.log, "from=\(runA)") == takeovers)
        let published = lines(a.log, "msg=published") + lines(b.log, "msg=published") + lines(c.log, "msg=published")
        #expect(published <= 600 + 0 && published >= 600 - stranded, "\(published) publications logged")
        #expect(lines(b.log + c.log, "lost a job to a takeover") == 0)
        // lease (2 s) + two renewal periods (0.4 s) to see it unchanged, plus slack for a busy machine.
        #expect(recovered < 2 + 0.8 + 3, "recovered in \(recovered) s")
        let total = (try b.status())["lease"] as? [String: Any] ?? [:]
        print("threeDaemons: A killed holding \(stranded) folders; recovered in \(String(format: "%.2f", recovered)) s; \(takeovers) takeovers; B status lease \(total)")
    }

    // MARK: - A daemon paused past its lease

    @Test func aDaemonPausedPastItsLeasePublishesNothingTwice() throws {
        let a = try DaemonHarness(settings: Self.settings("host-a", watch: "inotify", ["queue_capacity": "2"]))
        try a.start(["--debug-job-delay-ms", "2500"])
        defer { a.stop() }
        try dropMany(a, ["p0", "p1", "p2", "p3"])
        try a.eventually(20, "A holds all four") { a.jobs()["in_flight"] == 2 && a.jobs()["queued"] == 2 }
        let runA = run(of: a)
        a.signal(SIGSTOP)
        defer { a.signal(SIGCONT) }
        let b = try DaemonHarness(sharingSpoolOf: a, settings: Self.settings("host-b", watch: "poll"))
        try b.start()
        defer { b.stop() }
        try b.eventually(20, "B took the four over and published them") { b.names(b.outbox) == ["p0", "p1", "p2", "p3"] }
        #expect(folders(of: runA, in: b).isEmpty)
        #expect(lines(b.log, "msg=\"took over a job\"") == 4, "\(b.log)")
        // Two were in flight together when A stopped: neither is charged an attempt.
        #expect(lines(b.log, "charged=true") == 0, "\(b.log)")
        a.signal(SIGCONT)
        // A wakes: its two running jobs finish and find their folders gone; its renewal is
        // late, and its two queued jobs are dropped.
        try a.eventually(20, "A knows it lost all four") { lease(of: a)["jobs_lost"] as? Int == 4 }
        #expect((lease(of: a)["lapses"] as? Int ?? 0) >= 1)
        #expect(lines(a.log, "lost a job to a takeover") == 4, "\(a.log)")
        #expect(lines(a.log, "msg=published") == 0)
        usleep(1_000_000)
        #expect(b.names(b.outbox) == ["p0", "p1", "p2", "p3"], "nothing published twice")
        #expect(b.names(b.failed).isEmpty)
        // Both go on sharing the spool.
        try dropMany(a, ["after0", "after1", "after2", "after3"])
        try b.eventually(30, "later jobs published") { b.names(b.outbox).count == 8 }
        #expect(b.names(b.outbox) == ["after0", "after1", "after2", "after3", "p0", "p1", "p2", "p3"])
        try b.eventually(10, "work empty") { b.names(b.work).isEmpty }
    }

    @Test func aDaemonPausedBetweenItsResultAndThePublishingRenameIsFencedOff() throws {
        let a = try DaemonHarness(settings: Self.settings("host-a", watch: "inotify"))
        try a.start(["--debug-publish-pause-ms", "3000"])
        defer { a.stop() }
        try dropMany(a, ["fence"])
        let runA = run(of: a)
        // The result is complete (`.done` written) and A sleeps before its rename: stop it there.
        try a.eventually(20, "A's result complete") {
            guard let folder = folders(of: runA, in: a).first else { return false }
            return FileManager.default.fileExists(atPath: a.work.appendingPathComponent(folder).appendingPathComponent(".done").path)
        }
        a.signal(SIGSTOP)
        defer { a.signal(SIGCONT) }
        let b = try DaemonHarness(sharingSpoolOf: a, settings: Self.settings("host-b", watch: "poll"))
        try b.start()
        defer { b.stop() }
        // The log line follows the rename and the directory sync: wait for both.
        try b.eventually(20, "B finished A's publication") {
            b.names(b.outbox) == ["fence"] && b.log.contains("finished an interrupted publication")
        }
        a.signal(SIGCONT)
        try a.eventually(20, "A found its rename fenced off") { lease(of: a)["jobs_lost"] as? Int == 1 }
        usleep(500_000)
        #expect(b.names(b.outbox) == ["fence"])
        #expect(b.names(b.outbox.appendingPathComponent("fence")) == ["completed.png", "fence.png", "report.json"])
        #expect(lines(a.log, "msg=published") == 0)
        try b.eventually(10, "work empty") { b.names(b.work).isEmpty }
    }

    // MARK: - Publication without RENAME_NOREPLACE (as on NFS)

    @Test func withoutRenameNoReplaceTwoDaemonsStillPublishEachJobOnceAndOverwriteNothing() throws {
        let a = try DaemonHarness(settings: Self.settings("host-a", watch: "inotify"))
        let b = try DaemonHarness(sharingSpoolOf: a, settings: Self.settings("host-b", watch: "poll"))
        for h in [a, b] { h.environment["PIXELRNND_FAULTS"] = "renameat2:EINVAL:*" }
        // A result that is already there, and a name another publisher is taking right now.
        let existing = a.outbox.appendingPathComponent("dup")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: existing.appendingPathComponent("keep.txt"))
        FileManager.default.createFile(atPath: a.outbox.appendingPathComponent(".dup-1.naming").path, contents: nil)
        for h in [a, b] { try h.start() }
        defer { for h in [a, b] { h.stop() } }
        let names = (0..<40).map { String(format: "nr%02d", $0) }
        try dropMany(a, names + ["dup"])
        try a.eventually(40, "all published") { a.names(a.outbox).count == 42 }
        usleep(500_000)
        #expect(a.names(a.outbox) == ["dup", "dup-2"] + names)
        #expect(try String(contentsOf: existing.appendingPathComponent("keep.txt"), encoding: .utf8) == "mine")
        #expect(a.names(a.outbox.appendingPathComponent("dup-2")) == ["completed.png", "dup.png", "report.json"])
        for h in [a, b] {
            let warnings = h.log.split(separator: "\n").filter { $0.contains("renaming without RENAME_NOREPLACE") }
            #expect(warnings.count <= 1 && (warnings.first?.contains("errno 22") ?? true), "\(warnings)")
        }
        #expect(a.hiddenNames(a.outbox) == [".dup-1.naming"], "no marker left but the one we made")
        #expect(a.names(a.failed).isEmpty)
        try a.eventually(10, "work empty") { a.names(a.work).isEmpty }
    }

    // MARK: - Watching

    @Test func aPollingDaemonTakesFilesWithoutInotify() throws {
        let h = try DaemonHarness(settings: ["watch": "poll", "poll_interval": "0.2", "rescan_interval": "600", "lease": "2",
                                             "lease_renew": "0.5"])
        try h.start()
        defer { h.stop() }
        #expect(h.log.contains("msg=\"watching inbox\"") && h.log.contains("watch=poll"), "\(h.log)")
        let started = Date()
        try h.drop("polled.png", Self.rgba)
        try h.eventually(10, "published by a poll") { h.names(h.outbox) == ["polled"] }
        #expect(Date().timeIntervalSince(started) < 5)
        let status = try h.status()
        let watch = status["watch"] as? [String: Any] ?? [:]
        #expect(watch["mode"] as? String == "poll" && watch["poll_interval_seconds"] as? Double == 0.2, "\(watch)")
        let host = status["host"] as? [String: Any] ?? [:]
        #expect((host["id"] as? String ?? "").isEmpty == false && (host["run"] as? String ?? "").hasPrefix("\(h.pid ?? 0)-"))
        let lease = status["lease"] as? [String: Any] ?? [:]
        #expect(lease["seconds"] as? Double == 2 && lease["renew_seconds"] as? Double == 0.5)
        // Its lease file names it.
        let leaseFile = h.spool.appendingPathComponent("leases").appendingPathComponent(host["run"] as? String ?? "")
        let text = try String(contentsOf: leaseFile, encoding: .utf8)
        #expect(text.contains("pid=\(h.pid ?? 0)") && text.contains("state=running"), "\(text)")
        h.signal(SIGTERM)
        #expect(try h.waitForExit(timeout: 20) == 0)
        #expect(try String(contentsOf: leaseFile, encoding: .utf8).contains("state=stopped"))
    }

    @Test func autoWatchPollsOnSharedFileSystemsOnly() throws {
        #expect(WatchMode.auto.resolved(sharedFileSystem: true) == .poll)
        #expect(WatchMode.auto.resolved(sharedFileSystem: false) == .inotify)
        #expect(WatchMode.inotify.resolved(sharedFileSystem: true) == .inotify)
        #expect(WatchMode.poll.resolved(sharedFileSystem: false) == .poll)
        var c = DaemonConfiguration()
        #expect(c.watch == .auto && c.lease == 30 && c.leaseRenew == 5 && c.pollInterval == 2)
        try c.apply(text: "watch = poll\npoll_interval = 0.5\nhost_id = node-7\nlease = 10\nlease_renew = 2\n", origin: "t")
        #expect(c.watch == .poll && c.pollInterval == 0.5 && c.hostIdentity == "node-7" && c.lease == 10 && c.leaseRenew == 2)
        #expect(throws: SpoolError.self) { try c.set("watch", "fanotify") }
        #expect(throws: SpoolError.self) { try c.set("host_id", "a b") }
        c.leaseRenew = 6
        #expect(throws: SpoolError.self) { try c.validate() }
    }

    // MARK: - The rules, without daemons

    @Test func workFolderNamesCarryTheirOwner() {
        #expect(WorkFolderName(parsing: "ab12-3@77-ff") == WorkFolderName(token: "ab12-3", owner: "77-ff"))
        #expect(WorkFolderName(parsing: "ab12-3") == WorkFolderName(token: "ab12-3", owner: nil))
        #expect(WorkFolderName(parsing: ".claim-1.ab@x") == nil)
        #expect(WorkFolderName(parsing: "ab@") == nil && WorkFolderName(parsing: "@x") == nil)
        #expect(WorkFolderName(token: "t", owner: "r").text == "t@r")
    }

    @Test func anOwnerIsGoneByItsPidOnThisHostAndByItsLeaseElsewhere() {
        let me = OwnerIdentity(host: "h1", bootID: "boot-1", pid: 10, run: "10-a")
        func record(_ host: String, boot: String = "boot-1", pid: Int32 = 20, state: String = "running") -> LeaseRecord {
            LeaseRecord(owner: OwnerIdentity(host: host, bootID: boot, pid: pid, run: "\(pid)-b"), renewal: 3, state: state,
                        inFlight: 1, leaseSeconds: 30)
        }
        func verdict(_ r: LeaseRecord?, unchanged: Double, alive: Bool = true) -> OwnerVerdict {
            LeaseObserver.verdict(run: "20-b", record: r, unchangedFor: unchanged, me: me, lease: 30, processExists: { _ in alive })
        }
        // Same host: the pid decides at once; a live pid still loses by its lease (a pause).
        #expect(verdict(record("h1"), unchanged: 0, alive: false).isGone)
        #expect(!verdict(record("h1"), unchanged: 29, alive: true).isGone)
        #expect(verdict(record("h1"), unchanged: 30, alive: true).isGone)
        // Same name, another boot: a reboot or another machine of that name; the lease decides.
        #expect(!verdict(record("h1", boot: "boot-0"), unchanged: 0, alive: false).isGone)
        #expect(verdict(record("h1", boot: "boot-0"), unchanged: 30, alive: true).isGone)
        // Another host: the lease alone; its pid means nothing here.
        #expect(!verdict(record("h2"), unchanged: 29.9, alive: false).isGone)
        #expect(verdict(record("h2"), unchanged: 30, alive: true).isGone)
        #expect(verdict(record("h2", state: "stopped"), unchanged: 0).isGone)
        #expect(!verdict(nil, unchanged: 10).isGone && verdict(nil, unchanged: 31).isGone)
        // The observer's clock: unchanged time counts from the last change it saw.
        var observer = LeaseObserver()
        #expect(observer.observe("r", content: [1], now: 100) == 0)
        #expect(observer.observe("r", content: [1], now: 105) == 5)
        #expect(observer.observe("r", content: [2], now: 106) == 0)
        #expect(observer.observe("r", content: [2], now: 140) == 34)
        #expect(observer.observe("r", content: nil, now: 141) == 0)
        observer.keepOnly([])
        #expect(observer.observe("r", content: nil, now: 150) == 0)
        // The lease file's text round-trips.
        let r = record("h2", pid: 31)
        #expect(LeaseRecord(text: r.text) == r)
    }

    // MARK: - A real NFS mount over loopback, where the machine allows one

    /// Set by `scripts/nfs-loopback.sh`, which exports a folder with nfs-kernel-server and
    /// mounts it on 127.0.0.1; the script says why when the machine cannot.
    static let nfsSpool = ProcessInfo.processInfo.environment["PIXELRNND_NFS_SPOOL"]

    @Test(.enabled(if: nfsSpool != nil, "needs a real NFS mount: run scripts/nfs-loopback.sh, which sets PIXELRNND_NFS_SPOOL (it needs nfsd in the kernel and root)"))
    func threeDaemonsOnARealNFSMountOneKilledAndNeverRestarted() throws {
        let root = try #require(Self.nfsSpool)
        let spool = URL(fileURLWithPath: root).appendingPathComponent("spool-\(getpid())-\(Int.random(in: 0..<1_000_000))")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: spool) }
        var settings = Self.settings("nfs-a", watch: "auto", ["spool": spool.path, "min_free_bytes": "0"])
        let a = try DaemonHarness(settings: settings)
        settings["host_id"] = "nfs-b"
        let b = try DaemonHarness(sharingSpoolOf: a, settings: settings)
        settings["host_id"] = "nfs-c"
        let c = try DaemonHarness(sharingSpoolOf: a, settings: settings)
        for h in [a, b, c] { try h.start(["--debug-job-delay-ms", "20"]) }
        defer { for h in [a, b, c] { h.stop() } }
        let watch = (try a.status())["watch"] as? [String: Any] ?? [:]
        #expect(watch["file_system"] as? String == "nfs" && watch["mode"] as? String == "poll", "auto polls on NFS: \(watch)")
        let names = (0..<200).map { String(format: "nfs%03d", $0) }
        let inbox = spool.appendingPathComponent("inbox"), outbox = spool.appendingPathComponent("outbox")
        let work = spool.appendingPathComponent("work"), failed = spool.appendingPathComponent("failed")
        for name in names {
            let temporary = inbox.appendingPathComponent(".\(name).png.tmp")
            try Data(Self.rgba).write(to: temporary)
            #expect(rename(temporary.path, inbox.appendingPathComponent(name + ".png").path) == 0)
        }
        let runA = run(of: a)
        try a.eventually(60, "A is busy") { (a.jobs()["done"] ?? 0) >= 20 && a.names(work).contains { $0.hasSuffix("@" + runA) } }
        a.stop()
        try b.eventually(90, "all published") {
            b.names(outbox).count >= 200 && !b.names(work).contains { $0.hasSuffix("@" + runA) }
        }
        usleep(1_000_000)
        #expect(b.names(outbox) == names)
        #expect(b.names(failed).isEmpty)
    }
}
