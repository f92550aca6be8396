import Foundation
import Imaging
import SystemPackage
import Testing

@testable import Spool

/// How the planner decides which jobs use a shared mask, with explicit times.
struct SharedMaskPlannerTests {
    static let room = InboxPlanner.Claiming.open(capacity: 24)

    static func file(_ name: String, at modified: Double, inode: UInt64) -> InboxEntry {
        InboxEntry(name: name, size: 100, modified: modified, inode: inode)
    }

    /// Plans, answers every probe and options read, and plans again.
    static func settle(_ p: inout InboxPlanner, _ entries: [InboxEntry], now: Double, alpha: Bool?,
                       options: SharedMaskChoice = .unspecified) -> InboxPlan {
        for entry in entries { p.noteClosed(entry.name, at: now) }
        let first = p.plan(entries, now: now, claiming: room)
        InboxPlannerTests.answer(first, in: &p, alpha: alpha, options: options)
        return p.plan(entries, now: now + 0.01, claiming: room)
    }

    @Test func theConfiguredMaskTakesAnImageWithoutAlphaAtOnce() {
        var p = InboxPlanner(settle: 2, maskWait: 60, defaultMask: "watermark")
        let plan = Self.settle(&p, [Self.file("a.png", at: 0, inode: 1)], now: 0, alpha: false)
        #expect(plan.claims == [InboxClaim(job: "a", files: ["a.png"], failure: nil, kind: .job, sharedMask: "watermark")])
        // A JPEG has no alpha: no header read is needed.
        var q = InboxPlanner(settle: 2, maskWait: 60, defaultMask: "watermark")
        q.noteClosed("b.jpg", at: 0)
        #expect(q.plan([Self.file("b.jpg", at: 0, inode: 2)], now: 0, claiming: Self.room).claims.map(\.sharedMask) == ["watermark"])
    }

    @Test func alphaAndAnOwnMaskComeBeforeTheConfiguredMask() {
        var p = InboxPlanner(settle: 2, maskWait: 60, defaultMask: "watermark")
        var plan = Self.settle(&p, [Self.file("a.png", at: 0, inode: 1)], now: 0, alpha: true)
        #expect(plan.claims.count == 1 && plan.claims[0].sharedMask == nil)
        plan = Self.settle(&p, [Self.file("b.jpg", at: 0, inode: 2), Self.file("b.mask.png", at: 0, inode: 3)], now: 1, alpha: false)
        #expect(plan.claims.count == 1 && plan.claims[0].sharedMask == nil && plan.claims[0].files == ["b.jpg", "b.mask.png"])
    }

    @Test func aMaskNamedInTheOptionsComesBeforeAlphaAndNullTurnsTheConfiguredOneOff() {
        var p = InboxPlanner(settle: 2, maskWait: 60, defaultMask: "watermark")
        let named = [Self.file("a.png", at: 0, inode: 1), Self.file("a.json", at: 0, inode: 2)]
        for entry in named { p.noteClosed(entry.name, at: 0) }
        var plan = p.plan(named, now: 0, claiming: Self.room)
        #expect(plan.claims.isEmpty && plan.optionReads == ["a.json"])
        InboxPlannerTests.answer(plan, in: &p, alpha: true, options: .named("logo"))
        plan = p.plan(named, now: 0.01, claiming: Self.room)
        #expect(plan.claims.map(\.sharedMask) == ["logo"])

        var q = InboxPlanner(settle: 2, maskWait: 60, defaultMask: "watermark")
        let none = [Self.file("c.jpg", at: 0, inode: 3), Self.file("c.json", at: 0, inode: 4)]
        plan = Self.settle(&q, none, now: 0, alpha: nil, options: SharedMaskChoice.none)
        #expect(plan.claims.isEmpty && plan.wakeup == 60.01)
        plan = q.plan(none, now: 61, claiming: Self.room)
        #expect(plan.claims.count == 1 && plan.claims[0].failure != nil && plan.claims[0].sharedMask == nil)
    }

    @Test func anOptionsFileThatChangedIsReadAgain() {
        var p = InboxPlanner(settle: 2, maskWait: 60)
        let image = Self.file("a.jpg", at: 0, inode: 1)
        var plan = Self.settle(&p, [image, Self.file("a.json", at: 0, inode: 2)], now: 0, alpha: nil)
        #expect(plan.claims.isEmpty && plan.wakeup == 60.01)  // no mask named: it waits for its NAME.mask.png
        let rewritten = Self.file("a.json", at: 5, inode: 3)
        p.noteClosed("a.json", at: 5)
        plan = p.plan([image, rewritten], now: 5, claiming: Self.room)
        #expect(plan.optionReads == ["a.json"] && plan.claims.isEmpty)
        InboxPlannerTests.answer(plan, in: &p, alpha: nil, options: .named("logo"))
        #expect(p.plan([image, rewritten], now: 5.01, claiming: Self.room).claims.map(\.sharedMask) == ["logo"])
    }

    @Test(arguments: [
        (#"{"mask": "logo"}"#, SharedMaskChoice.named("logo")), (#"{"mask": "logo.png", "seed": 1}"#, .named("logo")),
        (#"{"mask": null}"#, SharedMaskChoice.none), (#"{"seed": 1}"#, .unspecified), ("not json", .unspecified),
        (#"{"mask": "../etc/passwd"}"#, .named("../etc/passwd")),
    ])
    func theOptionsFileSaysWhichSharedMask(text: String, choice: SharedMaskChoice) {
        #expect(SharedMaskChoice.of(optionsFile: Array(text.utf8)) == choice)
    }

    @Test func maskNamesAreLettersDigitsAndPunctuationWithoutPaths() {
        #expect(SharedMaskName.validate("watermark") == "watermark")
        #expect(SharedMaskName.validate("scan-dust_2.v1.PNG") == "scan-dust_2.v1")
        for bad in ["", ".hidden", "../x", "a/b", "a b", "é", String(repeating: "x", count: 129)] {
            #expect(SharedMaskName.validate(bad) == nil, "\(bad)")
        }
    }

    @Test func optionsAcceptAMaskAndAnAnchorAndRefuseBadOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixelrnnd-options-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func options(_ text: String) throws -> JobOptions {
            let url = directory.appendingPathComponent("o.json")
            try Data(text.utf8).write(to: url)
            var c = DaemonConfiguration()
            c.maskAnchor = "bottom-right"
            return try JobOptions(contentsOf: .init(url.path), defaults: c)
        }
        let named = try options(#"{"mask": "logo", "mask_anchor": "center"}"#)
        #expect(named.mask == "logo" && named.maskAnchor == .centre)
        #expect(try options(#"{"mask": null}"#).noSharedMask)
        #expect(try options("{}").maskAnchor == .bottomRight)
        #expect(throws: SpoolError.self) { try options(#"{"mask": "../x"}"#) }
        #expect(throws: SpoolError.self) { try options(#"{"mask_anchor": "corner"}"#) }
        var c = DaemonConfiguration()
        #expect(throws: SpoolError.self) { try c.set("mask", ".hidden") }
        #expect(throws: SpoolError.self) { try c.set("mask_anchor", "middle") }
        try c.set("mask", "dust.png")
        #expect(c.mask == "dust")
    }
}
