import SystemIO
public import SystemPackage

/// Everything that can go wrong in the spool daemon, with what a person needs to act on it.
///
/// The `description` of each case is what lands in a job's `error.json` (`reason`) and in
/// the status file's `last_error`, so it is written for the person who dropped the file.
public enum SpoolError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A system call failed: the call's name, the path it was about, and `errno`.
    case system(call: String, path: String, errno: Errno)
    /// The configuration file or a flag has a bad value or an unknown key.
    case configuration(String)
    /// An input is not a regular file (directory, symbolic link, FIFO…); it is never followed.
    case notARegularFile(name: String, kind: String)
    /// An input's name matches no job role (`NAME.png|jpg|jpeg`, `NAME.mask.png`, `NAME.json`).
    case unrecognisedName(String)
    /// An input is not what its name says, or is damaged.
    case badInput(String)
    /// An image or file exceeds a configured limit.
    case limitExceeded(String)
    /// A job has a mask or options but its image never arrived, or the reverse.
    case incompleteJob(String)
    /// The daemon died `attempts` times while the job was the only one in flight (a
    /// poison job), or its results could not be published that many times.
    case tooManyAttempts(Int)
    /// The model could not be loaded; the previous one (if any) stays in use.
    case modelLoad(path: String, reason: String)
    /// Making a job's outputs failed for a reason other than a system call (the PNG
    /// encoder); a failed system call is ``system(call:path:errno:)``.
    case outputFailed(String)

    /// Whether the failure is about the machine rather than the job, so that the job is
    /// kept in `work/` and tried again with backoff (``RetryPolicy``; not an attempt)
    /// instead of failed at once: a system call that failed with `ENOSPC`, `EDQUOT`, `EIO`,
    /// `EROFS` or `ENOMEM` while reading the inputs, writing the results or publishing them
    /// (SystemIO's one rule, `SystemIOError.isTransient(_:)`). Everything else is the job's fault.
    public var isTransient: Bool {
        if case .system(_, _, let code) = self { return SystemIOError.isTransient(code) }
        return false
    }

    /// Whether the failure says the file system has no room (`ENOSPC`, `EDQUOT`): claiming
    /// pauses until space is freed.
    public var isNoSpace: Bool {
        if case .system(_, _, let code) = self { return SystemIOError.isNoSpace(code) }
        return false
    }

    public var description: String {
        switch self {
        case let .system(call, path, errno):
            return "\(call)(\(path)) failed: \(errno.description) (errno \(errno.rawValue))"
        case let .configuration(message):
            return "configuration: \(message)"
        case let .notARegularFile(name, kind):
            return "'\(name)' is a \(kind), not a regular file; it was not followed or read"
        case let .unrecognisedName(name):
            return "'\(name)' is not a job input name (expected NAME.png, NAME.jpg, NAME.jpeg, NAME.mask.png or NAME.json)"
        case let .badInput(message):
            return message
        case let .limitExceeded(message):
            return message
        case let .incompleteJob(message):
            return message
        case let .tooManyAttempts(attempts):
            return "the job was tried \(attempts) times and never finished (the daemon died while it was the only job running, or its results could not be published); giving up"
        case let .modelLoad(path, reason):
            return "cannot load model '\(path)': \(reason)"
        case let .outputFailed(message):
            return "writing the results failed: \(message)"
        }
    }
}
