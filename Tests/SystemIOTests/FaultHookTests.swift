import Foundation
import Synchronization
import SystemIO
import SystemPackage
import TestSupport
import Testing

/// The fault hook: armed rules make the named calls fail, counted, for matching paths only,
/// and each injected failure is reported. One test at a time, since the rules are global;
/// every rule names a path fragment of its own test's folder.
@Suite(.serialized) struct FaultHookTests {
    let folder: TemporaryDirectory
    var root: FilePath { FilePath(folder.url.path) }

    init() throws { folder = try TemporaryDirectory(prefix: "faulthook") }

    func rule(_ call: String, _ errno: Errno, _ count: Int?, _ fragment: String) -> FaultHook.Rule {
        FaultHook.Rule(call: call, errnoName: "\(errno.rawValue)", errno: errno, remaining: count, fragment: fragment)
    }

    /// What the hook reported, in order.
    final class Reports: Sendable {
        let lines = Mutex<[String]>([])
    }

    @Test func aCountedRuleFailsThatManyMatchingCallsThenStops() throws {
        let reports = Reports()
        let target = root.appending("completed.png")
        FaultHook.install([rule("write", .noSpace, 2, folder.url.lastPathComponent + "/completed")]) { rule, path in
            reports.lines.withLock { $0.append("\(rule.call) \(path)") }
        }
        defer { FaultHook.install([], report: nil) }
        try FileSystem.writeFile(root.appending("other.png"), [1])  // no match: not failed
        for _ in 0..<2 {
            #expect(throws: SystemIOError.system(call: "write", path: target.string, errno: .noSpace)) {
                try FileSystem.writeFile(target, [1, 2], overwrite: true)
            }
        }
        try FileSystem.writeFile(target, [1, 2], overwrite: true)
        #expect(try FileSystem.readFile(target) == [1, 2])
        #expect(reports.lines.withLock { $0 } == ["write \(target.string)", "write \(target.string)"])
    }

    @Test func aForeverRuleFailsEveryCallAndTheErrorIsTransient() throws {
        let path = root.appending("data")
        try FileSystem.writeFile(path, [1, 2, 3])
        FaultHook.install([rule("read", .ioError, nil, folder.url.lastPathComponent)], report: nil)
        defer { FaultHook.install([], report: nil) }
        for _ in 0..<3 {
            let error = #expect(throws: SystemIOError.self) { try FileSystem.readFile(path) }
            #expect(error?.isTransient == true)
        }
        FaultHook.install([], report: nil)
        #expect(try FileSystem.readFile(path) == [1, 2, 3])
    }

    @Test func withoutRenameNoReplaceTheFallbackIsToldWhyAndNeverOverwrites() throws {
        let a = root.appending("a"), b = root.appending("b")
        try FileSystem.writeFile(a, [1])
        try FileSystem.writeFile(b, [2])
        FaultHook.install([rule("renameat2", .noFunction, nil, folder.url.lastPathComponent)], report: nil)
        defer { FaultHook.install([], report: nil) }
        var reasons: [String] = []
        #expect(try !FileSystem.renameNoReplace(a, to: b) { reasons.append($0) })
        #expect(try FileSystem.renameNoReplace(a, to: root.appending("c")) { reasons.append($0) })
        #expect(reasons.count == 2 && reasons.allSatisfy { $0.contains("errno 38") }, "\(reasons)")
        #expect(try FileSystem.readFile(b) == [2])
        #expect(try FileSystem.readFile(root.appending("c")) == [1])
    }

    /// A folder listed with each entry's `lstat` (taken relative to the open folder) gives
    /// what `lstat` of each path gives: links not followed, names the filter leaves out
    /// without metadata, and an armed "lstat" rule reaches the entries under their paths.
    @Test func aListingWithMetadataMatchesLstatAndAnswersTheHook() throws {
        try FileSystem.writeFile(root.appending("image.png"), [1, 2, 3])
        try FileSystem.writeFile(root.appending("other.png"), [4])
        try FileSystem.makeDirectory(root.appending("folder"))
        #expect(symlink("image.png", root.appending("link.png").string) == 0)
        try FileSystem.writeFile(root.appending(".hidden.tmp"), [5])
        let listed = try FileSystem.listWithMetadata(root, stat: { !$0.hasPrefix(".") })
        #expect(listed.map(\.name).sorted() == [".hidden.tmp", "folder", "image.png", "link.png", "other.png"])
        for (name, metadata) in listed {
            if name.hasPrefix(".") {
                #expect(metadata == nil)
            } else {
                #expect(metadata == (try FileSystem.metadata(root.appending(name))), "\(name)")
            }
        }
        #expect(listed.first { $0.name == "link.png" }?.metadata?.kind == .symlink)
        #expect(listed.first { $0.name == "image.png" }?.metadata?.size == 3)

        let reports = Reports()
        FaultHook.install([rule("lstat", .ioError, 1, folder.url.lastPathComponent + "/other")]) { rule, path in
            reports.lines.withLock { $0.append("\(rule.call) \(path)") }
        }
        defer { FaultHook.install([], report: nil) }
        let faulted = try FileSystem.listWithMetadata(root, stat: { _ in true })
        #expect(faulted.first { $0.name == "other.png" }.map { $0.metadata == nil } == true)
        #expect(faulted.first { $0.name == "image.png" }?.metadata?.size == 3)
        #expect(reports.lines.withLock { $0 } == ["lstat \(root.appending("other.png").string)"])
    }

    @Test func theCallsThatCanFailAreTheOnesThatGoThroughTheHook() {
        #expect(FaultHook.calls.isSuperset(of: ["open", "read", "write", "fsync", "rename", "renameat2", "mkdir"]))
        #expect(!FaultHook.calls.contains("close"))
    }
}
