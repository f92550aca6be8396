#if canImport(Glibc)
import Glibc
#endif
public import SystemPackage

/// The one way this program makes system calls: a call armed in ``FaultHook`` fails with
/// its injected `errno` without running, `EINTR` is retried, and a failure becomes
/// ``SystemIOError/system(call:path:errno:)`` carrying the call's name, the path and `errno`.
public enum Syscall {
    /// Runs a libc call that returns `-1` and sets `errno` on failure, retrying `EINTR`.
    /// - Parameters:
    ///   - call: the C function's name, for the error and for ``FaultHook`` rules.
    ///   - path: the path the call is about, for the error and for ``FaultHook`` rules.
    ///   - other: a second path the call is about (a rename's destination), which
    ///     ``FaultHook`` rules match too.
    ///   - body: the call itself; it must not throw or touch `errno` after the call.
    /// - Returns: the call's result (not `-1`).
    /// - Throws: ``SystemIOError/system(call:path:errno:)``.
    @discardableResult
    public static func libc<T: FixedWidthInteger>(
        _ call: String, _ path: FilePath, also other: FilePath? = nil, _ body: () -> T
    ) throws(SystemIOError) -> T {
        try libc(call, path: { path }, also: other, body)
    }

    /// The same, for a call made many times in a row (an `lstat` per folder entry): the
    /// path is built only when a ``FaultHook`` rule is armed or the call fails.
    @discardableResult
    public static func libc<T: FixedWidthInteger>(
        _ call: String, path: () -> FilePath, also other: FilePath? = nil, _ body: () -> T
    ) throws(SystemIOError) -> T {
        if FaultHook.isArmed, let injected = FaultHook.failure(call: call, path: path(), also: other) {
            throw .system(call: call, path: path().string, errno: injected)
        }
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Errno(rawValue: errno)
            if code == .interrupted { continue }
            throw .system(call: call, path: path().string, errno: code)
        }
    }

    /// Runs a libc call that returns a pointer (`NULL` and `errno` on failure), retrying
    /// `EINTR`. Such calls (`opendir`) are not in ``FaultHook/calls``.
    /// - Parameters:
    ///   - call: the C function's name, for the error.
    ///   - path: the path the call is about.
    ///   - body: the call itself.
    /// - Returns: the call's non-`NULL` result.
    /// - Throws: ``SystemIOError/system(call:path:errno:)``.
    public static func libcPointer<T>(_ call: String, _ path: FilePath, _ body: () -> T?) throws(SystemIOError) -> T {
        while true {
            if let result = body() { return result }
            let code = Errno(rawValue: errno)
            if code == .interrupted { continue }
            throw .system(call: call, path: path.string, errno: code)
        }
    }

    /// Closes a descriptor; a failing `close` (which can carry a delayed write error) is
    /// reported. `EINTR` is not retried: on Linux the descriptor is released either way.
    /// - Throws: ``SystemIOError/system(call:path:errno:)``.
    public static func close(_ fd: FileDescriptor, path: FilePath) throws(SystemIOError) {
        if Glibc.close(fd.rawValue) != 0 {
            let code = Errno(rawValue: errno)
            if code != .interrupted { throw .system(call: "close", path: path.string, errno: code) }
        }
    }
}
