// This module's error types keep a failed call as `io(path:call:errno:)`; these turn the
// SystemIO module's errors into them.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemIO
import SystemPackage

extension SystemIOError {
    /// The failure as the C call and `errno` a plain caller would have seen: a folder where
    /// a file was expected is `open` failing with `EISDIR`, another non-regular file `EINVAL`,
    /// a file over the size limit `EFBIG`.
    var callAndErrno: (call: String, errno: Int32) {
        switch self {
        case let .system(call, _, code): return (call, code.rawValue)
        case let .notRegularFile(_, kind): return ("open", kind == FileSystem.Kind.directory.word ? EISDIR : EINVAL)
        case .tooLarge: return ("read", EFBIG)
        }
    }
}

extension CheckpointError {
    /// A failed read or write of the checkpoint at `path`.
    init(_ error: SystemIOError, path: String) {
        let (call, code) = error.callAndErrno
        self = .io(path: path, call: call, errno: code)
    }
}

extension DatasetError {
    /// A failed read of the data file at `path`.
    init(_ error: SystemIOError, path: String) {
        let (call, code) = error.callAndErrno
        self = .io(path: path, call: call, errno: code)
    }
}
