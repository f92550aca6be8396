// Plain POSIX file input/output for the data and checkpoint layers: whole-file
// reads, chunked reads and atomic replacement (temporary file, fsync, rename,
// fsync of the folder). Every call goes through `systemCall`, which retries EINTR
// and keeps the failing call's name and errno.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: its name and `errno`.
struct SystemCallError: Error, Equatable, CustomStringConvertible {
    /// The C function that failed, such as `"open"`.
    var call: String
    /// The `errno` it left.
    var errno: Int32

    /// The C library's text for ``errno``.
    var message: String { String(cString: strerror(errno)) }

    var description: String { "\(call): \(message) (errno \(errno))" }
}

/// Runs a system call until it does not fail with `EINTR`; a result of -1 throws.
@discardableResult
func systemCall<Result: BinaryInteger>(
    _ name: String, _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(call: name, errno: code)
    }
}

/// Caseless namespace for the file operations the data and checkpoint code needs.
enum FileIO {
    /// Opens `path` read-only and runs `body` with the descriptor, closing it afterwards.
    /// Refuses anything but a regular file (`EISDIR`/`EINVAL` for folders and devices).
    static func withReadOnlyFile<T>(
        _ path: String, _ body: (_ fd: Int32, _ size: Int) throws -> T
    ) throws -> T {
        let fd = try systemCall("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var info = stat()
        try systemCall("fstat") { fstat(fd, &info) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw SystemCallError(call: "open", errno: EISDIR) }
        if (info.st_mode & S_IFMT) != S_IFREG { throw SystemCallError(call: "open", errno: EINVAL) }
        return try body(fd, Int(info.st_size))
    }

    /// Reads up to `buffer.count` bytes, stopping early only at end of file.
    /// - Returns: The number of bytes read.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try systemCall("read") { read(fd, buffer.baseAddress! + done, buffer.count - done) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The whole content of the regular file at `path`.
    static func readAll(_ path: String) throws -> [UInt8] {
        try withReadOnlyFile(path) { fd, size in
            var bytes = [UInt8](repeating: 0, count: size)
            let got = try bytes.withUnsafeMutableBytes { try readFully(fd, into: $0) }
            if got < size { bytes.removeLast(size - got) }  // shrank while reading
            return bytes
        }
    }

    /// Replaces the file at `path` with `bytes` atomically: the bytes go to a new
    /// temporary file in the same folder, which is flushed (`fsync`), renamed over
    /// `path`, and then the folder is flushed too. Readers see the old file or the
    /// new one, never a mixture, and a crash leaves at most a hidden temporary file.
    /// The new file's mode is 0644.
    static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws(SystemCallError) {
        let (directory, name) = split(path)
        var template = Array("\(directory)/.\(name).tmp-XXXXXX".utf8CString)
        let fd = try template.withUnsafeMutableBufferPointer { buffer throws(SystemCallError) in
            try systemCall("mkstemp") { mkstemp(buffer.baseAddress!) }
        }
        let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var closed = false
        do {
            try systemCall("fchmod") { fchmod(fd, 0o644) }
            var done = 0
            while done < bytes.count {
                done += try systemCall("write") { write(fd, bytes.baseAddress! + done, bytes.count - done) }
            }
            try systemCall("fsync") { fsync(fd) }
            closed = true
            try systemCall("close") { close(fd) }
            try systemCall("rename") { rename(temporary, path) }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
        let directoryFD = try systemCall("open") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(directoryFD) }
        try systemCall("fsync") { fsync(directoryFD) }
    }

    /// Whether something (a file, a folder, anything) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Splits a path into its folder (`.` when there is none) and its last component.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
