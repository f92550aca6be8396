import Dispatch

/// Where the control loop is in its life, with what each phase needs. It is the one
/// source of truth: the status file's `state` is derived from it.
enum LoopState {
    /// Folders made, the model loading, the inbox watcher starting. `drainSignal` is a
    /// SIGTERM or SIGINT that arrived meanwhile: the drain begins as soon as the daemon is ready.
    case starting(drainSignal: Int32?)
    /// Claiming and running jobs.
    case ready
    /// A SIGHUP's configuration and model load runs on the loading queue; jobs keep running,
    /// claiming waits. `again`: another SIGHUP came meanwhile, so a new load follows this one.
    case reloading(again: Bool)
    /// SIGTERM or SIGINT: nothing more is claimed, queued jobs went back to `inbox/`, jobs in
    /// flight finish or are returned when `deadline` (after `drain_timeout`) fires.
    case draining(signal: Int32, deadline: (any DispatchSourceTimer)?)
    /// The loop is over; `run()` returns the exit status.
    case stopped(exitCode: Int32)

    /// The state as `status.json` and the Prometheus file show it.
    var status: DaemonState {
        switch self {
        case .starting: .starting
        case .ready: .ready
        case .reloading: .reloading
        case .draining: .draining
        case .stopped: .stopped
        }
    }

    /// Whether new jobs may be claimed (scans run).
    var claims: Bool {
        if case .ready = self { true } else { false }
    }

    /// Whether claimed jobs may be started on workers.
    var startsJobs: Bool {
        switch self {
        case .ready, .reloading: true
        case .starting, .draining, .stopped: false
        }
    }
}
