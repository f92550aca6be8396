import Foundation
import SystemIO
import SystemPackage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The transient-error rule: exactly ENOSPC, EDQUOT, EIO, EROFS and ENOMEM.
@Suite struct TransientRuleTests {
    @Test func exactlyTheMachinesIOErrorsAreTransient() {
        let transient: [Errno] = [.noSpace, .diskQuotaExceeded, .ioError, .readOnlyFileSystem, .noMemory]
        for code in transient {
            #expect(SystemIOError.isTransient(code))
            #expect(SystemIOError.system(call: "write", path: "/x", errno: code).isTransient)
        }
        let permanent: [Errno] = [
            .noSuchFileOrDirectory, .permissionDenied, .fileExists, .notDirectory, .isDirectory, .invalidArgument,
            .noFunction, .tooManySymbolicLinkLevels, .badFileDescriptor, .tooManyOpenFiles, .interrupted,
        ]
        for code in permanent { #expect(!SystemIOError.isTransient(code), "\(code)") }
        #expect(!SystemIOError.notRegularFile(path: "/x", kind: "FIFO").isTransient)
        #expect(!SystemIOError.tooLarge(path: "/x", bytes: 10, limit: 5).isTransient)
    }

    @Test func noSpaceIsEnospcAndEdquotOnly() {
        #expect(SystemIOError.isNoSpace(.noSpace) && SystemIOError.isNoSpace(.diskQuotaExceeded))
        for code: Errno in [.ioError, .readOnlyFileSystem, .noMemory, .permissionDenied] {
            #expect(!SystemIOError.isNoSpace(code), "\(code)")
        }
    }

    @Test func spaceGivesTheFileSystemsSizeAndWhatIsAvailable() throws {
        let folder = try TemporaryDirectory(prefix: "systemio-space")
        let space = try FileSystem.space(FilePath(folder.url.path))
        #expect(space.size > 0)
        #expect(space.available >= 0 && space.available <= space.size)
        #expect(try FileSystem.freeBytes(FilePath(folder.url.path)) <= space.size)
        #expect(throws: SystemIOError.self) { try FileSystem.space(FilePath(folder.url.path + "/missing")) }
    }

    @Test func descriptionsNameTheCallThePathAndErrno() {
        let error = SystemIOError.system(call: "fsync", path: "/spool/outbox", errno: .noSpace)
        #expect(error.description == "fsync(/spool/outbox) failed: No space left on device (errno 28)")
        #expect(SystemIOError.tooLarge(path: "/a", bytes: 9, limit: 4).description == "/a is 9 bytes; the limit is 4")
    }
}

/// Reading and writing files: regular files only, limits, no links followed unless asked.
@Suite struct FileSystemTests {
    let folder: TemporaryDirectory
    var root: FilePath { FilePath(folder.url.path) }

    init() throws { folder = try TemporaryDirectory(prefix: "systemio") }

    @Test func readFileReadsWithinTheLimitOnly() throws {
        let path = root.appending("data")
        try FileSystem.writeFile(path, Array(0..<100))
        #expect(try FileSystem.readFile(path) == Array(0..<100))
        #expect(try FileSystem.readFile(path, limit: 100) == Array(0..<100))
        #expect(throws: SystemIOError.tooLarge(path: path.string, bytes: 100, limit: 99)) {
            try FileSystem.readFile(path, limit: 99)
        }
        try FileSystem.writeFile(root.appending("empty"), [])
        #expect(try FileSystem.readFile(root.appending("empty"), limit: 0).isEmpty)
    }

