import Foundation
import Testing

@testable import Spool

/// The scan-and-claim rules, in process, with explicit times: no files, no daemon, no sleeps.
struct InboxPlannerTests {
    /// A planner with the documented defaults: `settle = 2`, `mask_wait = 60`.
    static func planner() -> InboxPlanner { InboxPlanner(settle: 2, maskWait: 60) }

    /// A regular file modified at `modified`; the inode tells files of one name apart.
    static func file(_ name: String, at modified: Double, inode: UInt64 = 1, size: Int64 = 100) -> InboxEntry {
        InboxEntry(name: name, size: size, modified: modified, inode: inode)
    }

    static func job(_ job: String, _ files: [String], failure: SpoolError? = nil) -> InboxClaim {
        InboxClaim(job: job, files: files, failure: failure, kind: .job)
    }

    static let room = InboxPlanner.Claiming.open(capacity: 24)

    /// Answers every probe the plan asks for with `alpha`, and every options read with `options`.
    static func answer(_ plan: InboxPlan, in planner: inout InboxPlanner, alpha: Bool?,
                       options: SharedMaskChoice = .unspecified) {
        for action in plan.actions {
            switch action {
            case let .probe(name, identity): planner.recordProbe(name, identity: identity, alpha: alpha)
            case let .readOptions(name, identity): planner.recordOptions(name, identity: identity, choice: options)
            default: break
            }
        }
    }

    @Test func anImageWithoutAlphaWaitsForItsMask() {
        var p = Self.planner()
        let image = Self.file("cat.png", at: 100, inode: 7)
        p.noteClosed("cat.png", at: 100)
        var plan = p.plan([image], now: 100, claiming: Self.room)
        // Whether it has alpha is in its header, which the caller reads.
        #expect(plan.actions == [.probe(name: "cat.png", identity: FileIdentity(inode: 7, size: 100, modified: 100))])
        #expect(plan.inboxJobs == 1)
        Self.answer(plan, in: &p, alpha: false)
        plan = p.plan([image], now: 100.5, claiming: Self.room)
        #expect(plan.claims.isEmpty && plan.probes.isEmpty)
        #expect(plan.wakeup == 160.5)
        #expect(p.waitingSince == ["cat": 100.5])
        let mask = Self.file("cat.mask.png", at: 105, inode: 8)
        p.noteClosed("cat.mask.png", at: 105)
        plan = p.plan([image, mask], now: 105, claiming: Self.room)
        #expect(plan.claims == [Self.job("cat", ["cat.png", "cat.mask.png"])])
        #expect(plan.claims.first?.outputName == "cat")
        p.claimed(plan.claims[0])
        #expect(p.waitingSince.isEmpty && p.closed.isEmpty)
    }

    @Test func aMaskFirstWaitsForItsImageWhichNeedsNoHeaderRead() {
        var p = Self.planner()
        let mask = Self.file("cat.mask.png", at: 0, inode: 1)
        p.noteClosed("cat.mask.png", at: 0)
        var plan = p.plan([mask], now: 0, claiming: Self.room)
        #expect(plan.actions == [.wait(until: 60)])
        let image = Self.file("cat.jpg", at: 3, inode: 2)
        p.noteClosed("cat.jpg", at: 3)
        plan = p.plan([mask, image], now: 3, claiming: Self.room)
        #expect(plan.actions == [.claim(Self.job("cat", ["cat.jpg", "cat.mask.png"]))])
    }

    @Test func anOptionsFileJoinsItsJob() {
        var p = Self.planner()
        let options = Self.file("opts.json", at: 10, inode: 1)
        p.noteClosed("opts.json", at: 10)
        var plan = p.plan([options], now: 10, claiming: Self.room)
        #expect(plan.claims.isEmpty && plan.wakeup == 70)
        let image = Self.file("opts.png", at: 11, inode: 2)
        p.noteClosed("opts.png", at: 11)
        plan = p.plan([image, options], now: 11, claiming: Self.room)
        // Its options are read too: they may name a shared mask.
        #expect(plan.probes == ["opts.png"] && plan.optionReads == ["opts.json"] && plan.claims.isEmpty)
        Self.answer(plan, in: &p, alpha: true)
        plan = p.plan([image, options], now: 11.01, claiming: Self.room)
        #expect(plan.claims == [Self.job("opts", ["opts.png", "opts.json"])])
        // Image, mask and options: one job, image first.
        var q = Self.planner()
        let three = ["x.json", "x.mask.png", "x.jpeg"].enumerated().map { Self.file($1, at: 0, inode: UInt64($0)) }
        plan = q.plan(three, now: 5, claiming: Self.room)
        #expect(plan.claims == [Self.job("x", ["x.jpeg", "x.mask.png", "x.json"])])
    }

