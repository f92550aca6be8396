import CInotify
import Foundation
import Logging
import Synchronization
import SystemPackage

/// What the watcher reports; events are hints, the periodic rescan is the safety net.
enum InotifyEvent: Sendable, Equatable {
    /// A file was closed after writing (`IN_CLOSE_WRITE`) or renamed in (`IN_MOVED_TO`).
    case file(String)
    /// The kernel's queue overflowed and events were lost (`IN_Q_OVERFLOW`): rescan.
    case overflow
    /// The watched folder went away or the watcher failed; events stop.
    case failed(String)
}

/// The single owner of libinotifytools, which keeps its state in process-wide globals.
///
/// Call ``initialize()`` first thing in `main`, before anything else opens files, so that
/// the library's inotify descriptor is small (libinotifytools waits in `select()`, which
/// aborts the process for a descriptor ≥ 1024). After that every libinotifytools call is
/// made on one dedicated thread, started by ``start(watching:logger:handler:)``: it waits
/// for one event at a time with a one-second timeout, copies it, and hands it to `handler`.
/// ``stop()`` wakes that wait at once with `SIGUSR2` (whose handler does nothing), so that
/// an idle daemon exits without waiting out the timeout.
public final class InotifyWatcher: @unchecked Sendable {
    // Thread-safety: `started` is only touched by the thread that calls `start` and `stop`;
    // the library is touched only by `initialize` (before `start`) and then only by the
    // watcher thread; `stopping` and `thread` are Mutexes.
    private let stopping = Mutex(false)
    /// The watcher thread, for ``stop()``'s wake-up signal.
    private let thread = Mutex<pthread_t?>(nil)
    private let watchResult = Mutex<Int32>(0)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    private static let created = Mutex(false)

    private init() {}

    /// Initialises libinotifytools (`inotifytools_initialize`). Only one watcher may exist.
    /// - Throws: ``SpoolError/system(call:path:errno:)`` when the kernel refuses (too many instances…).
    public static func initialize() throws -> InotifyWatcher {
        let first = created.withLock { created -> Bool in
            defer { created = true }
            return !created
        }
        precondition(first, "libinotifytools is process-global: create one InotifyWatcher")
        guard inotifytools_initialize() == 1 else {
            throw SpoolError.system(call: "inotifytools_initialize", path: "", errno: Errno(rawValue: inotifytools_error()))
        }
        return InotifyWatcher()
    }

    /// Starts the watcher thread on `directory` for `IN_CLOSE_WRITE` and `IN_MOVED_TO`.
    /// - Parameters:
    ///   - directory: the folder to watch (not recursive).
    ///   - logger: for the watcher's own problems.
    ///   - handler: called on the watcher thread for each event; it must not block.
    /// - Throws: ``SpoolError/system(call:path:errno:)`` when the watch cannot be added.
    func start(watching directory: FilePath, logger: Logger, handler: @escaping @Sendable (InotifyEvent) -> Void) throws {
        precondition(!started, "start once")
        started = true
        Self.installWakeHandler()
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            // Threads inherit their creator's signal mask (a Dispatch or Swift concurrency
            // thread blocks signals); the wake-up must get through.
            var wake = sigset_t()
            sigemptyset(&wake)
            sigaddset(&wake, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &wake, nil)
            self.thread.withLock { $0 = pthread_self() }
            let mask = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR)
            let ok = directory.withPlatformString { inotifytools_watch_file($0, mask) }
            self.watchResult.withLock { $0 = ok == 1 ? 0 : max(inotifytools_error(), 1) }
            ready.signal()
            if ok == 1 { self.loop(logger: logger, handler: handler) }
            inotifytools_cleanup()
            self.finished.signal()
        }
        thread.name = "pixelrnnd.inotify"
        thread.start()
        ready.wait()
        let code = watchResult.withLock { $0 }
        if code != 0 {
            throw SpoolError.system(call: "inotifytools_watch_file", path: directory.string, errno: Errno(rawValue: code))
        }
    }

    private func loop(logger: Logger, handler: @Sendable (InotifyEvent) -> Void) {
        let headerSize = MemoryLayout<inotify_event>.size
        while !stopping.withLock({ $0 }) {
            // One event at a time, with a timeout: `next_events` with more than one busy-spins.
            guard let event = inotifytools_next_event(1) else {
                let code = inotifytools_error()
                if code != 0 && code != EINTR {
                    logger.error("inotify read failed", metadata: ["errno": "\(code)", "error": "\(Errno(rawValue: code))"])
                    Thread.sleep(forTimeInterval: 1)
                }
                continue
            }
            // Copy everything out before the next call reuses the library's buffer.
            let mask = event.pointee.mask
            let length = Int(event.pointee.len)
            var name = ""
            if length > 0 {
                let raw = UnsafeRawPointer(event).advanced(by: headerSize).assumingMemoryBound(to: UInt8.self)
                let bytes = UnsafeBufferPointer(start: raw, count: length)
                name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                handler(.overflow)
            } else if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT) != 0 {
                handler(.failed("the watched folder was removed, moved or unmounted"))
                return
            } else if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0, !name.isEmpty {
                handler(.file(name))
            }
        }
    }

    /// Stops the watcher thread and releases libinotifytools. The thread's wait for events
    /// is interrupted by `SIGUSR2` (sent again every 50 ms, in case it arrived just before
    /// the wait began), so this returns within milliseconds.
    func stop() {
        guard started else { return }
        stopping.withLock { $0 = true }
        while true {
            if let thread = thread.withLock({ $0 }) { _ = pthread_kill(thread, SIGUSR2) }
            if finished.wait(timeout: .now() + .milliseconds(50)) == .success { break }
        }
        started = false
    }

    /// A `SIGUSR2` handler that does nothing but interrupt a blocking call (no `SA_RESTART`).
    private static func installWakeHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR2, &action, nil)
    }
}
