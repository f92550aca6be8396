import Synchronization
import SystemPackage

/// One claimed job: a folder `work/TOKEN/` holding the inputs, moved there by `rename(2)`.
///
/// Files the daemon keeps beside the inputs (dot-names, never taken as inputs):
/// - `.attempts`: how many times processing started (written before each start);
/// - `.done`: `outbox` or `failed`, written once the result is complete in its hidden
///   temporary folder `outbox/.tmp-TOKEN` (or `failed/.tmp-TOKEN`), just before the rename
///   that publishes it. At restart it tells whether to finish that rename or start over.
final class Job: @unchecked Sendable {
    // Thread-safety: `let`s are immutable; `name`, `attempts`, `presetFailure` and `lock`
    // are only touched on the daemon's control queue or by the one worker running the job
    // (hand-over through the queue); `phase` is a Mutex shared with the drain logic.

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
    /// Monotonic seconds at claim (or recovery), for latency.
    let claimedAt: Double
    /// The `flock` on the work folder, so a second daemon's recovery leaves the job alone.
    var lock: FileDescriptor?
    let phase = Mutex(Phase.queued)

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
