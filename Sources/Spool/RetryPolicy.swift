/// The one rule for transient errors and attempts (docs/daemon.md, *Failures of the machine,
/// not the input*):
///
/// - A transient error (``SpoolError/isTransient``: `ENOSPC`, `EDQUOT`, `EIO`, `EROFS`,
///   `ENOMEM` while reading inputs, writing results or publishing) is not an attempt. The
///   job stays in `work/` and is tried again after ``delay(afterFailures:)``: 1 s, doubling
///   to a cap of 5 minutes, or sooner when the file system reports room again.
/// - A transient error that persists past ``giveUpAfter`` (`transient_give_up`, 24 h by
///   default) sends the job to `failed/` once that is possible.
/// - An attempt is a run that ends without a result through the job's fault: the process
///   died while the job was the only one in flight (``CrashAttribution``), or publishing
///   failed with an error that is not transient. `max_attempts` of them fail the job.
///
/// Pure values and arithmetic, no I/O, so that every part of the daemon that retries
/// (jobs, claims) follows the same schedule.
public struct RetryPolicy: Sendable, Equatable {
    /// Seconds before the first retry (`transient_backoff_initial`).
    public var initialDelay: Double
    /// The longest wait between two tries (`transient_backoff_max`).
    public var maximumDelay: Double
    /// Seconds of transient failures after which the job goes to `failed/` (`transient_give_up`).
    public var giveUpAfter: Double

    /// The product's schedule: 1 s doubling to 5 minutes, giving up after 24 hours.
    public init(initialDelay: Double = 1, maximumDelay: Double = 300, giveUpAfter: Double = 86_400) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.giveUpAfter = giveUpAfter
    }

    /// The wait after the `failures`-th failure in a row (1, 2, 3…): `initialDelay ×
    /// 2^(failures − 1)`, at most `maximumDelay`.
    public func delay(afterFailures failures: Int) -> Double {
        var delay = initialDelay
        var doublings = failures - 1
        while doublings > 0, delay < maximumDelay {
            delay *= 2
            doublings -= 1
        }
        return min(delay, maximumDelay)
    }
}

/// One run of transient failures of a job (or of claiming): since when, how many, the last
/// error, and when to try again. Times are wall-clock seconds since the epoch, so that the
/// start of the run can be kept in the job's work folder across restarts.
public struct RetryState: Sendable, Equatable {
    /// Free space must grow by at least this much over the reading at the last failure
    /// before a job that met "no space" is tried early.
    public static let spaceRecoveredMargin: Int64 = 1 << 20

    /// When the first failure of this run happened.
    public private(set) var since: Double
    /// Failures in a row.
    public private(set) var failures = 0
    /// The last failure's description.
    public private(set) var lastError = ""
    /// Whether the last failure said the file system has no room (`ENOSPC`, `EDQUOT`).
    public private(set) var noSpace = false
    /// Free bytes on the spool's file system right after the last failure, when known.
    public private(set) var freeBytesAtFailure: Int64?
    /// When to try again.
    public private(set) var nextTry: Double

    /// A run of failures that began at `since` (now, or as kept in the work folder).
    public init(since: Double) {
        self.since = since
        nextTry = since
    }

    /// Records one more failure and schedules the next try.
    /// - Parameters:
    ///   - error: the failure's description, for the status file.
    ///   - noSpace: whether it said the file system is full.
    ///   - freeBytes: free bytes just after it, when known.
    ///   - now: the time of the failure.
    ///   - policy: the schedule.
    public mutating func recordFailure(_ error: String, noSpace: Bool, freeBytes: Int64?, at now: Double,
                                       policy: RetryPolicy) {
        failures += 1
        lastError = error
        self.noSpace = noSpace
        freeBytesAtFailure = freeBytes
        nextTry = now + policy.delay(afterFailures: failures)
    }

    /// Whether the transient trouble has lasted past `transient_give_up`.
    public func givesUp(at now: Double, policy: RetryPolicy) -> Bool {
        now - since >= policy.giveUpAfter
    }

    /// Whether the file system has room again after a "no space" failure: the free bytes
    /// grew by ``spaceRecoveredMargin`` since that failure.
    public func spaceRecovered(freeBytes: Int64?) -> Bool {
        guard noSpace, let freeBytes, let before = freeBytesAtFailure else { return false }
        return freeBytes >= before + Self.spaceRecoveredMargin
    }

    /// Whether it is time to try again: the backoff is over, or the space is back.
    public func isDue(at now: Double, freeBytes: Int64?) -> Bool {
        now >= nextTry || spaceRecovered(freeBytes: freeBytes)
    }
}

/// Which jobs found in `work/` after a process died count an attempt.
///
/// While a job runs, its work folder holds an empty marker `.running.RUN`, where RUN names
/// the process (its pid and a random number drawn at start). When the process dies, every
/// job it had in flight keeps its marker. A job is charged an attempt only when it was the
/// only one in flight in that process: then it alone can have killed it. Jobs that were in
/// flight together are not charged; they are run again one at a time, so that a poison job
/// among them is found alone at the next death.
public enum CrashAttribution {
    /// The marker's name prefix; the rest of the name is the run.
    public static let markerPrefix = ".running."

    /// The run named by a marker file, or `nil` for any other name.
    public static func run(ofMarker name: String) -> String? {
        guard name.hasPrefix(markerPrefix), name.count > markerPrefix.count else { return nil }
        return String(name.dropFirst(markerPrefix.count))
    }

    /// The jobs to charge an attempt.
    /// - Parameter markers: for each job found in `work/` (by token), the runs whose
    ///   marker its folder holds.
    /// - Returns: the tokens of jobs that were the only job in flight of a run that died.
    public static func charged(_ markers: [String: [String]]) -> Set<String> {
        var jobsOfRun: [String: Set<String>] = [:]
        for (token, runs) in markers {
            for run in runs { jobsOfRun[run, default: []].insert(token) }
        }
        var charged = Set<String>()
        for (_, tokens) in jobsOfRun where tokens.count == 1 { charged.formUnion(tokens) }
        return charged
    }
}