    @Test func anIncompleteJobFailsWhenMaskWaitIsOver() throws {
        var p = Self.planner()
        let image = Self.file("photo.jpg", at: 0, inode: 1)
        let lone = Self.file("orphan.mask.png", at: 0, inode: 2)
        p.noteClosed("photo.jpg", at: 10)
        p.noteClosed("orphan.mask.png", at: 10)
        var plan = p.plan([image, lone], now: 10, claiming: Self.room)
        #expect(plan.claims.isEmpty && plan.wakeup == 70)
        plan = p.plan([image, lone], now: 69.9, claiming: Self.room)
        #expect(plan.claims.isEmpty && plan.wakeup == 70)
        plan = p.plan([image, lone], now: 70, claiming: Self.room)
        #expect(plan.claims.map(\.job) == ["orphan", "photo"])
        #expect(plan.claims.map(\.kind) == [.job, .job])
        let orphan = try #require(plan.claims.first?.failure?.description)
        #expect(orphan.contains("orphan.mask.png arrived but no image 'orphan.png'") && orphan.contains("60 s (mask_wait)"))
        let photo = try #require(plan.claims.last?.failure?.description)
        #expect(photo.contains("'photo.jpg' has no alpha channel and no mask 'photo.mask.png'"), "\(photo)")
        #expect(plan.wakeup == nil)
    }

    @Test func filesFoundByAScanWaitForTheSettleTime() {
        var p = Self.planner()
        let image = Self.file("scan.jpg", at: 100, inode: 1)
        let mask = Self.file("scan.mask.png", at: 100.5, inode: 2)
        var plan = p.plan([image, mask], now: 101, claiming: Self.room)
        #expect(plan.actions == [.wait(until: 102)])
        // The image has settled, its mask not yet: the job waits for both.
        plan = p.plan([image, mask], now: 102, claiming: Self.room)
        #expect(plan.actions == [.wait(until: 102.5)])
        plan = p.plan([image, mask], now: 102.5, claiming: Self.room)
        #expect(plan.claims == [Self.job("scan", ["scan.jpg", "scan.mask.png"])])
        // An event settles a file at once, whatever its modification time.
        var q = Self.planner()
        q.noteClosed("scan.mask.png", at: 101)
        plan = q.plan([image, mask], now: 101, claiming: Self.room)
        #expect(plan.actions == [.wait(until: 102)])
    }

    @Test func dotNamesTemporariesAndPartialUploadsAreIgnored() {
        var p = Self.planner()
        let names = [".hidden.png", ".cat.png.tmp", "upload.png.part", "x.TMP", "y.PART", ".mask.png"]
        for name in names { p.noteClosed(name, at: 0) }
        // Ignored names are not even examined.
        let plan = p.plan(names.map { InboxEntry(name: $0, stat: nil) }, now: 1000, claiming: Self.room)
        #expect(plan.actions == names.map(InboxAction.ignore))
        #expect(plan.inboxJobs == 0)
        // Their event marks go with them.
        _ = p.plan([], now: 1001, claiming: Self.room)
        #expect(p.closed.isEmpty)
    }

    @Test func otherNamesAndNonRegularFilesAreRefusedFirst() throws {
        var p = Self.planner()
        let entries = [
            Self.file("good.jpg", at: 1, inode: 1), Self.file("good.mask.png", at: 1, inode: 2),
            Self.file("notes.txt", at: 5, inode: 3),
            InboxEntry(name: "link.png", kind: .symlink, size: 11, modified: 3, inode: 4),
            InboxEntry(name: "folder.png", kind: .directory, size: 0, modified: 4, inode: 5),
        ]
        let plan = p.plan(entries, now: 100, claiming: Self.room)
        #expect(plan.claims.map(\.job) == ["link.png", "folder.png", "notes.txt", "good"])
        #expect(plan.claims.map(\.kind) == [.refused, .refused, .refused, .job])
        #expect(plan.claims.map(\.files) == [["link.png"], ["folder.png"], ["notes.txt"], ["good.jpg", "good.mask.png"]])
        #expect(plan.claims[0].failure == .notARegularFile(name: "link.png", kind: "symbolic link"))
        #expect(plan.claims[2].failure == .unrecognisedName("notes.txt"))
        #expect(plan.claims[3].failure == nil)
    }

