import Dispatch

/// A serial executor that runs an actor's work on one dispatch queue, so that dispatch
/// sources (signals, timers) and `async` blocks on that queue may enter the actor
/// synchronously with `assumeIsolated`, which is checked at run time.
///
/// This is the daemon's control queue: everything that touches the control loop's state
/// runs there, one thing at a time, and nothing slow does (model loading and image probes
/// run on their own queues and post their results back).
final class ControlQueue: SerialExecutor {
    let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
