#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import SystemIO
import SystemPackage

/// The spool's file-system operations: the SystemIO module's (`FileSystem`), with their
/// failures as ``SpoolError``s — a system call's as ``SpoolError/system(call:path:errno:)``
/// (call, path, `errno`; ``SpoolError/isTransient`` follows SystemIO's one rule), a
/// non-regular input as ``SpoolError/notARegularFile(name:kind:)``, an oversized one as
/// ``SpoolError/limitExceeded(_:)``.
enum FS {
    /// What kind of directory entry a path is: SystemIO's kinds, under names that the
    /// spool's files can use without importing SystemIO.
    struct Kind: Equatable, Sendable {
        /// SystemIO's kind.
        let base: FileSystem.Kind
        static let regular = Kind(base: .regular)
        static let directory = Kind(base: .directory)
        static let symlink = Kind(base: .symlink)
        static let fifo = Kind(base: .fifo)
        static let socket = Kind(base: .socket)
        static let device = Kind(base: .device)
        static let other = Kind(base: .other)
        /// A word for error messages ("regular file", "symbolic link"…).
        var word: String { base.word }
    }

    /// The metadata of a path, not following a final symbolic link (`lstat`).
    struct Metadata: Sendable {
        var kind: Kind
        var size: Int64
        /// Modification time in seconds since the epoch.
        var modified: Double
        var device: UInt64
        var inode: UInt64

        init(_ metadata: FileSystem.Metadata) {
            kind = Kind(base: metadata.kind)
            size = metadata.size
            modified = metadata.modified
            device = metadata.device
            inode = metadata.inode
        }
    }

    /// Runs a SystemIO operation, turning its error into a ``SpoolError``.
    private static func io<T>(_ body: () throws(SystemIOError) -> T) throws(SpoolError) -> T {
        do { return try body() } catch { throw SpoolError(error) }
    }

    /// The names in a folder, each with its `lstat` metadata when `stat` says so (`nil`
    /// when it was not wanted, vanished or could not be read).
    static func listWithMetadata(_ path: FilePath, stat: (String) -> Bool) throws(SpoolError) -> [(name: String, metadata: Metadata?)] {
        try io { () throws(SystemIOError) in
            try FileSystem.listWithMetadata(path, stat: stat).map { ($0.name, $0.metadata.map(Metadata.init)) }
        }
    }

    /// `lstat(2)`; `nil` when the path does not exist.
    static func metadata(_ path: FilePath) throws(SpoolError) -> Metadata? {
        try io { () throws(SystemIOError) in try FileSystem.metadata(path).map(Metadata.init) }
    }

    /// Reads a whole regular file (`O_NOFOLLOW`, `fstat` says regular), at most `limit` bytes.
    static func readFile(_ path: FilePath, limit: Int64) throws(SpoolError) -> [UInt8] {
        try io { () throws(SystemIOError) in try FileSystem.readFile(path, limit: limit) }
    }

    /// Writes `bytes` to a new file (`O_EXCL`), fsyncs (when `sync`) and closes it.
    static func writeNewFile(_ path: FilePath, _ bytes: [UInt8], sync: Bool = true,
                             permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) throws(SpoolError) {
        try io { () throws(SystemIOError) in
            try FileSystem.writeFile(path, bytes, sync: sync, permissions: permissions.rawValue)
        }
    }

