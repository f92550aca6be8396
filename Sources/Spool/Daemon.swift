import Dispatch
import Foundation
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The spool daemon: watches `inbox/`, claims jobs into `work/`, runs them through a
/// ``JobProcessor`` on a bounded number of workers, publishes results to `outbox/` or
/// `failed/`, and keeps `status.json` current.
///
/// Concurrency: all of the daemon's state lives on one serial queue, `control`; jobs run on
/// a concurrent `jobs` queue, at most `workers` at a time, and report back to `control`.
/// The inotify thread and the signal sources only post to `control`.
public final class Daemon: @unchecked Sendable {
    // Thread-safety: every `var` below is confined to `control` (checked with
    // `dispatchPrecondition` at the entry points); the `let`s are immutable or Sendable.

    /// The version shown in the status file.
    public static let version = "0.1.0"

    private let control = DispatchQueue(label: "pixelrnnd.control")
    private let jobs = DispatchQueue(label: "pixelrnnd.jobs", attributes: .concurrent)
    private let configurationFile: FilePath?
    private let overrides: [(String, String)]
    private let loader: JobProcessorLoader
    private let logger: Logger
    private let watcher: InotifyWatcher
    private let notifier: SystemdNotifier
    private let finished = DispatchSemaphore(value: 0)

    private var configuration: DaemonConfiguration
    private var processor: (any JobProcessor)?
    private var state = DaemonState.starting
    private let startedAt = Date()
    private let startedMonotonic = Daemon.monotonic()
    private var queued: [Job] = []
    private var running: [String: Job] = [:]
    private var statistics = JobStatistics()
    private var lastError: (message: String, at: Date)?
    private var exitCode: Int32 = 0

    /// Inbox names named by a close-after-write or rename-in event, with the event's time.
    private var closedNames: [String: Double] = [:]
    /// Job names whose image waits for a mask (or whose mask waits for an image), since when.
    private var waitingSince: [String: Double] = [:]
    /// What a PNG's header said about alpha, by name, valid while inode/size/mtime match.
    private var alphaCache: [String: (inode: UInt64, size: Int64, modified: Double, alpha: Bool?)] = [:]
    private var inboxWaiting = 0
    /// Jobs waiting out `retryDelay` after a transient failure (they stay in work/).
    private var retryWaiting = 0
    private var scanScheduled = false
    private var backlog = false
    private var nextWakeup: Double?
    private var lastRescan = 0.0
    private var lastStatusWrite = 0.0
    private var lastWatchdog = 0.0
    private var statusScheduled = false
    private var lowDiskLogged = false
    private var timers: [any DispatchSourceTimer] = []
    private var signalSources: [any DispatchSourceSignal] = []
    private var tokenCounter = 0

    /// Creates a daemon; nothing happens until ``run()``.
    /// - Parameters:
    ///   - configuration: the loaded configuration.
    ///   - configurationFile: the file it came from, re-read on SIGHUP (`nil`: defaults only).
    ///   - overrides: the command-line `(key, value)` pairs, re-applied on SIGHUP.
    ///   - watcher: the process's inotify owner (initialised first thing in `main`).
    ///   - loader: builds the job processor from configuration, at start and on SIGHUP.
    ///   - logger: where every event is logged.
    public init(configuration: DaemonConfiguration, configurationFile: FilePath?, overrides: [(String, String)],
                watcher: InotifyWatcher, loader: @escaping JobProcessorLoader, logger: Logger) {
        self.configuration = configuration
        self.configurationFile = configurationFile
        self.overrides = overrides
        self.watcher = watcher
        self.loader = loader
        self.logger = logger
        self.notifier = SystemdNotifier()
    }