    @Test func anUnreadableHeaderIsClaimedForTheProcessorToExplain() {
        var p = Self.planner()
        let image = Self.file("broken.png", at: 0)
        var plan = p.plan([image], now: 10, claiming: Self.room)
        #expect(plan.probes == ["broken.png"])
        // Asked once: a second pass before the answer asks nothing new.
        #expect(p.plan([image], now: 10.1, claiming: Self.room).actions.isEmpty)
        Self.answer(plan, in: &p, alpha: nil)
        plan = p.plan([image], now: 10.2, claiming: Self.room)
        #expect(plan.claims == [Self.job("broken", ["broken.png"])])
    }

    @Test func aNameClaimedIntoWorkAndDroppedAgainIsANewJob() {
        var p = Self.planner()
        let first = Self.file("cat.png", at: 50, inode: 1)
        p.noteClosed("cat.png", at: 50)
        var plan = p.plan([first], now: 50, claiming: Self.room)
        Self.answer(plan, in: &p, alpha: true)
        plan = p.plan([first], now: 50.1, claiming: Self.room)
        #expect(plan.claims == [Self.job("cat", ["cat.png"])])
        p.claimed(plan.claims[0])
        // The first cat.png is in work/ now. Another cat.png in the inbox is another job: the
        // first one's event mark and header answer do not carry over to it.
        let second = Self.file("cat.png", at: 51, inode: 2, size: 200)
        plan = p.plan([second], now: 51, claiming: Self.room)
        #expect(plan.actions == [.wait(until: 53)])
        plan = p.plan([second], now: 53, claiming: Self.room)
        #expect(plan.actions == [.probe(name: "cat.png", identity: FileIdentity(inode: 2, size: 200, modified: 51))])
        // An answer about another file of that name (an old identity) does not count.
        p.recordProbe("cat.png", identity: first.stat!.identity, alpha: true)
        #expect(p.plan([second], now: 53.1, claiming: Self.room).claims.isEmpty)
        Self.answer(plan, in: &p, alpha: true)
        plan = p.plan([second], now: 53.2, claiming: Self.room)
        #expect(plan.claims == [Self.job("cat", ["cat.png"])])
    }

    @Test func claimingStopsAtCapacityAndWhilePaused() {
        var p = Self.planner()
        var entries: [InboxEntry] = []
        for i in 0..<5 {
            entries.append(Self.file("j\(i).jpg", at: Double(10 - i), inode: UInt64(i)))
            entries.append(Self.file("j\(i).mask.png", at: 0, inode: UInt64(10 + i)))
        }
        var plan = p.plan(entries, now: 100, claiming: .paused(until: 105))
        #expect(plan.claims.isEmpty && plan.wakeup == 105 && plan.inboxJobs == 5)
        plan = p.plan(entries, now: 106, claiming: .open(capacity: 2))
        #expect(plan.claims.map(\.job) == ["j0", "j1"])  // oldest file first: ties by name
        #expect(plan.backlog)
        plan = p.plan(entries, now: 106, claiming: .open(capacity: 5))
        #expect(plan.claims.count == 5 && !plan.backlog)
    }

    @Test func fiveThousandNamesArePlannedOldestFirstWithinCapacity() {
        var p = Self.planner()
        let count = 5000
        var entries = (0..<count).map { i in
            Self.file(String(format: "job%04d.png", i), at: 1000 + Double(count - i) / 100, inode: UInt64(i + 1))
        }
        entries += (0..<count / 10).map { InboxEntry(name: ".upload\($0).png.tmp", stat: nil) }
        entries.shuffle()
        let clock = ContinuousClock()
        let started = clock.now
        var plan = p.plan(entries, now: 2000, claiming: .open(capacity: 24))
        #expect(plan.probes.count == count)
        #expect(plan.claims.isEmpty)
        #expect(plan.ignored.count == count / 10)
        #expect(plan.inboxJobs == count)
        Self.answer(plan, in: &p, alpha: true)
        plan = p.plan(entries, now: 2000.1, claiming: .open(capacity: 24))
        #expect(plan.probes.isEmpty)
        #expect(plan.claims.map(\.job) == (0..<24).map { String(format: "job%04d", count - 1 - $0) })
        #expect(plan.backlog)
        for claim in plan.claims { p.claimed(claim) }
        let claimed = Set(plan.claims.flatMap(\.files))
        let rest = entries.filter { !claimed.contains($0.name) }
        plan = p.plan(rest, now: 2000.2, claiming: .open(capacity: 10_000))
        #expect(plan.claims.count == count - 24)
        #expect(!plan.backlog)
        #expect(clock.now - started < .seconds(10))
    }
}
