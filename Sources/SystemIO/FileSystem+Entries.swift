#if canImport(Glibc)
import Glibc
#endif
public import SystemPackage

// Folders and their entries: create, list, rename, remove, lock.
extension FileSystem {
    /// `mkdir(2)`; with `allowExisting`, an existing folder (not a link to one) is fine.
    /// - Throws: `EEXIST` when the path exists and is not a folder (or `allowExisting` is false).
    public static func makeDirectory(
        _ path: FilePath, allowExisting: Bool = false, mode: CInterop.Mode = 0o755
    ) throws(SystemIOError) {
        do {
            try Syscall.libc("mkdir", path) { path.withPlatformString { mkdir($0, mode) } }
        } catch .system(_, _, .fileExists) where allowExisting {
            guard try metadata(path)?.kind == .directory else {
                throw .system(call: "mkdir", path: path.string, errno: .fileExists)
            }
        }
    }

    /// Creates a folder and any missing folders above it (`mkdir -p`); existing folders,
    /// or links to folders, are fine.
    public static func makeDirectories(_ path: FilePath, mode: CInterop.Mode = 0o755) throws(SystemIOError) {
        if try metadata(path, followLinks: true)?.kind == .directory { return }
        let parent = path.removingLastComponent()
        if !parent.isEmpty && parent != path { try makeDirectories(parent, mode: mode) }
        try makeDirectory(path, allowExisting: true, mode: mode)
    }

    /// The names in a folder (without `.` and `..`), unsorted.
    public static func list(_ path: FilePath) throws(SystemIOError) -> [String] {
        try listWithMetadata(path, stat: { _ in false }).map(\.name)
    }