    /// Runs the daemon until SIGTERM or SIGINT has drained it.
    /// - Returns: the process exit status (0 after a clean drain).
    /// - Throws: a ``SpoolError`` when the daemon cannot start (folders, model, watcher).
    public func run() throws -> Int32 {
        let c = configuration
        for folder in [c.spool, c.inbox, c.work, c.outbox, c.failed, c.state] {
            try FS.makeDirectory(folder, allowExisting: true)
        }
        writeStatusNow()
        do {
            processor = try loader(c)
        } catch {
            record(error: "\(error)")
            state = .stopped
            writeStatusNow()
            throw error
        }
        for identity in processor?.modelIdentities ?? [] { logger.info("model loaded", metadata: identity.logMetadata) }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGIO, SIG_IGN)  // lease breaks would otherwise kill us
        installSignalHandlers()
        try watcher.start(watching: c.inbox, logger: logger, handler: makeEventHandler())
        control.sync {
            recoverWork()
            state = .ready
            notify(["READY=1", "STATUS=ready; watching \(configuration.inbox)", "MAINPID=\(getpid())"])
            logger.info("ready", metadata: ["spool": "\(configuration.spool)", "workers": "\(configuration.workers)", "pid": "\(getpid())"])
            scan()
            schedule()
            writeStatusNow()
            startTimers()
        }
        finished.wait()
        return control.sync { exitCode }
    }

    // MARK: - Events, signals and timers (closures built here, off the main actor)

    private func makeEventHandler() -> @Sendable (InotifyEvent) -> Void {
        { [self] event in control.async { self.handle(event) } }
    }

    private func handle(_ event: InotifyEvent) {
        dispatchPrecondition(condition: .onQueue(control))
        switch event {
        case let .file(name):
            closedNames[name] = Date().timeIntervalSince1970
            requestScan()
        case .overflow:
            logger.warning("inotify queue overflowed; rescanning inbox")
            requestScan()
        case let .failed(message):
            record(error: "inbox watcher stopped: \(message); relying on periodic rescans")
            logger.error("inbox watcher stopped", metadata: ["reason": "\(message)"])
        }
    }

    private func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: control)
            source.setEventHandler(handler: makeSignalHandler(sig))
            source.resume()
            signalSources.append(source)
        }
    }

    private func makeSignalHandler(_ sig: Int32) -> @Sendable () -> Void {
        { [self] in
            if sig == SIGHUP { self.reload() } else { self.beginDrain(signal: sig) }
        }
    }

    private func startTimers() {
        let tick = DispatchSource.makeTimerSource(queue: control)
        tick.schedule(deadline: .now() + 0.25, repeating: 0.25, leeway: .milliseconds(50))
        tick.setEventHandler(handler: makeTickHandler())
        tick.resume()
        timers.append(tick)
    }

    private func makeTickHandler() -> @Sendable () -> Void {
        { [self] in self.tick() }
    }

    /// The main loop's heartbeat: due scans, the status file, the watchdog.
    private func tick() {
        dispatchPrecondition(condition: .onQueue(control))
        let now = Daemon.monotonic()
        if state == .ready {
            let wall = Date().timeIntervalSince1970
            if now - lastRescan >= configuration.rescanInterval || (nextWakeup.map { wall >= $0 } ?? false) {
                requestScan()
            }
        }
        if now - lastStatusWrite >= configuration.statusInterval { writeStatusNow() }
        // The tick runs on the control queue, so a ping proves the main loop makes progress.
        if let interval = notifier.watchdogInterval, now - lastWatchdog >= min(interval / 4, 5) {
            lastWatchdog = now
            notify(["WATCHDOG=1"])
        }
    }

    // MARK: - Scanning and claiming

    private func requestScan() {
        guard !scanScheduled, state == .ready else { return }
        scanScheduled = true
        control.async { [self] in
            scanScheduled = false
            scan()
            schedule()
        }
    }

    private struct Group {
        var image: String?
        var mask: String?
        var options: String?
        var oldest = Double.infinity
        var unsettled = false
        var members: [String] { [image, mask, options].compactMap { $0 } }
    }

    /// One pass over `inbox/`: forms jobs from settled files and claims what fits.
    ///
    /// A file is *settled* when an `IN_CLOSE_WRITE`/`IN_MOVED_TO` event named it, or its last
    /// modification is `settle` seconds old; and, at claim time, the kernel confirms that no
    /// process has it open for writing (a read lease can be taken).
    private func scan() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready else { return }
        lastRescan = Daemon.monotonic()
        let c = configuration
        let names: [String]
        do {
            names = try FS.list(c.inbox)
        } catch {
            record(error: "cannot read inbox: \(error)")
            return
        }
        let now = Date().timeIntervalSince1970
        var groups: [String: Group] = [:]
        var singles: [(name: String, failure: SpoolError, modified: Double)] = []
        var wakeup: Double?
        func wake(_ t: Double) { wakeup = min(wakeup ?? t, t) }
        let present = Set(names)
        for name in names where !SpoolNames.isIgnored(name) {
            guard let meta = try? FS.metadata(c.inbox.appending(name)) else { continue }
            let settled = closedNames[name] != nil || now - meta.modified >= c.settle
            let role = SpoolNames.role(of: name)
            if !settled {
                wake(meta.modified + c.settle)
                if let job = role.jobName { groups[job, default: Group()].unsettled = true }
                continue
            }
            if meta.kind != .regular {
                singles.append((name, .notARegularFile(name: name, kind: meta.kind.word), meta.modified))
                continue
            }
            switch role {
            case let .image(job):
                var g = groups[job, default: Group()]
                // Two images for one name: the first in this order wins; the other waits.
                if g.image == nil || name.lowercased().hasSuffix(".png") { g.image = name }
                g.oldest = min(g.oldest, meta.modified)
                groups[job] = g
                let cached = alphaCache[name]
                if cached == nil || cached!.inode != meta.inode || cached!.size != meta.size || cached!.modified != meta.modified {
                    // JPEG has no alpha; a PNG says so in its header.
                    let alpha = name.lowercased().hasSuffix(".png") ? pngHasAlpha(c.inbox.appending(name)) : false
                    alphaCache[name] = (meta.inode, meta.size, meta.modified, alpha)
                }
            case let .mask(job):
                groups[job, default: Group()].mask = name
                groups[job]!.oldest = min(groups[job]!.oldest, meta.modified)
            case let .options(job):
                groups[job, default: Group()].options = name
                groups[job]!.oldest = min(groups[job]!.oldest, meta.modified)
            case .unknown:
                singles.append((name, .unrecognisedName(name), meta.modified))
            }
        }
        closedNames = closedNames.filter { present.contains($0.key) }
        alphaCache = alphaCache.filter { present.contains($0.key) }
        waitingSince = waitingSince.filter { groups[$0.key] != nil }

        inboxWaiting = groups.count + singles.count
        // Every claim below leaves the inbox: keep the status's "waiting" count current.
        var claimedInThisScan = 0
        defer { inboxWaiting = max(0, groups.count + singles.count - claimedInThisScan) }
        if !diskHasRoom() {
            nextWakeup = now + 5
            return
        }
        for single in singles.sorted(by: { $0.modified < $1.modified }) {
            guard hasCapacity else { backlog = true; break }
            claim(name: SpoolNames.outputName(for: single.name), files: [single.name], failure: single.failure)
            claimedInThisScan += 1
        }
        for (jobName, group) in groups.sorted(by: { ($0.value.oldest, $0.key) < ($1.value.oldest, $1.key) }) where !group.unsettled {
            var failure: SpoolError?
            if let image = group.image {
                if group.mask == nil, alphaCache[image]?.alpha == false {
                    let since = waitingSince[jobName] ?? now
                    waitingSince[jobName] = since
                    if now - since < c.maskWait { wake(since + c.maskWait); continue }
                    failure = .incompleteJob("'\(image)' has no alpha channel and no mask '\(jobName).mask.png' arrived within \(Self.format(c.maskWait)) s (mask_wait); nothing is marked as occluded")
                }
            } else {
                let since = waitingSince[jobName] ?? now
                waitingSince[jobName] = since
                if now - since < c.maskWait { wake(since + c.maskWait); continue }
                failure = .incompleteJob("\(group.members.joined(separator: " and ")) arrived but no image '\(jobName).png', '.jpg' or '.jpeg' within \(Self.format(c.maskWait)) s (mask_wait)")
            }
            guard hasCapacity else { backlog = true; break }
            if group.members.contains(where: { FS.isOpenForWriting(c.inbox.appending($0)) == true }) {
                wake(now + 0.5)
                continue
            }
            claim(name: SpoolNames.outputName(for: jobName), files: group.members, failure: failure)
            claimedInThisScan += 1
            waitingSince[jobName] = nil
        }
        nextWakeup = wakeup
    }

    private var hasCapacity: Bool {
        queued.count + running.count < configuration.workers + configuration.queueCapacity
    }

    private func diskHasRoom() -> Bool {
        guard configuration.minFreeBytes > 0 else { return true }
        guard let free = try? FS.freeBytes(configuration.spool) else { return true }
        if free < configuration.minFreeBytes {
            if !lowDiskLogged {
                lowDiskLogged = true
                let message = "only \(free) bytes free on the spool's file system (min_free_bytes = \(configuration.minFreeBytes)); not claiming new jobs"
                record(error: message)
                logger.error("low disk space; claiming paused", metadata: ["free_bytes": "\(free)"])
            }
            return false
        }
        if lowDiskLogged { logger.info("disk space recovered; claiming resumed") }
        lowDiskLogged = false
        return true
    }

    /// Whether a PNG's header declares transparency; `nil` when unreadable (the processor
    /// then reports why).
    private func pngHasAlpha(_ path: FilePath) -> Bool? {
        ImageProbe.pngHasAlpha(path, limit: configuration.maxBytes)
    }

    private func newToken() -> String {
        tokenCounter += 1
        let random = UInt64.random(in: 0 ... .max)
        return String(random, radix: 16) + "-" + String(tokenCounter)
    }

    /// Claims `files` by renaming them from `inbox/` into a fresh `work/TOKEN/`. The first
    /// file's rename decides: if another daemon took it first, the job is left alone.
    private func claim(name: String, files: [String], failure: SpoolError?) {
        let c = configuration
        let token = newToken()
        let directory = c.work.appending(token)
        var lock: FileDescriptor?
        do {
            try FS.makeDirectory(directory, mode: 0o750)
            lock = try FS.lockDirectory(directory)
            var moved = 0
            for (index, file) in files.enumerated() {
                do {
                    try FS.rename(c.inbox.appending(file), to: directory.appending(file))
                    moved += 1
                } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                    if index == 0 { break }  // someone else claimed it
                }
                closedNames[file] = nil
                alphaCache[file] = nil
            }
            if moved == 0 {
                try? lock?.close()
                try? FS.removeTree(directory)
                return
            }
        } catch {
            try? lock?.close()
            try? FS.removeTree(directory)
            record(error: "cannot claim \(files.joined(separator: ", ")): \(error)")
            logger.error("claim failed", metadata: ["job": "\(name)", "error": "\(error)"])
            return
        }
        let job = Job(token: token, directory: directory, name: name, attempts: 0,
                      claimedAt: Daemon.monotonic(), lock: lock)
        job.presetFailure = failure
        queued.append(job)
        logger.info("claimed", metadata: ["job": "\(name)", "token": "\(token)", "files": "\(files.joined(separator: ","))"])
        statusChanged()
    }

    // MARK: - Running jobs

    private func schedule() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready || state == .reloading else { return }
        while running.count < configuration.workers, !queued.isEmpty {
            let job = queued.removeFirst()
            running[job.token] = job
            job.phase.withLock { $0 = .running }
            let processor = self.processor!
            let configuration = self.configuration
            jobs.async(execute: makeJobRunner(job, processor: processor, configuration: configuration))
        }
        // Back-pressure: rescan once half the claim capacity is free, not after every job.
        if backlog, queued.count + running.count <= (configuration.workers + configuration.queueCapacity) / 2 {
            backlog = false
            requestScan()
        }
        statusChanged()
    }

    private func makeJobRunner(_ job: Job, processor: any JobProcessor, configuration: DaemonConfiguration) -> @Sendable () -> Void {
        { [self] in
            let outcome = self.execute(job, processor: processor, configuration: configuration)
            self.control.async { self.jobFinished(job, outcome: outcome) }
        }
    }

    private enum Outcome: Sendable {
        case published(String)
        case failed(String, reason: String)
        case returned
        case stuck(String)
        /// A transient failure (disk full, I/O error): the job stays in `work/` and runs again
        /// after `retryDelay`, up to `max_attempts` starts.
        case retry(String)
    }

    /// Seconds before a job that met a transient failure runs again.
    static let retryDelay = 2.0

    /// Runs one job on a worker: process, then publish to `outbox/` or `failed/`.
    private func execute(_ job: Job, processor: any JobProcessor, configuration c: DaemonConfiguration) -> Outcome {
        var log = logger
        log[metadataKey: "job"] = "\(job.name)"
        log[metadataKey: "token"] = "\(job.token)"
        let temporary = c.outbox.appending(".tmp-\(job.token)")
        var failure: (stage: String, reason: String)?
        if job.presetFailure == nil {
            // Counted before the work starts, so a job that kills the daemon is bounded.
            if job.attempts >= c.maxAttempts {
                job.presetFailure = .tooManyAttempts(job.attempts)
            } else {
                job.attempts += 1
                do {
                    // Not fsynced: it survives kill -9 (page cache); a power cut costs at most an extra attempt.
                    try FS.replaceFile(job.directory.appending(".attempts"), Array("\(job.attempts)\n".utf8), durable: false)
                } catch {
                    log.error("cannot record the attempt", metadata: ["error": "\(error)"])
                }
            }
        }
        if let preset = job.presetFailure {
            failure = ("claim", preset.description)
        } else {
            if c.debugJobDelayMilliseconds > 0 { usleep(UInt32(min(c.debugJobDelayMilliseconds, 600_000)) * 1000) }
            do {
                let inputs = try Self.inputs(of: job)
                try? FS.removeTree(temporary)
                try FS.makeDirectory(temporary)
                try processor.process(inputs, outputDirectory: temporary, logger: log)
            } catch let error as SpoolError where error.isTransient {
                try? FS.removeTree(temporary)
                if job.attempts < c.maxAttempts { return .retry("\(job.name): \(error)") }
                failure = ("output", "gave up after \(job.attempts) attempts: \(error)")
            } catch {
                failure = ("input", "\(error)")
            }
        }
        if job.phase.withLock({ $0 == .returned }) {
            try? FS.removeTree(temporary)
            return .returned
        }
        if failure == nil {
            do {
                try copyInputs(of: job, into: temporary)
                let published = try publish(job, temporary: temporary, into: c.outbox, marker: "outbox")
                guard let published else { return .returned }
                log.info("published", metadata: ["result": "\(c.outbox.appending(published))"])
                return .published(published)
            } catch {
                // The temporary result is about to go; so must a marker that vouches for it.
                try? FS.unlink(job.directory.appending(".done"))
                log.error("publishing failed", metadata: ["error": "\(error)", "attempt": "\(job.attempts)"])
                if job.attempts < c.maxAttempts {
                    try? FS.removeTree(temporary)
                    return .retry("\(job.name): publishing failed: \(error)")
                }
                failure = ("publish", "gave up after \(job.attempts) attempts: \(error)")
            }
        }
        try? FS.removeTree(temporary)
        let (stage, reason) = failure!
        if job.phase.withLock({ $0 == .returned }) { return .returned }
        do {
            let published = try publishFailure(job, stage: stage, reason: reason, processor: processor, configuration: c)
            guard let published else { return .returned }
            log.warning("failed", metadata: ["reason": "\(reason)", "result": "\(c.failed.appending(published))"])
            return .failed(published, reason: reason)
        } catch {
            if job.phase.withLock({ $0 == .returned }) { return .returned }
            log.error("cannot publish failure; job stays in work/ for the next start", metadata: ["error": "\(error)", "reason": "\(reason)"])
            return .stuck("\(job.name): \(reason); and moving it to failed/ failed: \(error)")
        }
    }

    /// The job's inputs as the processor sees them, checked to be regular files.
    static func inputs(of job: Job) throws -> JobInputs {
        var image: FilePath?
        var mask: FilePath?
        var options: FilePath?
        var name = job.name
        for entry in try FS.list(job.directory).sorted() where !entry.hasPrefix(".") {
            let path = job.directory.appending(entry)
            guard let meta = try FS.metadata(path) else { continue }
            guard meta.kind == .regular else { throw SpoolError.notARegularFile(name: entry, kind: meta.kind.word) }
            switch SpoolNames.role(of: entry) {
            case let .image(n) where image == nil: image = path; name = n
            case .mask where mask == nil: mask = path
            case .options where options == nil: options = path
            default: throw SpoolError.unrecognisedName(entry)
            }
        }
        guard let image else {
            throw SpoolError.incompleteJob("the job has no image (NAME.png, NAME.jpg or NAME.jpeg)")
        }
        return JobInputs(name: name, image: image, mask: mask, options: options)
    }

    /// Copies the original inputs beside the outputs; an input whose name an output already
    /// uses is copied as `input-NAME`.
    private func copyInputs(of job: Job, into folder: FilePath) throws {
        let outputs = Set(try FS.list(folder))
        for entry in try FS.list(job.directory) where !entry.hasPrefix(".") {
            let target = outputs.contains(entry) ? "input-\(entry)" : entry
            try FS.copyFile(job.directory.appending(entry), to: folder.appending(target), sync: false)
        }
    }

    /// Builds `failed/.tmp-TOKEN/` with the untouched inputs and `error.json`, then publishes it.
    private func publishFailure(_ job: Job, stage: String, reason: String, processor: any JobProcessor,
                                configuration c: DaemonConfiguration) throws -> String? {
        let temporary = c.failed.appending(".tmp-\(job.token)")
        try? FS.removeTree(temporary)
        try FS.makeDirectory(temporary)
        var inputs: [String] = []
        for entry in try FS.list(job.directory).sorted() where !entry.hasPrefix(".") {
            let source = job.directory.appending(entry)
            if try FS.metadata(source)?.kind == .regular {
                try FS.copyFile(source, to: temporary.appending(entry), sync: false)
            } else {
                // Never followed or read: the entry itself is moved (recovery moves it back
                // if the daemon dies before the failure is published).
                try FS.rename(source, to: temporary.appending(entry))
            }
            inputs.append(entry)
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let document: [String: Any] = [
            "name": job.name,
            "stage": stage,
            "reason": reason,
            "failed_at": formatter.string(from: Date()),
            "attempts": job.attempts,
            "inputs": inputs,
            "model": processor.identity.jsonObject,
            "version": Daemon.version,
        ]
        let json = try JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FS.writeNewFile(temporary.appending("error.json"), [UInt8](json) + [10], sync: false)
        return try publish(job, temporary: temporary, into: c.failed, marker: "failed")
    }

    /// Makes a finished temporary folder durable and renames it into `folder` as `NAME`,
    /// `NAME-1`, `NAME-2`… (never replacing anything), then removes the job's work folder.
    /// - Returns: the published name, or `nil` when the drain returned the job to the inbox first.
    private func publish(_ job: Job, temporary: FilePath, into folder: FilePath, marker: String) throws -> String? {
        try FS.syncTree(temporary)
        let proceed = job.phase.withLock { phase -> Bool in
            if phase == .returned { return false }
            phase = .publishing
            return true
        }
        guard proceed else {
            try? FS.removeTree(temporary)
            return nil
        }
        // The marker's existence is what counts (recovery looks for the temporary folder
        // itself), so only the folder entry needs to be durable.
        let done = job.directory.appending(".done")
        try? FS.unlink(done)
        try FS.writeNewFile(done, Array(marker.utf8), sync: false)
        try FS.syncDirectory(job.directory)
        let name = try Self.renameIntoPlace(temporary, folder: folder, name: job.name)
        try FS.syncDirectory(folder)
        try FS.removeTree(job.directory)
        job.unlock()
        return name
    }

    static func renameIntoPlace(_ temporary: FilePath, folder: FilePath, name: String) throws -> String {
        var suffix = 0
        while true {
            let candidate = suffix == 0 ? name : "\(name)-\(suffix)"
            if try FS.renameNoReplace(temporary, to: folder.appending(candidate)) { return candidate }
            suffix += 1
        }
    }

    private func jobFinished(_ job: Job, outcome: Outcome) {
        dispatchPrecondition(condition: .onQueue(control))
        running[job.token] = nil
        job.phase.withLock { if $0 != .returned { $0 = .finished } }
        let now = Daemon.monotonic()
        switch outcome {
        case .published:
            statistics.record(latency: now - job.claimedAt, at: now, failed: false)
        case let .failed(name, reason):
            statistics.record(latency: now - job.claimedAt, at: now, failed: true)
            record(error: "\(name): \(reason)")
        case .returned:
            break
        case let .stuck(message):
            record(error: message)
            job.unlock()
        case let .retry(message):
            record(error: message + " (will retry)")
            logger.warning("transient failure; the job stays in work/ and runs again", metadata: [
                "job": "\(job.name)", "attempts": "\(job.attempts)", "error": "\(message)",
            ])
            retryWaiting += 1
            control.asyncAfter(deadline: .now() + Self.retryDelay) { [self] in
                retryWaiting -= 1
                // While draining or stopped the job simply stays in work/ for the next start.
                guard state == .ready || state == .reloading else { return }
                job.phase.withLock { $0 = .queued }
                queued.append(job)
                schedule()
            }
        }
        if state == .draining {
            if running.isEmpty { finishDrain() }
            return
        }
        schedule()
        statusChanged()
    }

    // MARK: - Recovery

    /// Returns the jobs left in `work/` by a previous run to the queue, finishing any
    /// publication that was complete but not yet renamed, and cleaning stray temporaries.
    private func recoverWork() {
        let c = configuration
        let tokens = (try? FS.list(c.work)) ?? []
        for token in tokens.sorted() where !token.hasPrefix(".") {
            let directory = c.work.appending(token)
            guard (try? FS.metadata(directory))??.kind == .directory else { continue }
            do {
                guard let lock = try FS.lockDirectory(directory) else { continue }  // another daemon's job
                try recover(token: token, directory: directory, lock: lock)
            } catch {
                record(error: "cannot recover work/\(token): \(error)")
                logger.error("recovery failed", metadata: ["token": "\(token)", "error": "\(error)"])
            }
        }
        let live = Set(tokens)
        for folder in [c.outbox, c.failed] {
            for entry in (try? FS.list(folder)) ?? [] where entry.hasPrefix(".tmp-") {
                if !live.contains(String(entry.dropFirst(5))) { try? FS.removeTree(folder.appending(entry)) }
            }
        }
    }

    private func recover(token: String, directory: FilePath, lock: FileDescriptor) throws {
        let c = configuration
        let entries = try FS.list(directory)
        let inputs = entries.filter { !$0.hasPrefix(".") }
        let name = SpoolNames.outputName(for: inputs.map(SpoolNames.role(of:)).compactMap { role -> String? in
            if case let .image(n) = role { return n } else { return nil }
        }.first ?? inputs.sorted().first.map(SpoolNames.jobName(of:)) ?? token)
        if entries.contains(".done") {
            // The result was complete: finish its rename if it has not happened (the
            // temporary folder disappears only by that rename).
            for folder in [c.outbox, c.failed] {
                let temporary = folder.appending(".tmp-\(token)")
                guard try FS.metadata(temporary) != nil else { continue }
                let published = try Self.renameIntoPlace(temporary, folder: folder, name: name)
                try FS.syncDirectory(folder)
                logger.info("finished an interrupted publication", metadata: ["job": "\(name)", "result": "\(folder.appending(published))"])
            }
            try FS.removeTree(directory)
            try? lock.close()
            return
        }
        try? FS.removeTree(c.outbox.appending(".tmp-\(token)"))
        let failedTemporary = c.failed.appending(".tmp-\(token)")
        if try FS.metadata(failedTemporary) != nil {
            for entry in try FS.list(failedTemporary) where entry != "error.json" && !inputs.contains(entry) {
                try FS.rename(failedTemporary.appending(entry), to: directory.appending(entry))
            }
            try FS.removeTree(failedTemporary)
        }
        if try FS.list(directory).filter({ !$0.hasPrefix(".") }).isEmpty {
            try FS.removeTree(directory)
            try? lock.close()
            return
        }
        var attempts = 0
        if entries.contains(".attempts"), let bytes = try? FS.readFile(directory.appending(".attempts"), limit: 64) {
            attempts = Int(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let job = Job(token: token, directory: directory, name: name, attempts: attempts, claimedAt: Daemon.monotonic(), lock: lock)
        queued.append(job)
        logger.info("re-queued a job left in work/", metadata: ["job": "\(name)", "token": "\(token)", "attempts": "\(attempts)"])
    }

    // MARK: - Reload and drain

    private func reload() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready else { return }
        state = .reloading
        notify(["RELOADING=1", "STATUS=reloading configuration and model"])
        writeStatusNow()
        logger.info("reloading")
        do {
            var next = try DaemonConfiguration.load(file: configurationFile, overrides: overrides)
            if next.spool != configuration.spool || next.state != configuration.state {
                logger.warning("spool and state folders cannot change on reload; keeping the old ones")
                next.spool = configuration.spool
                next.state = configuration.state
            }
            next.debugJobDelayMilliseconds = configuration.debugJobDelayMilliseconds
            let loaded = try loader(next)
            configuration = next
            processor = loaded
            for identity in loaded.modelIdentities { logger.info("reloaded", metadata: identity.logMetadata) }
        } catch {
            record(error: "reload failed, keeping the previous configuration and model: \(error)")
            logger.error("reload failed; keeping the previous configuration and model", metadata: ["error": "\(error)"])
        }
        state = .ready
        notify(["READY=1", "STATUS=ready"])
        writeStatusNow()
        requestScan()
        schedule()
    }

    private func beginDrain(signal sig: Int32) {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .ready || state == .reloading else { return }
        state = .draining
        logger.info("draining", metadata: ["signal": "\(sig)", "in_flight": "\(running.count)", "queued": "\(queued.count)"])
        notify(["STOPPING=1", "STATUS=draining \(running.count) jobs"])
        for job in queued { returnToInbox(job) }
        queued.removeAll()
        writeStatusNow()
        if running.isEmpty {
            finishDrain()
            return
        }
        let timer = DispatchSource.makeTimerSource(queue: control)
        timer.schedule(deadline: .now() + configuration.drainTimeout)
        timer.setEventHandler(handler: makeDrainDeadlineHandler())
        timer.resume()
        timers.append(timer)
    }

    private func makeDrainDeadlineHandler() -> @Sendable () -> Void {
        { [self] in self.drainDeadline() }
    }

    private func drainDeadline() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .draining else { return }
        for job in running.values {
            let returned = job.phase.withLock { phase -> Bool in
                guard phase == .running else { return false }
                phase = .returned
                return true
            }
            if returned {
                returnToInbox(job)
                running[job.token] = nil
            }
        }
        // Jobs already publishing finish (a few fsyncs) and call `jobFinished`.
        if running.isEmpty { finishDrain() }
    }

    /// Moves a job's inputs back to `inbox/` (never replacing a newer file of the same name,
    /// which keeps the input in `work/` for the next start) and removes its work folder.
    private func returnToInbox(_ job: Job) {
        let c = configuration
        var kept = false
        for entry in (try? FS.list(job.directory)) ?? [] where !entry.hasPrefix(".") {
            do {
                if try !FS.renameNoReplace(job.directory.appending(entry), to: c.inbox.appending(entry)) { kept = true }
            } catch {
                kept = true
                logger.error("cannot return input to inbox", metadata: ["file": "\(entry)", "error": "\(error)"])
            }
        }
        if !kept { try? FS.removeTree(job.directory) }
        job.unlock()
        logger.info("returned to inbox", metadata: ["job": "\(job.name)", "token": "\(job.token)"])
    }

    private func finishDrain() {
        dispatchPrecondition(condition: .onQueue(control))
        guard state == .draining else { return }
        for timer in timers { timer.cancel() }
        watcher.stop()
        state = .stopped
        writeStatusNow()
        logger.info("stopped", metadata: ["done": "\(statistics.done)", "failed": "\(statistics.failed)"])
        exitCode = 0
        finished.signal()
    }

    // MARK: - Status

    private func record(error message: String) {
        lastError = (message, Date())
    }

    private func statusChanged() {
        guard !statusScheduled else { return }
        statusScheduled = true
        control.asyncAfter(deadline: .now() + 0.1) { [self] in
            statusScheduled = false
            if state != .stopped { writeStatusNow() }
        }
    }

    private func writeStatusNow() {
        let now = Date()
        let monotonic = Daemon.monotonic()
        lastStatusWrite = monotonic
        let snapshot = StatusSnapshot(
            pid: getpid(), version: Daemon.version, state: state, startedAt: startedAt, updatedAt: now,
            model: processor?.identity ?? [:], models: processor?.modelIdentities ?? [], waiting: inboxWaiting + queued.count + retryWaiting, queued: queued.count,
            inFlight: running.count, done: statistics.done, failed: statistics.failed,
            latencyP50: statistics.percentile(0.5), latencyP95: statistics.percentile(0.95),
            throughput: statistics.throughput(now: monotonic, uptime: monotonic - startedMonotonic),
            lastError: lastError?.message, lastErrorAt: lastError?.at)
        do {
            try FS.replaceFile(configuration.state.appending("status.json"), try snapshot.json())
            if let textfile = configuration.prometheusTextfile {
                try FS.replaceFile(textfile, snapshot.prometheus())
            }
        } catch {
            logger.error("cannot write status", metadata: ["error": "\(error)"])
        }
        if state == .ready {
            notify(["STATUS=ready; \(running.count) in flight, \(queued.count + inboxWaiting) waiting, \(statistics.done) done, \(statistics.failed) failed"])
        }
    }

    private func notify(_ assignments: [String]) {
        do {
            try notifier.notify(assignments)
        } catch {
            logger.warning("sd_notify failed", metadata: ["error": "\(error)"])
        }
    }

    static func monotonic() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
