#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import SystemPackage

/// The one way this module makes system calls: `EINTR` is retried, and a failure becomes
/// ``SpoolError/system(call:path:errno:)`` carrying the call's name, the path and `errno`.
enum Syscall {
    /// Runs a libc call that returns `-1` and sets `errno` on failure, retrying `EINTR`.
    /// - Parameters:
    ///   - call: the C function's name, for the error.
    ///   - path: the path the call is about, for the error.
    ///   - body: the call itself.
    /// - Returns: the call's non-negative result.
    /// - Throws: ``SpoolError/system(call:path:errno:)``.
    @discardableResult
    static func libc<T: FixedWidthInteger>(_ call: String, _ path: FilePath, _ body: () -> T) throws -> T {
        if let injected = FaultInjection.failure(call: call, path: path) {
            throw SpoolError.system(call: call, path: path.string, errno: injected)
        }
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Errno(rawValue: errno)
            if code == .interrupted { continue }
            throw SpoolError.system(call: call, path: path.string, errno: code)
        }
    }

    /// Runs a swift-system call (which already retries `EINTR`), converting its `Errno`.
    /// - Throws: ``SpoolError/system(call:path:errno:)``.
    @discardableResult
    static func system<T>(_ call: String, _ path: FilePath, _ body: () throws -> T) throws -> T {
        if let injected = FaultInjection.failure(call: call, path: path) {
            throw SpoolError.system(call: call, path: path.string, errno: injected)
        }
        do {
            return try body()
        } catch let code as Errno {
            throw SpoolError.system(call: call, path: path.string, errno: code)
        }
    }
}

/// File-system operations of the spool, each a thin wrapper over one system call.
enum FS {
    /// What kind of directory entry a path is, without following a final symbolic link.
    enum Kind: Equatable, Sendable {
        case regular, directory, symlink, fifo, socket, device, other

