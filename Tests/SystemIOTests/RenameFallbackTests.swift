import Foundation
import Synchronization
import SystemIO
import SystemPackage
import TestSupport
import Testing

/// Renaming without `RENAME_NOREPLACE` (NFS answers `EINVAL`): files by `link(2)` and
/// `unlink(2)`, folders under an `O_EXCL` naming marker; never replacing anything, even with
/// many publishers of one name at once. And what the host and its file systems are.
struct RenameFallbackTests {
    let folder: TemporaryDirectory
    var root: FilePath { FilePath(folder.url.path) }

    init() throws { folder = try TemporaryDirectory(prefix: "renamefallback") }

    /// A folder with one file in it, as a result is.
    func result(_ name: String, _ content: String) throws -> FilePath {
        let path = root.appending(name)
        try FileSystem.makeDirectory(path)
        try FileSystem.writeFile(path.appending("content"), Array(content.utf8))
        return path
    }

    @Test func aFileIsLinkedThenUnlinkedAndNeverReplacesOne() throws {
        let a = root.appending("a"), b = root.appending("b")
        try FileSystem.writeFile(a, [1])
        try FileSystem.writeFile(b, [2])
        #expect(try !FileSystem.renameNoReplaceFallback(a, to: b))
        #expect(try FileSystem.readFile(b) == [2] && FileSystem.exists(a))
        #expect(try FileSystem.renameNoReplaceFallback(a, to: root.appending("c")))
        #expect(!FileSystem.exists(a))
        #expect(try FileSystem.readFile(root.appending("c")) == [1])
    }

    @Test func aFolderNeverReplacesAFolderNorANameBeingTaken() throws {
        let source = try result("src", "new")
        let taken = try result("dest", "old")
        #expect(try !FileSystem.renameNoReplaceFallback(source, to: taken))
        #expect(try FileSystem.readFile(taken.appending("content")) == Array("old".utf8))
        // A name whose marker another publisher holds is taken too.
        try FileSystem.writeFile(FileSystem.namingMarker(for: root.appending("busy")), [])
        #expect(try !FileSystem.renameNoReplaceFallback(source, to: root.appending("busy")))
        #expect(try FileSystem.renameNoReplaceFallback(source, to: root.appending("free")))
        #expect(try FileSystem.readFile(root.appending("free/content")) == Array("new".utf8))
        #expect(!FileSystem.exists(FileSystem.namingMarker(for: root.appending("free"))), "the marker goes once renamed")
        // Old markers are removed; young ones are left to their publisher.
        #expect(FileSystem.removeStaleNamingMarkers(in: root, olderThan: 30, now: Date().timeIntervalSince1970).isEmpty)
        #expect(FileSystem.removeStaleNamingMarkers(in: root, olderThan: 30, now: Date().timeIntervalSince1970 + 60) == [".busy.naming"])
    }

    @Test func sixteenPublishersOfOneNameEachGetTheirOwn() throws {
        let sources = try (0..<16).map { try result("src\($0)", "\($0)") }
        let published = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: sources.count) { i in
            var suffix = 0
            while true {
                let name = suffix == 0 ? "out" : "out-\(suffix)"
                if (try? FileSystem.renameNoReplaceFallback(sources[i], to: root.appending(name))) == true {
                    published.withLock { $0.append(name) }
                    return
                }
                suffix += 1
            }
        }
        let names = published.withLock { $0 }
        #expect(Set(names).count == 16)
        let contents = try names.map { String(decoding: try FileSystem.readFile(root.appending($0).appending("content")), as: UTF8.self) }
        #expect(Set(contents) == Set((0..<16).map { "\($0)" }), "every result kept, none replaced")
        #expect(try FileSystem.list(root).filter { $0.hasSuffix(".naming") }.isEmpty)
    }

    @Test func theHostAndItsFileSystems() throws {
        #expect(!Host.name().isEmpty)
        #expect(Host.bootID().count == 36, "a UUID from /proc/sys/kernel/random/boot_id")
        #expect(Host.processExists(getpid()))
        #expect(!Host.processExists(0))
        let local = try Host.fileSystemKind(root)
        #expect(!local.isShared, "a temporary folder is local: \(local)")
        #expect(Host.FileSystemKind(magic: 0x6969).name == "nfs" && Host.FileSystemKind(magic: 0x6969).isShared)
        for magic: UInt64 in [0xFF53_4D42, 0x00C3_6400, 0x0102_1997, 0x6573_5546] {
            #expect(Host.FileSystemKind(magic: magic).isShared)
        }
        #expect(Host.FileSystemKind(magic: 0xEF53).name == "ext4" && !Host.FileSystemKind(magic: 0xEF53).isShared)
        #expect(throws: SystemIOError.self) { try Host.fileSystemKind(root.appending("missing")) }
    }
}
