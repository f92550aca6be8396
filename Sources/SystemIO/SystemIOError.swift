public import SystemPackage

/// A failed file or system operation, with what a person needs to act on it.
///
/// Every system call of this package goes through ``Syscall``, so a failure always
/// names the C function, the path it was about and `errno`.
public enum SystemIOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed: the C function's name, the path it was about, and `errno`.
    case system(call: String, path: String, errno: Errno)
    /// `path` is not a regular file; `kind` says what it is ("directory", "symbolic link",
    /// "FIFO"…). A symbolic link is never followed where the path comes from outside.
    case notRegularFile(path: String, kind: String)
    /// The file at `path` holds `bytes` bytes, more than the `limit` its reader allows.
    case tooLarge(path: String, bytes: Int64, limit: Int64)

    /// Whether the failure is transient: an I/O error that is not the fault of the data
    /// being read or written, so that the same operation may succeed later. That is a
    /// system call failing with `ENOSPC`, `EDQUOT`, `EIO`, `EROFS` or `ENOMEM` (see
    /// ``isTransient(_:)``); every other failure is permanent.
    public var isTransient: Bool {
        if case .system(_, _, let code) = self { return Self.isTransient(code) }
        return false
    }

    /// The one rule for transient errors: `ENOSPC`, `EDQUOT`, `EIO`, `EROFS` and `ENOMEM`
    /// (disk full, quota, I/O error, read-only file system, out of memory) are the
    /// machine's trouble, not the job's, and worth retrying while reading inputs, writing
    /// results or publishing them. Modules that keep `errno` in their own error types ask
    /// this function, so that the whole program classifies errors the same way.
    /// - Parameter code: the `errno` of a failed system call.
    /// - Returns: whether an operation that failed with `code` may be retried.
    public static func isTransient(_ code: Errno) -> Bool {
        switch code {
        case .noSpace, .diskQuotaExceeded, .ioError, .readOnlyFileSystem, .noMemory: return true
        default: return false
        }
    }

    /// Whether a transient failure says that the file system has no room left: `ENOSPC`
    /// (disk full) or `EDQUOT` (quota). Writing more waits until space is freed.
    /// - Parameter code: the `errno` of a failed system call.
    public static func isNoSpace(_ code: Errno) -> Bool {
        code == .noSpace || code == .diskQuotaExceeded
    }

    /// The path the error is about.
    public var path: String {
        switch self {
        case .system(_, let path, _), .notRegularFile(let path, _), .tooLarge(let path, _, _): return path
        }
    }

    public var description: String {
        switch self {
        case let .system(call, path, code):
            return "\(call)(\(path)) failed: \(code.description) (errno \(code.rawValue))"
        case let .notRegularFile(path, kind):
            return "\(path): not a regular file (\(kind))"
        case let .tooLarge(path, bytes, limit):
            return "\(path) is \(bytes) bytes; the limit is \(limit)"
        }
    }
}