        init(mode: mode_t) {
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

        /// A word for error messages.
        var word: String {
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

    /// The metadata of a path, not following a final symbolic link (`lstat`).
    struct Metadata: Sendable {
        var kind: Kind
        var size: Int64
        /// Modification time in seconds since the epoch.
        var modified: Double
        var device: UInt64
        var inode: UInt64

        init(_ st: stat) {
            kind = Kind(mode: st.st_mode)
            size = Int64(st.st_size)
            modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        }
    }

    /// `lstat(2)`; `nil` when the path does not exist.
    static func metadata(_ path: FilePath) throws -> Metadata? {
        var st = stat()
        do {
            try Syscall.libc("lstat", path) { path.withPlatformString { lstat($0, &st) } }
        } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
            return nil
        }
        return Metadata(st)
    }

    /// `fstat(2)` of an open descriptor.
    static func metadata(of fd: FileDescriptor, path: FilePath) throws -> Metadata {
        var st = stat()
        try Syscall.libc("fstat", path) { fstat(fd.rawValue, &st) }
        return Metadata(st)
    }

    /// Opens an input for reading: `O_NOFOLLOW`, and `fstat` must say it is a regular file.
    /// - Throws: ``SpoolError/notARegularFile(name:kind:)`` for anything else (a symbolic link
    ///   fails the open with `ELOOP` and is reported as such), or a system error.
    static func openRegularFileForReading(_ path: FilePath) throws -> (FileDescriptor, Metadata) {
        let name = path.lastComponent?.string ?? path.string
        let fd: FileDescriptor
        do {
            fd = try Syscall.system("open", path) {
                try FileDescriptor.open(path, .readOnly, options: [.noFollow, .closeOnExec, .nonBlocking])
            }
        } catch SpoolError.system(_, _, .tooManySymbolicLinkLevels) {
            throw SpoolError.notARegularFile(name: name, kind: "symbolic link")
        }
        do {
            let meta = try metadata(of: fd, path: path)
            guard meta.kind == .regular else { throw SpoolError.notARegularFile(name: name, kind: meta.kind.word) }
            return (fd, meta)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Reads a whole regular file (opened with ``openRegularFileForReading(_:)``), at most `limit` bytes.
    static func readFile(_ path: FilePath, limit: Int64) throws -> [UInt8] {
        let (fd, meta) = try openRegularFileForReading(path)
        defer { try? fd.close() }
        guard meta.size <= limit else {
            throw SpoolError.limitExceeded("'\(path.lastComponent?.string ?? "")' is \(meta.size) bytes; the limit is \(limit)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(meta.size))
        var done = 0
        while done < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                try Syscall.system("read", path) {
                    try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                }
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Writes `bytes` to a new file (`O_EXCL`), fsyncs (when `sync`) and closes it.
    static func writeNewFile(_ path: FilePath, _ bytes: [UInt8], sync: Bool = true,
                             permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) throws {
        let fd = try Syscall.system("open", path) {
            try FileDescriptor.open(path, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec, .noFollow], permissions: permissions)
        }
        try fd.closeAfter {
            _ = try Syscall.system("write", path) { try fd.writeAll(bytes) }
            if sync { try Syscall.libc("fsync", path) { fsync(fd.rawValue) } }
        }
    }

    /// Replaces `path` atomically: writes `.NAME.PID.tmp` (a name the spool never takes),
    /// fsyncs it, renames it over `path`, fsyncs the folder. With `durable: false` the fsyncs
    /// are skipped: readers still never see a torn file, but a power cut may lose the update.
    static func replaceFile(_ path: FilePath, _ bytes: [UInt8], durable: Bool = true) throws {
        let dir = path.removingLastComponent()
        let tmp = dir.appending(".\(path.lastComponent?.string ?? "file").\(getpid()).tmp")
        _ = try? unlink(tmp)
        try writeNewFile(tmp, bytes, sync: durable)
        try rename(tmp, to: path)
        if durable { try syncDirectory(dir) }
    }

    /// Copies a regular file (never following a link) to a new file, fsyncing the copy when `sync`.
    static func copyFile(_ source: FilePath, to destination: FilePath, sync: Bool = true) throws {
        let (input, _) = try openRegularFileForReading(source)
        try input.closeAfter {
            let output = try Syscall.system("open", destination) {
                try FileDescriptor.open(destination, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec, .noFollow], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            }
            try output.closeAfter {
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = try buffer.withUnsafeMutableBytes { raw in
                        try Syscall.system("read", source) { try input.read(into: raw) }
                    }
                    if n == 0 { break }
                    _ = try Syscall.system("write", destination) { try output.writeAll(buffer[0..<n]) }
                }
                if sync { try Syscall.libc("fsync", destination) { fsync(output.rawValue) } }
            }
        }
    }

    /// `rename(2)`.
    static func rename(_ source: FilePath, to destination: FilePath) throws {
        try Syscall.libc("rename", source) {
            source.withPlatformString { s in destination.withPlatformString { d in Glibc.rename(s, d) } }
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    /// glibc's `renameat2`, which the Swift Glibc module does not import; looked up once.
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()

    /// Whether the warning about the non-atomic fallback has been logged (it is logged once).
    private static let fallbackWarned = Mutex(false)

    /// `renameat2(…, RENAME_NOREPLACE)`: renames only if `destination` does not exist.
    ///
    /// Where that cannot be done — a C library without `renameat2`, a kernel without it
    /// (`ENOSYS`), a file system without `RENAME_NOREPLACE` (`EINVAL`) — it falls back to a
    /// check-then-rename, which is not atomic against another writer of the same name, and
    /// logs a warning with the reason the first time.
    /// - Returns: `false` when `destination` exists (`EEXIST`); nothing was changed then.
    static func renameNoReplace(_ source: FilePath, to destination: FilePath) throws -> Bool {
        if let renameat2 = renameat2Function {
            do {
                try Syscall.libc("renameat2", source) {
                    source.withPlatformString { s in
                        destination.withPlatformString { d in renameat2(AT_FDCWD, s, AT_FDCWD, d, 1 /* RENAME_NOREPLACE */) }
                    }
                }
                return true
            } catch SpoolError.system(_, _, .fileExists) {
                return false
            } catch let SpoolError.system(_, path, code) where code == .noFunction || code == .invalidArgument {
                warnAboutFallback(
                    "renameat2(\(path), RENAME_NOREPLACE) failed: \(code.description) (errno \(code.rawValue))")
            }
        } else {
            warnAboutFallback("the C library has no renameat2")
        }
        if try metadata(destination) != nil { return false }
        try rename(source, to: destination)
        return true
    }

    private static func warnAboutFallback(_ reason: String) {
        guard fallbackWarned.withLock({ warned in defer { warned = true }; return !warned }) else { return }
        let message: Logger.Message =
            "renaming without RENAME_NOREPLACE: a check, then rename(2), which another process writing the same name could race"
        Logger(label: "pixelrnnd").warning(message, metadata: ["reason": "\(reason)"])
    }

    /// `mkdir(2)`; succeeds quietly when `allowExisting` and the folder exists.
    static func makeDirectory(_ path: FilePath, allowExisting: Bool = false, mode: mode_t = 0o755) throws {
        do {
            try Syscall.libc("mkdir", path) { path.withPlatformString { mkdir($0, mode) } }
        } catch SpoolError.system(_, _, .fileExists) where allowExisting {
            guard try metadata(path)?.kind == .directory else {
                throw SpoolError.configuration("\(path) exists and is not a folder")
            }
        }
    }

    /// `unlink(2)`.
    static func unlink(_ path: FilePath) throws {
        try Syscall.libc("unlink", path) { path.withPlatformString { Glibc.unlink($0) } }
    }

    /// Removes a file or a whole folder tree, never following symbolic links.
    static func removeTree(_ path: FilePath) throws {
        guard let meta = try metadata(path) else { return }
        if meta.kind == .directory {
            for name in try list(path) { try removeTree(path.appending(name)) }
            try Syscall.libc("rmdir", path) { path.withPlatformString { rmdir($0) } }
        } else {
            try unlink(path)
        }
    }

    /// The names in a folder (without `.` and `..`), unsorted.
    static func list(_ path: FilePath) throws -> [String] {
        guard let dir = try Syscall.libcPointer("opendir", path, { path.withPlatformString { opendir($0) } }) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SpoolError.system(call: "readdir", path: path.string, errno: Errno(rawValue: errno)) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let bytes = raw.prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// fsyncs a folder, so that renames into it are durable.
    static func syncDirectory(_ path: FilePath) throws {
        let fd = try Syscall.system("open", path) {
            try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec])
        }
        try fd.closeAfter { _ = try Syscall.libc("fsync", path) { fsync(fd.rawValue) } }
    }

    /// fsyncs every file and folder of a tree (the folder last), never following links.
    static func syncTree(_ path: FilePath) throws {
        guard let meta = try metadata(path) else { return }
        switch meta.kind {
        case .directory:
            for name in try list(path) { try syncTree(path.appending(name)) }
            try syncDirectory(path)
        case .regular:
            let fd = try Syscall.system("open", path) {
                try FileDescriptor.open(path, .readOnly, options: [.noFollow, .closeOnExec])
            }
            try fd.closeAfter { _ = try Syscall.libc("fsync", path) { fsync(fd.rawValue) } }
        default:
            break
        }
    }

    /// Bytes available to unprivileged users on the file system holding `path` (`statvfs`).
    static func freeBytes(_ path: FilePath) throws -> Int64 {
        var info = statvfs()
        try Syscall.libc("statvfs", path) { path.withPlatformString { statvfs($0, &info) } }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// `F_SETLEASE` (Linux); not exported by the Swift Glibc module.
    private static let F_SETLEASE: Int32 = 1024

    /// Whether some process has `path` open for writing, asked of the kernel by trying to take
    /// a read lease (`fcntl(F_SETLEASE, F_RDLCK)`), which Linux grants only when no one does.
    /// - Returns: `true` (busy), `false` (not open for writing), or `nil` when the kernel
    ///   would not let us ask (not the file's owner and no `CAP_LEASE`, or a file system
    ///   without leases); the caller then relies on the settle time alone.
    static func isOpenForWriting(_ path: FilePath) -> Bool? {
        guard let fd = try? FileDescriptor.open(path, .readOnly, options: [.noFollow, .closeOnExec, .nonBlocking]) else {
            return nil
        }
        defer { try? fd.close() }
        if fcntl(fd.rawValue, F_SETLEASE, Int32(F_RDLCK)) == 0 {
            _ = fcntl(fd.rawValue, F_SETLEASE, Int32(F_UNLCK))
            return false
        }
        let code = errno
        if code == EAGAIN || code == EBUSY { return true }
        return nil
    }

    /// Takes a non-blocking exclusive `flock` on a folder; `nil` if another process holds it.
    static func lockDirectory(_ path: FilePath) throws -> FileDescriptor? {
        let fd = try Syscall.system("open", path) {
            try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec, .noFollow])
        }
        do {
            try Syscall.libc("flock", path) { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
            return fd
        } catch SpoolError.system(_, _, .wouldBlock) {
            try? fd.close()
            return nil
        } catch {
            try? fd.close()
            throw error
        }
    }
}

extension Syscall {
    /// Runs a libc call that returns a pointer (`NULL` and `errno` on failure), retrying `EINTR`.
    static func libcPointer<T>(_ call: String, _ path: FilePath, _ body: () -> T?) throws -> T? {
        while true {
            if let result = body() { return result }
            let code = Errno(rawValue: errno)
            if code == .interrupted { continue }
            throw SpoolError.system(call: call, path: path.string, errno: code)
        }
    }
}