    @Test func readFileRefusesLinksFIFOsAndFolders() throws {
        let target = root.appending("target")
        try FileSystem.writeFile(target, [1, 2, 3])
        let link = root.appending("link")
        #expect(symlink("target", link.string) == 0)
        #expect(throws: SystemIOError.notRegularFile(path: link.string, kind: "symbolic link")) {
            try FileSystem.readFile(link)
        }
        #expect(try FileSystem.readFile(link, followLinks: true) == [1, 2, 3])
        let fifo = root.appending("fifo")
        #expect(mkfifo(fifo.string, 0o600) == 0)
        #expect(throws: SystemIOError.notRegularFile(path: fifo.string, kind: "FIFO")) { try FileSystem.readFile(fifo) }
        #expect(throws: SystemIOError.notRegularFile(path: root.string, kind: "directory")) { try FileSystem.readFile(root) }
        let missing = root.appending("missing")
        #expect(throws: SystemIOError.system(call: "open", path: missing.string, errno: .noSuchFileOrDirectory)) {
            try FileSystem.readFile(missing)
        }
    }

    @Test func writeFileCreatesOnlyNewFilesUnlessToldToOverwrite() throws {
        let path = root.appending("new")
        try FileSystem.writeFile(path, [1, 2, 3, 4])
        #expect(throws: SystemIOError.system(call: "open", path: path.string, errno: .fileExists)) {
            try FileSystem.writeFile(path, [9])
        }
        try FileSystem.writeFile(path, [9], sync: false, overwrite: true)
        #expect(try FileSystem.readFile(path) == [9])
        let link = root.appending("link")
        #expect(symlink("new", link.string) == 0)
        #expect(throws: SystemIOError.system(call: "open", path: link.string, errno: .tooManySymbolicLinkLevels)) {
            try FileSystem.writeFile(link, [7], overwrite: true)
        }
        #expect(try FileSystem.readFile(path) == [9])
    }

    @Test func replaceFileSwapsInTheNewContentAndLeavesNoTemporaryFile() throws {
        let path = root.appending("status.json")
        try FileSystem.replaceFile(path, Array("one".utf8))
        try FileSystem.replaceFile(path, Array("two".utf8), durable: false)
        #expect(try FileSystem.readFile(path) == Array("two".utf8))
        #expect(try FileSystem.list(root) == ["status.json"])
        // The rename fails (a non-empty folder is in the way): the temporary file goes.
        let blocked = root.appending("blocked")
        try FileSystem.makeDirectory(blocked)
        try FileSystem.writeFile(blocked.appending("inside"), [1])
        #expect(throws: SystemIOError.self) { try FileSystem.replaceFile(blocked, [1]) }
        #expect(try FileSystem.list(root).sorted() == ["blocked", "status.json"])
    }

    @Test func copyAndRenameNeverReplaceWhatExists() throws {
        let a = root.appending("a"), b = root.appending("b")
        try FileSystem.writeFile(a, Array(repeating: 5, count: 200_000))
        try FileSystem.copyFile(a, to: b)
        #expect(try FileSystem.readFile(b) == Array(repeating: 5, count: 200_000))
        #expect(throws: SystemIOError.self) { try FileSystem.copyFile(a, to: b) }
        #expect(try !FileSystem.renameNoReplace(a, to: b))
        #expect(try FileSystem.renameNoReplace(a, to: root.appending("c")))
        #expect(try FileSystem.metadata(a) == nil)
    }

    @Test func foldersAreMadeListedSyncedAndRemoved() throws {
        let deep = root.appending("x/y/z")
        try FileSystem.makeDirectories(deep)
        try FileSystem.makeDirectories(deep)
        try FileSystem.makeDirectory(deep, allowExisting: true)
        #expect(throws: SystemIOError.system(call: "mkdir", path: deep.string, errno: .fileExists)) {
            try FileSystem.makeDirectory(deep)
        }
        try FileSystem.writeFile(deep.appending("f"), [1])
        #expect(throws: SystemIOError.system(call: "mkdir", path: deep.appending("f").string, errno: .fileExists)) {
            try FileSystem.makeDirectory(deep.appending("f"), allowExisting: true)
        }
        #expect(try FileSystem.metadata(deep)?.kind == .directory)
        #expect(try FileSystem.metadata(deep.appending("f"))?.size == 1)
        try FileSystem.syncTree(root.appending("x"))
        try FileSystem.removeTree(root.appending("x"))
        try FileSystem.removeTree(root.appending("x"))
        #expect(try FileSystem.list(root).isEmpty)
        #expect(!FileSystem.exists(root.appending("x")))
    }

    @Test func aFileDigestMatchesTheDigestOfItsBytes() throws {
        let path = root.appending("big")
        let bytes = (0..<((1 << 20) * 2 + 33)).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 2) }
        try FileSystem.writeFile(path, bytes)
        #expect(try SHA256.hash(fileAt: path) == SHA256.hash(bytes))
    }
}
