import Synchronization
public import SystemPackage

/// Fault injection for tests: a set of rules that make named system calls fail with a
/// chosen `errno` instead of running, for paths that contain a fragment.
///
/// Every call made through ``Syscall/libc(_:_:_:)`` asks the hook first, so an injected
/// failure looks to the caller exactly like a real failure of that call — in every
/// module that does file input and output (image files, model files, job outputs, the
/// spool). Nothing is armed unless ``install(_:report:)`` is called; the daemon arms it
/// from `PIXELRNND_FAULTS` (parsed by the Spool module, see docs/daemon.md).
public enum FaultHook {
    /// One rule: the next `remaining` calls of `call` whose path contains `fragment` fail
    /// with `errno`.
    public struct Rule: Sendable, Equatable {
        /// The C function's name, as errors spell it (`write`, `fsync`, `renameat2`…).
        public var call: String
        /// The errno as the rule spelled it (`EIO`, `13`…), for the report.
        public var errnoName: String
        /// The errno the call fails with.
        public var errno: Errno
        /// How many more calls fail; `nil` means every one.
        public var remaining: Int?
        /// Only calls whose path contains this text fail; empty matches every path.
        public var fragment: String

        /// Creates a rule.
        /// - Parameters:
        ///   - call: the C function's name; one of ``FaultHook/calls``.
        ///   - errnoName: the errno's spelling, for the report.
        ///   - errno: what the call fails with.
        ///   - remaining: how many calls fail (`nil`: all of them).
        ///   - fragment: a path fragment; empty matches every path.
        public init(call: String, errnoName: String, errno: Errno, remaining: Int?, fragment: String) {
            self.call = call
            self.errnoName = errnoName
            self.errno = errno
            self.remaining = remaining
            self.fragment = fragment
        }
    }

    /// Told about each injected failure: the rule that fired and the call's path.
    public typealias Report = @Sendable (_ rule: Rule, _ path: String) -> Void

    /// The calls that go through ``Syscall/libc(_:_:_:)`` and can therefore be made to fail.
    public static let calls: Set<String> = [
        "open", "read", "write", "fsync", "lstat", "fstat", "rename", "renameat2", "mkdir", "unlink", "rmdir",
        "statvfs", "flock", "socket", "sendto", "link", "statfs", "ftruncate",
    ]

    private struct Armed {
        var rules: [Rule] = []
        var report: Report?
    }

    private static let state = Mutex(Armed())
    /// Whether any rule is armed: read without the lock by every system call.
    private static let armed = Atomic(false)

    /// Whether any rule is armed.
    static var isArmed: Bool { armed.load(ordering: .acquiring) }

    /// Arms `rules` (replacing any armed before); an empty list disarms the hook.
    /// - Parameters:
    ///   - rules: the rules, tried in order; the first that matches a call fires.
    ///   - report: called after each injected failure, outside the hook's lock.
    public static func install(_ rules: [Rule], report: Report?) {
        state.withLock {
            $0 = Armed(rules: rules, report: report)
            armed.store(!rules.isEmpty, ordering: .releasing)
        }
    }

    /// The injected error for this call, if a rule matches (using up one of its count).
    /// - Parameters:
    ///   - call: the C function about to run.
    ///   - path: the path it is about.
    /// - Returns: the `errno` to fail with, or `nil` to run the call.
    static func failure(call: String, path: FilePath, also other: FilePath? = nil) -> Errno? {
        let fired: (rule: Rule, report: Report?)? = state.withLock { armed in
            guard !armed.rules.isEmpty else { return nil }
            let text = path.string, otherText = other?.string ?? ""
            for i in armed.rules.indices
            where armed.rules[i].call == call
                && (armed.rules[i].fragment.isEmpty || text.contains(armed.rules[i].fragment)
                    || (other != nil && otherText.contains(armed.rules[i].fragment))) {
                if let left = armed.rules[i].remaining {
                    guard left > 0 else { continue }
                    armed.rules[i].remaining = left - 1
                }
                return (armed.rules[i], armed.report)
            }
            return nil
        }
        guard let fired else { return nil }
        fired.report?(fired.rule, other.map { "\(path.string) -> \($0.string)" } ?? path.string)
        return fired.rule.errno
    }
}
