#if canImport(Glibc)
import Glibc
#endif
import Synchronization
public import SystemPackage

/// File-system operations, each system call made through ``Syscall`` (so `EINTR` is
/// retried, ``FaultHook`` rules apply, and a failure is a ``SystemIOError`` naming the
/// call, the path and `errno`).
///
/// Paths that come from outside (inputs, outputs, spool entries) are opened with
/// `O_NOFOLLOW` and every descriptor with `O_CLOEXEC`; a file to be read must be a
/// regular file by `fstat`, so that a FIFO or device is refused without blocking.
public enum FileSystem {
    /// What kind of directory entry a path is.
    public enum Kind: Equatable, Sendable {
        /// A regular file, a folder, a symbolic link, a FIFO, a socket, a character or
        /// block device, or anything else.
        case regular, directory, symlink, fifo, socket, device, other

        /// The kind of a `stat` mode.
        public init(mode: CInterop.Mode) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regular
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .symlink
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            case S_IFCHR, S_IFBLK: self = .device
            default: self = .other
            }
        }

        /// A word for error messages ("regular file", "symbolic link"…).
        public var word: String {
            switch self {
            case .regular: return "regular file"
            case .directory: return "directory"
            case .symlink: return "symbolic link"
            case .fifo: return "FIFO"
            case .socket: return "socket"
            case .device: return "device node"
            case .other: return "special file"
            }
        }
    }

    /// The metadata of a path or descriptor.
    public struct Metadata: Sendable, Equatable {
        /// What the entry is.
        public var kind: Kind
        /// Size in bytes.
        public var size: Int64
        /// Modification time in seconds since the epoch.
        public var modified: Double
        /// The device holding the entry.
        public var device: UInt64
        /// The entry's inode number.
        public var inode: UInt64

        /// The fields of a `stat` result.
        init(_ st: stat) {
            kind = Kind(mode: st.st_mode)
            size = Int64(st.st_size)
            modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        }
    }

    // MARK: - Metadata

    /// `lstat(2)`, or `stat(2)` when `followLinks`.
    /// - Returns: the metadata, or `nil` when the path does not exist.
    public static func metadata(_ path: FilePath, followLinks: Bool = false) throws(SystemIOError) -> Metadata? {
        var st = stat()
        do {
            if followLinks {
                try Syscall.libc("stat", path) { path.withPlatformString { stat($0, &st) } }
            } else {
                try Syscall.libc("lstat", path) { path.withPlatformString { lstat($0, &st) } }
            }
        } catch .system(_, _, .noSuchFileOrDirectory) {
            return nil
        }
        return Metadata(st)
    }

    /// `fstat(2)` of an open descriptor; `path` names it in errors.
    public static func metadata(of fd: FileDescriptor, path: FilePath) throws(SystemIOError) -> Metadata {
        var st = stat()
        try Syscall.libc("fstat", path) { fstat(fd.rawValue, &st) }
        return Metadata(st)
    }

    /// Whether anything exists at `path`, following symbolic links; `false` when it
    /// cannot be told.
    public static func exists(_ path: FilePath) -> Bool {
        (try? metadata(path, followLinks: true)) != nil
    }

    /// Bytes available to unprivileged users on the file system holding `path` (`statvfs`).
    public static func freeBytes(_ path: FilePath) throws(SystemIOError) -> Int64 {
        try space(path).available
    }

    /// The size of a file system and the space left on it.
    public struct Space: Sendable, Equatable {
        /// Bytes the file system holds in all (`f_blocks × f_frsize`).
        public var size: Int64
        /// Bytes available to unprivileged users (`f_bavail × f_frsize`).
        public var available: Int64

        /// Creates a reading.
        public init(size: Int64, available: Int64) {
            self.size = size
            self.available = available
        }
    }

    /// The size of the file system holding `path` and the bytes available on it (`statvfs`).
    public static func space(_ path: FilePath) throws(SystemIOError) -> Space {
        var info = statvfs()
        try Syscall.libc("statvfs", path) { path.withPlatformString { statvfs($0, &info) } }
        return Space(size: Int64(info.f_blocks) * Int64(info.f_frsize), available: Int64(info.f_bavail) * Int64(info.f_frsize))
    }

    // MARK: - Reading

    /// Opens a regular file for reading: `O_NOFOLLOW` (unless `followLinks`), `O_NONBLOCK`
    /// so that a FIFO cannot block the open, and `fstat` must say it is a regular file.
    /// - Returns: the descriptor (the caller closes it) and the file's metadata.
    /// - Throws: ``SystemIOError/notRegularFile(path:kind:)`` for anything else (a symbolic
    ///   link fails the open with `ELOOP` and is reported as such), or a system error.
    public static func openRegularFile(
        _ path: FilePath, followLinks: Bool = false
    ) throws(SystemIOError) -> (FileDescriptor, Metadata) {
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW)
        let raw: Int32
        do {
            raw = try Syscall.libc("open", path) { path.withPlatformString { open($0, flags) } }
        } catch .system(_, _, .tooManySymbolicLinkLevels) where !followLinks {
            throw .notRegularFile(path: path.string, kind: Kind.symlink.word)
        }
        let fd = FileDescriptor(rawValue: raw)
        do throws(SystemIOError) {
            let meta = try metadata(of: fd, path: path)
            guard meta.kind == .regular else { throw .notRegularFile(path: path.string, kind: meta.kind.word) }
            return (fd, meta)
        } catch {
            _ = Glibc.close(raw)
            throw error
        }
    }

    /// Reads from `fd` until `buffer` is full or the file ends.
    /// - Returns: the number of bytes read (less than `buffer.count` only at the end).
    public static func read(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, path: FilePath
    ) throws(SystemIOError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try Syscall.libc("read", path) { Glibc.read(fd.rawValue, buffer.baseAddress! + done, buffer.count - done) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads a whole regular file (opened as ``openRegularFile(_:followLinks:)`` does) of at
    /// most `limit` bytes. The size is checked before anything is allocated, and a file
    /// that grows past `limit` while it is read is refused too.
    /// - Throws: ``SystemIOError/tooLarge(path:bytes:limit:)``,
    ///   ``SystemIOError/notRegularFile(path:kind:)`` or a system error.
    public static func readFile(
        _ path: FilePath, limit: Int64 = .max, followLinks: Bool = false
    ) throws(SystemIOError) -> [UInt8] {
        let (fd, meta) = try openRegularFile(path, followLinks: followLinks)
        defer { _ = Glibc.close(fd.rawValue) }
        guard meta.size <= limit else { throw .tooLarge(path: path.string, bytes: meta.size, limit: limit) }
        // One byte more than fstat promised, to notice a file that grew.
        var bytes = [UInt8](repeating: 0, count: Int(meta.size) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                let room = limit - Int64(count)
                if room < 0 { break }
                let wanted = Int64(max(count, 1 << 16))
                bytes += repeatElement(0, count: Int(room < wanted ? room + 1 : wanted))
            }
            let n = try Syscall.libc("read", path) {
                bytes.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress! + count, $0.count - count) }
            }
            if n == 0 { break }
            count += n
        }
        if Int64(count) > limit { throw .tooLarge(path: path.string, bytes: Int64(count), limit: limit) }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    // MARK: - Writing

    /// Writes `bytes` to a new file, `fsync`s it (when `sync`) and closes it; a failing
    /// `close` is reported too. `O_NOFOLLOW`: a symbolic link at `path` is refused.
    /// - Parameters:
    ///   - path: the file.
    ///   - bytes: its content.
    ///   - sync: `fsync` before closing.
    ///   - overwrite: truncate an existing file instead of failing with `EEXIST` (`O_EXCL`).
    ///   - permissions: the new file's mode (before the umask).
    public static func writeFile(
        _ path: FilePath, _ bytes: [UInt8], sync: Bool = true, overwrite: Bool = false, permissions: CInterop.Mode = 0o644
    ) throws(SystemIOError) {
        try withNewFile(path, sync: sync, overwrite: overwrite, permissions: permissions) { fd throws(SystemIOError) in
            try writeAll(fd, bytes, count: bytes.count, path: path)
        }
    }

    /// Replaces `path` atomically: writes a hidden temporary file beside it
    /// (`.NAME.PID.N.tmp`, a name the spool never takes), `fsync`s it, renames it over
    /// `path` and `fsync`s the folder. Readers see the old file or the new one, never a
    /// mixture; on failure the temporary file is removed. With `durable: false` the fsyncs
    /// are skipped: readers still never see a torn file, but a power cut may lose the update.
    public static func replaceFile(_ path: FilePath, _ bytes: [UInt8], durable: Bool = true) throws(SystemIOError) {
        let parent = path.removingLastComponent()
        let folder: FilePath = parent.isEmpty ? "." : parent
        let serial = temporarySerial.wrappingAdd(1, ordering: .relaxed).newValue
        let temporary = parent.appending(".\(path.lastComponent?.string ?? "file").\(getpid()).\(serial).tmp")
        do {
            try writeFile(temporary, bytes, sync: durable)
            try rename(temporary, to: path)
        } catch {
            _ = temporary.withPlatformString { Glibc.unlink($0) }
            throw error
        }
        if durable { try syncDirectory(folder) }
    }

    /// Rewrites a small file in place: opens it (creating it if needed), writes `bytes` at
    /// offset 0 and cuts it to their length; no fsync. When the new content is as long as
    /// the old, no new block is needed, so this works on a full disk where
    /// ``replaceFile(_:_:durable:)`` (a new file) does not. A reader may see a mixture of
    /// old and new bytes for a moment; use it for content whose every version is valid.
    public static func rewriteInPlace(_ path: FilePath, _ bytes: [UInt8]) throws(SystemIOError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW
        let raw = try Syscall.libc("open", path) { path.withPlatformString { open($0, flags, 0o644) } }
        do {
            var done = 0
            while done < bytes.count {
                done += try Syscall.libc("write", path) {
                    bytes.withUnsafeBytes { pwrite(raw, $0.baseAddress! + done, bytes.count - done, off_t(done)) }
                }
            }
            try Syscall.libc("ftruncate", path) { ftruncate(raw, off_t(bytes.count)) }
        } catch {
            _ = Glibc.close(raw)
            throw error
        }
        try Syscall.close(FileDescriptor(rawValue: raw), path: path)
    }

    /// Numbers the temporary files of ``replaceFile(_:_:durable:)`` within the process.
    private static let temporarySerial = Atomic<Int>(0)

    /// Copies a regular file (never following a link) to a new file, `fsync`ing the copy when `sync`.
    public static func copyFile(_ source: FilePath, to destination: FilePath, sync: Bool = true) throws(SystemIOError) {
        let (input, _) = try openRegularFile(source)
        defer { _ = Glibc.close(input.rawValue) }
        try withNewFile(destination, sync: sync, overwrite: false, permissions: 0o644) { output throws(SystemIOError) in
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = try Syscall.libc("read", source) {
                    buffer.withUnsafeMutableBytes { Glibc.read(input.rawValue, $0.baseAddress!, $0.count) }
                }
                if n == 0 { break }
                try writeAll(output, buffer, count: n, path: destination)
            }
        }
    }

    /// Creates a file, runs `body` with it, `fsync`s it when `sync`, and closes it.
    private static func withNewFile(
        _ path: FilePath, sync: Bool, overwrite: Bool, permissions: mode_t,
        _ body: (FileDescriptor) throws(SystemIOError) -> Void
    ) throws(SystemIOError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (overwrite ? O_TRUNC : O_EXCL)
        let raw = try Syscall.libc("open", path) { path.withPlatformString { open($0, flags, permissions) } }
        let fd = FileDescriptor(rawValue: raw)
        do {
            try body(fd)
            if sync { try Syscall.libc("fsync", path) { fsync(raw) } }
        } catch {
            _ = Glibc.close(raw)
            throw error
        }
        try Syscall.close(fd, path: path)
    }

    /// Writes the first `count` bytes of `bytes`, however many `write` calls it takes.
    private static func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], count: Int, path: FilePath) throws(SystemIOError) {
        var done = 0
        while done < count {
            done += try Syscall.libc("write", path) {
                bytes.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress! + done, count - done) }
            }
        }
    }

    // MARK: - Durability

    /// `fsync`s a folder, so that the entries created or renamed in it are durable.
    public static func syncDirectory(_ path: FilePath) throws(SystemIOError) {
        let raw = try Syscall.libc("open", path) { path.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } }
        defer { _ = Glibc.close(raw) }
        try Syscall.libc("fsync", path) { fsync(raw) }
    }

    /// `fsync`s every file and folder of a tree (each folder after its entries), never
    /// following symbolic links.
    public static func syncTree(_ path: FilePath) throws(SystemIOError) {
        guard let meta = try metadata(path) else { return }
        switch meta.kind {
        case .directory:
            for name in try list(path) { try syncTree(path.appending(name)) }
            try syncDirectory(path)
        case .regular:
            let raw = try Syscall.libc("open", path) {
                path.withPlatformString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
            }
            defer { _ = Glibc.close(raw) }
            try Syscall.libc("fsync", path) { fsync(raw) }
        default:
            break
        }
    }
}
