#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The few file operations the codecs need, each system call through
/// ``FileIO/retrying(_:_:path:)``, which retries `EINTR` and keeps errno, the call's
/// name and the path.
enum FileIO {
    /// Runs `call` until it does not fail with `EINTR`; throws `.io` with errno on failure.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ operation: String, path: String, _ call: () -> T) throws(ImagingError) -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw .io(path: path, operation: operation, errno: code)
        }
    }

    /// What a file type is called in error messages.
    static func kindName(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "regular file"
        case S_IFDIR: "directory"
        case S_IFLNK: "symbolic link"
        case S_IFIFO: "FIFO"
        case S_IFSOCK: "socket"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        default: "unknown file type"
        }
    }

    /// Reads a whole regular file of at most `maxBytes` bytes.
    ///
    /// Opens with `O_NOFOLLOW | O_NONBLOCK` (no symlink as last component; a FIFO cannot
    /// block the open), then requires a regular file with `fstat` and checks its size
    /// before allocating. A file that grows past `maxBytes` while being read is refused too.
    static func readRegularFile(at path: String, maxBytes: Int) throws(ImagingError) -> [UInt8] {
        let fd: Int32
        do {
            fd = try retrying("open", path: path) { open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        } catch {
            if case .io(_, _, let code) = error, code == ELOOP {
                throw .notRegularFile(path: path, kind: "symbolic link")
            }
            throw error
        }
        defer { close(fd) }

        var status = stat()
        try retrying("fstat", path: path) { fstat(fd, &status) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .notRegularFile(path: path, kind: kindName(mode: status.st_mode))
        }
        let size = Int(status.st_size)
        if size > maxBytes { throw .inFile(path: path, .fileTooLarge(bytes: size, limit: maxBytes)) }
        if size == 0 { throw .inFile(path: path, .empty) }

        // One byte more than fstat promised, to notice a file that grew.
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var count = 0
        while count < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(ImagingError) in
                    try retrying("read", path: path) { read(fd, buffer.baseAddress! + count, buffer.count - count) }
                }
            }.get()
            if n == 0 { break }
            count += n
        }
        if count > maxBytes { throw .inFile(path: path, .fileTooLarge(bytes: count, limit: maxBytes)) }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Writes `bytes` to `path` (created 0644 or truncated; `O_NOFOLLOW`), optionally
    /// `fsync`ing before close. A failing `close` is reported too.
    static func writeFile(at path: String, bytes: [UInt8], sync: Bool) throws(ImagingError) {
        let fd = try retrying("open", path: path) {
            open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        }
        var closed = false
        defer { if !closed { close(fd) } }
        var written = 0
        while written < bytes.count {
            let n = try bytes.withUnsafeBytes { buffer in
                Result { () throws(ImagingError) in
                    try retrying("write", path: path) { write(fd, buffer.baseAddress! + written, buffer.count - written) }
                }
            }.get()
            written += n
        }
        if sync { try retrying("fsync", path: path) { fsync(fd) } }
        closed = true
        if close(fd) != 0 { throw .io(path: path, operation: "close", errno: errno) }
    }
}
