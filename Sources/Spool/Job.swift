import Completion
import Synchronization
import SystemPackage

/// One claimed job: a folder `work/TOKEN/` holding the inputs, moved there by `rename(2)`.
///
/// Files the daemon keeps beside the inputs (dot-names, never taken as inputs):
/// - `.attempts`: the attempts charged to the job (see ``RetryPolicy``), written when one is
///   charged: a death of the daemon while the job was the only one in flight, or a failed
///   publication that was not transient;
/// - `.running.RUN`: empty, present while a run of the daemon (RUN) processes the job;
///   left behind by a death, it tells recovery which jobs were in flight
///   (``CrashAttribution``);
/// - `.transient-since.SECONDS`: empty, present while the job waits after transient errors;
///   its name keeps when they began (seconds since the epoch), for `transient_give_up`
///   across restarts;
/// - `.done`: `outbox` or `failed`, written once the result is complete in its hidden
///   temporary folder `work/TOKEN@RUN/.result` (or `.failure`), just before the rename
///   that publishes it. At restart it tells whether to finish that rename or start over.
final class Job: @unchecked Sendable {
    // Thread-safety: `let`s are immutable; the `var`s are only touched on the daemon's
    // control queue or by the one worker running the job (hand-over through the queue);
    // `phase` is a Mutex shared with the drain logic.

    /// Where a job is in its life, for the drain logic.
    enum Phase: Sendable {
        case queued, running, publishing, returned, finished
    }

    let token: String
    let directory: FilePath
    var name: String
    var attempts: Int
    /// Set when the job is failed without processing (refused entry, missing mask, poison…).
    var presetFailure: SpoolError?
    /// A failure already decided (the input's fault, or transient errors past
    /// `transient_give_up`) whose publication to `failed/` is still to be done.
    var decidedFailure: JobFailure?
    /// Transient failures in a row, and when to try again; `nil` when the last run had none.
    var retry: RetryState?
    /// Waiting in backoff after a transient failure (the status file's `waiting_on_disk`).
    var waitsOnDisk = false
    /// Found in flight after the daemon died: it runs alone before other jobs start.
    var runsAlone = false
    /// Monotonic seconds at claim (or recovery), for latency.
    let claimedAt: Double
    /// The `flock` on the work folder, so a second daemon's recovery leaves the job alone.
    var lock: FileDescriptor?
    let phase = Mutex(Phase.queued)
    /// Set when the drain returns the job while it is processed, so that its completion stops.
    let cancellation = CancellationFlag()

    init(token: String, directory: FilePath, name: String, attempts: Int, claimedAt: Double, lock: FileDescriptor?) {
        self.token = token
        self.directory = directory
        self.name = name
        self.attempts = attempts
        self.claimedAt = claimedAt
        self.lock = lock
    }

    /// Releases the work folder's lock.
    func unlock() {
        try? lock?.close()
        lock = nil
    }

    deinit { try? lock?.close() }
}

/// Why a job goes to `failed/`: the stage (`claim`, `input`, `output`, `publish`) and the
/// reason written in `error.json`.
struct JobFailure: Sendable, Equatable {
    var stage: String
    var reason: String
}