    /// The names in a folder (without `.` and `..`), unsorted, each with its metadata
    /// (`lstat`, taken relative to the open folder: the folder's own path is not looked up
    /// again for every name). A name `stat` is false for, or one that vanished or cannot be
    /// read in between, comes with `nil`. Each `lstat` goes through ``Syscall`` (under the
    /// name "lstat", with the entry's path), so ``FaultHook`` rules reach it.
    public static func listWithMetadata(
        _ path: FilePath, stat wanted: (String) -> Bool
    ) throws(SystemIOError) -> [(name: String, metadata: Metadata?)] {
        let dir = try Syscall.libcPointer("opendir", path) { path.withPlatformString { opendir($0) } }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        var entries: [(name: String, metadata: Metadata?)] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .system(call: "readdir", path: path.string, errno: Errno(rawValue: errno)) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            guard wanted(name) else {
                entries.append((name, nil))
                continue
            }
            var st = stat()
            let found = withUnsafeBytes(of: entry.pointee.d_name) { raw -> Bool in
                let cName = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                return (try? Syscall.libc("lstat", path: { path.appending(name) }) {
                    fstatat(fd, cName, &st, AT_SYMLINK_NOFOLLOW)
                }) != nil
            }
            entries.append((name, found ? Metadata(st) : nil))
        }
        return entries
    }

    /// `rename(2)`: replaces `destination` if it exists.
    public static func rename(_ source: FilePath, to destination: FilePath) throws(SystemIOError) {
        try Syscall.libc("rename", source, also: destination) {
            source.withPlatformString { s in destination.withPlatformString { d in Glibc.rename(s, d) } }
        }
    }

    /// `unlink(2)`.
    public static func unlink(_ path: FilePath) throws(SystemIOError) {
        try Syscall.libc("unlink", path) { path.withPlatformString { Glibc.unlink($0) } }
    }

    /// Removes a file or a whole folder tree, never following symbolic links; a missing
    /// path is fine.
    public static func removeTree(_ path: FilePath) throws(SystemIOError) {
        guard let meta = try metadata(path) else { return }
        if meta.kind == .directory {
            for name in try list(path) { try removeTree(path.appending(name)) }
            try Syscall.libc("rmdir", path) { path.withPlatformString { rmdir($0) } }
        } else {
            try unlink(path)
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    /// glibc's `renameat2`, which the Swift Glibc module does not import; looked up once.
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()

    /// `renameat2(…, RENAME_NOREPLACE)`: renames only if `destination` does not exist.
    ///
    /// Where that cannot be done — a C library without `renameat2`, a kernel without it
    /// (`ENOSYS`), a file system without `RENAME_NOREPLACE` (`EINVAL`, as NFS answers) — it
    /// falls back to ``renameNoReplaceFallback(_:to:)``, which keeps the guarantee by other
    /// means, and tells `fallback` why (every time; the caller decides whether to say so once).
    /// - Parameters:
    ///   - source: the entry to rename.
    ///   - destination: its new name, which must not exist.
    ///   - fallback: given the reason whenever the fallback is used.
    /// - Returns: `false` when `destination` exists (`EEXIST`); nothing was changed then.
    public static func renameNoReplace(
        _ source: FilePath, to destination: FilePath, fallback: (_ reason: String) -> Void = { _ in }
    ) throws(SystemIOError) -> Bool {
        if let renameat2 = renameat2Function {
            do {
                try Syscall.libc("renameat2", source, also: destination) {
                    source.withPlatformString { s in
                        destination.withPlatformString { d in renameat2(AT_FDCWD, s, AT_FDCWD, d, 1 /* RENAME_NOREPLACE */) }
                    }
                }
                return true
            } catch .system(_, _, .fileExists) {
                return false
            } catch .system(_, let path, let code) where code == .noFunction || code == .invalidArgument {
                fallback("renameat2(\(path), RENAME_NOREPLACE) failed: \(code.description) (errno \(code.rawValue))")
            }
        } else {
            fallback("the C library has no renameat2")
        }
        return try renameNoReplaceFallback(source, to: destination)
    }

    /// The marker a fallback publication of a folder holds while it renames: `.NAME.naming`
    /// beside `NAME`, created with `O_EXCL`.
    public static func namingMarker(for destination: FilePath) -> FilePath {
        destination.removingLastComponent().appending(".\(destination.lastComponent?.string ?? "").naming")
    }

    /// A rename that never replaces anything, without `RENAME_NOREPLACE`:
    /// - a file (anything but a folder) is hard-linked to `destination` (`link(2)` fails
    ///   with `EEXIST` when the name is taken, atomically, NFS included), then its old name
    ///   is unlinked;
    /// - a folder cannot be hard-linked. The name is first reserved by creating the marker
    ///   ``namingMarker(for:)`` with `O_EXCL` (atomic on NFSv3 and later): of two publishers
    ///   of one name, only one holds it, and the other moves on as if the name were taken.
    ///   The holder checks that `destination` does not exist and renames with `rename(2)`,
    ///   which in any case refuses to replace a folder that is not empty (`ENOTEMPTY`,
    ///   `EEXIST`), taken as "the name is taken"; then it removes the marker. A marker left
    ///   by a death keeps its name from being used until it is removed
    ///   (``removeStaleNamingMarkers(in:olderThan:now:)``).
    /// - Returns: `false` when `destination` exists or is being taken; nothing was changed then.
    public static func renameNoReplaceFallback(_ source: FilePath, to destination: FilePath) throws(SystemIOError) -> Bool {
        guard let meta = try metadata(source) else {
            throw .system(call: "lstat", path: source.string, errno: .noSuchFileOrDirectory)
        }
        if meta.kind != .directory {
            do {
                try Syscall.libc("link", source, also: destination) {
                    source.withPlatformString { s in destination.withPlatformString { d in Glibc.link(s, d) } }
                }
            } catch .system(_, _, .fileExists) {
                return false
            }
            try unlink(source)
            return true
        }
        let marker = namingMarker(for: destination)
        do {
            try writeFile(marker, [], sync: false, permissions: 0o600)
        } catch .system(_, _, .fileExists) {
            return false
        }
        defer { _ = marker.withPlatformString { Glibc.unlink($0) } }
        if try metadata(destination) != nil { return false }
        do {
            try rename(source, to: destination)
        } catch .system(_, _, let code) where code == .directoryNotEmpty || code == .fileExists {
            return false
        }
        return true
    }

    /// Removes the naming markers (``namingMarker(for:)``) in `folder` older than `age`
    /// seconds: a publisher holds one for the moments of a rename, so an old one was left
    /// by a death.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeStaleNamingMarkers(in folder: FilePath, olderThan age: Double, now: Double) -> [String] {
        var removed: [String] = []
        for name in (try? list(folder)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".naming") {
            let path = folder.appending(name)
            guard let meta = try? metadata(path), meta.kind == .regular, now - meta.modified >= age else { continue }
            if (try? unlink(path)) != nil { removed.append(name) }
        }
        return removed
    }

    /// `F_SETLEASE` (Linux); not exported by the Swift Glibc module.
    private static let F_SETLEASE: Int32 = 1024

    /// Whether some process has `path` open for writing, asked of the kernel by trying to take
    /// a read lease (`fcntl(F_SETLEASE, F_RDLCK)`), which Linux grants only when no one does.
    /// - Returns: `true` (busy), `false` (not open for writing), or `nil` when the kernel
    ///   would not let us ask (not the file's owner and no `CAP_LEASE`, or a file system
    ///   without leases, or the file cannot be opened). A question, not an operation: it is
    ///   not subject to ``FaultHook`` rules.
    public static func isOpenForWriting(_ path: FilePath) -> Bool? {
        let raw = path.withPlatformString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        guard raw >= 0 else { return nil }
        defer { _ = Glibc.close(raw) }
        if fcntl(raw, F_SETLEASE, Int32(F_RDLCK)) == 0 {
            _ = fcntl(raw, F_SETLEASE, Int32(F_UNLCK))
            return false
        }
        let code = errno
        if code == EAGAIN || code == EBUSY { return true }
        return nil
    }

    /// Takes a non-blocking exclusive `flock` on a folder.
    /// - Returns: the locked descriptor (closing it releases the lock), or `nil` if another
    ///   process holds the lock.
    public static func lockDirectory(_ path: FilePath) throws(SystemIOError) -> FileDescriptor? {
        let raw = try Syscall.libc("open", path) {
            path.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) }
        }
        do {
            try Syscall.libc("flock", path) { flock(raw, LOCK_EX | LOCK_NB) }
            return FileDescriptor(rawValue: raw)
        } catch {
            _ = Glibc.close(raw)
            if case .system(_, _, .wouldBlock) = error { return nil }
            throw error
        }
    }
}