    /// Replaces `path` atomically (temporary file, fsync, rename, fsync of the folder; no
    /// fsyncs with `durable: false`).
    static func replaceFile(_ path: FilePath, _ bytes: [UInt8], durable: Bool = true) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.replaceFile(path, bytes, durable: durable) }
    }

    /// Rewrites a small file in place (see `FileSystem.rewriteInPlace`): no new block is
    /// needed when the length stays the same.
    static func rewriteInPlace(_ path: FilePath, _ bytes: [UInt8]) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.rewriteInPlace(path, bytes) }
    }

    /// Copies a regular file (never following a link) to a new file, fsyncing the copy when `sync`.
    static func copyFile(_ source: FilePath, to destination: FilePath, sync: Bool = true) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.copyFile(source, to: destination, sync: sync) }
    }

    /// `rename(2)`.
    static func rename(_ source: FilePath, to destination: FilePath) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.rename(source, to: destination) }
    }

    /// Whether the warning about the non-atomic fallback has been logged (it is logged once).
    private static let fallbackWarned = Mutex(false)

    /// `renameat2(…, RENAME_NOREPLACE)`, falling back to a check-then-rename where the
    /// system cannot do that (logged as a warning, with the reason, the first time).
    /// - Returns: `false` when `destination` exists; nothing was changed then.
    static func renameNoReplace(_ source: FilePath, to destination: FilePath) throws(SpoolError) -> Bool {
        try io { () throws(SystemIOError) in
            try FileSystem.renameNoReplace(source, to: destination, fallback: warnAboutFallback)
        }
    }

    /// Removes naming markers (`.NAME.naming`) older than `age` seconds from `folder`, left
    /// by a death during a publication without `RENAME_NOREPLACE`.
    static func removeStaleNamingMarkers(in folder: FilePath, olderThan age: Double, now: Double) -> [String] {
        FileSystem.removeStaleNamingMarkers(in: folder, olderThan: age, now: now)
    }

    private static func warnAboutFallback(_ reason: String) {
        guard fallbackWarned.withLock({ warned in defer { warned = true }; return !warned }) else { return }
        let message: Logger.Message =
            "renaming without RENAME_NOREPLACE: files by link(2) and unlink(2), folders under an O_EXCL naming marker and rename(2)"
        Logger(label: "pixelrnnd").warning(message, metadata: ["reason": "\(reason)"])
    }

    /// `mkdir(2)`; succeeds quietly when `allowExisting` and the folder exists.
    static func makeDirectory(_ path: FilePath, allowExisting: Bool = false, mode: mode_t = 0o755) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.makeDirectory(path, allowExisting: allowExisting, mode: mode) }
    }

    /// `unlink(2)`.
    static func unlink(_ path: FilePath) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.unlink(path) }
    }

    /// Removes a file or a whole folder tree, never following symbolic links.
    static func removeTree(_ path: FilePath) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.removeTree(path) }
    }

    /// The names in a folder (without `.` and `..`), unsorted.
    static func list(_ path: FilePath) throws(SpoolError) -> [String] {
        try io { () throws(SystemIOError) in try FileSystem.list(path) }
    }

    /// fsyncs a folder, so that renames into it are durable.
    static func syncDirectory(_ path: FilePath) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.syncDirectory(path) }
    }

    /// fsyncs every file and folder of a tree (the folder last), never following links.
    static func syncTree(_ path: FilePath) throws(SpoolError) {
        try io { () throws(SystemIOError) in try FileSystem.syncTree(path) }
    }

    /// Bytes available to unprivileged users on the file system holding `path` (`statvfs`).
    static func freeBytes(_ path: FilePath) throws(SpoolError) -> Int64 {
        try io { () throws(SystemIOError) in try FileSystem.freeBytes(path) }
    }

    /// The size of the file system holding `path` and the bytes available on it (`statvfs`).
    static func space(_ path: FilePath) throws(SpoolError) -> (size: Int64, available: Int64) {
        let space = try io { () throws(SystemIOError) in try FileSystem.space(path) }
        return (space.size, space.available)
    }

    /// Whether some process has `path` open for writing (`true`, `false`, or `nil` when
    /// the kernel would not say).
    static func isOpenForWriting(_ path: FilePath) -> Bool? {
        FileSystem.isOpenForWriting(path)
    }

    /// Takes a non-blocking exclusive `flock` on a folder; `nil` if another process holds it.
    static func lockDirectory(_ path: FilePath) throws(SpoolError) -> FileDescriptor? {
        try io { () throws(SystemIOError) in try FileSystem.lockDirectory(path) }
    }
}

extension SpoolError {
    /// A SystemIO failure in the spool's terms.
    init(_ error: SystemIOError) {
        switch error {
        case let .system(call, path, code):
            self = .system(call: call, path: path, errno: code)
        case let .notRegularFile(path, kind):
            self = .notARegularFile(name: FilePath(path).lastComponent?.string ?? path, kind: kind)
        case let .tooLarge(path, bytes, limit):
            self = .limitExceeded("'\(FilePath(path).lastComponent?.string ?? path)' is \(bytes) bytes; the limit is \(limit)")
        }
    }
}
