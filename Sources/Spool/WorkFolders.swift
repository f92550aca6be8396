import Foundation
import Logging
import SystemPackage

/// The `work/` side of the spool: claiming inbox files into `work/TOKEN/`, returning them
/// on a drain, and recovering what a dead process left there — at start, and while the
/// daemon runs. Every file-system call goes through ``FS``. The folders never change while
/// the daemon runs (a reload keeps `spool`).
struct WorkFolders: Sendable {
    /// How a claim ended.
    enum ClaimResult: Sendable {
        /// The files are in `work/TOKEN/`, whose lock the job holds.
        case claimed(Job)
        /// The first file was gone: another daemon took the job, which is left alone.
        case taken
        /// The new work folder could not be locked for this process (another process took
        /// it first): nothing was moved; the files stay in `inbox/` for a later scan.
        case busy
        /// The claim could not be made; the message goes to `last_error`.
        case failed(String, noSpace: Bool)
    }

    /// What recovery found in `work/`.
    struct Recovery: Sendable {
        /// Jobs to queue again, in token order; those found in flight have ``Job/runsAlone``.
        var jobs: [Job] = []
        /// Messages for `last_error`.
        var errors: [String] = []
    }

    /// A claim folder (`work/.claim-PID.TOKEN`) whose lock nobody holds was left by a
    /// process that died while claiming when that process is gone, or when it is this old
    /// (a live claim locks its folder at once and renames it within moments); recovery
    /// removes it.
    static let staleClaimAge = 30.0

    let inbox: FilePath
    let work: FilePath
    let outbox: FilePath
    let failed: FilePath
    let logger: Logger

    init(configuration c: DaemonConfiguration, logger: Logger) {
        inbox = c.inbox
        work = c.work
        outbox = c.outbox
        failed = c.failed
        self.logger = logger
    }

    /// Claims the files by renaming them from `inbox/` into a fresh `work/TOKEN/`.
    ///
    /// The folder is made as `work/.claim-PID.TOKEN` (a dot-name, which recovery never takes
    /// for a job), locked, and only then renamed to `work/TOKEN`: a job folder is never
    /// visible without its lock. If the lock cannot be had, the claim backs off and nothing
    /// moves. Then the first file's rename decides: if another daemon took it first, the
    /// job is left alone.
    /// - Parameters:
    ///   - claim: the planner's claim (files, output name, a failure decided in advance).
    ///   - token: a new, unique work folder name.
    ///   - claimedAt: monotonic seconds, for latency.
    ///   - pauseMilliseconds: a test hook: a wait between making the folder and locking it.
    ///   - sharedMask: the shared mask's snapshot, written into the folder before it becomes
    ///     visible as `work/TOKEN/` and before the inputs move.
    func claim(_ claim: InboxClaim, token: String, claimedAt: Double, pauseMilliseconds: Int = 0,
               sharedMask: SharedMaskSnapshot? = nil) -> ClaimResult {
        let name = claim.outputName
        let files = claim.files
        let staging = work.appending(".claim-\(getpid()).\(token)")
        let directory = work.appending(token)
        var lock: FileDescriptor?
        func abandon() {
            try? lock?.close()
            try? FS.removeTree(directory)
            try? FS.removeTree(staging)
        }
        do {
            try FS.makeDirectory(staging, mode: 0o750)
            if pauseMilliseconds > 0 { usleep(UInt32(min(pauseMilliseconds, 600_000)) * 1000) }
            do {
                lock = try FS.lockDirectory(staging)
                if lock != nil {
                    try sharedMask?.write(into: staging)
                    try FS.rename(staging, to: directory)
                }
            } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                lock = nil  // another process's recovery removed it
            }
            guard lock != nil else {
                abandon()
                logger.warning("claim backed off: its work folder was locked or removed by another process",
                               metadata: ["job": "\(name)", "token": "\(token)"])
                return .busy
            }
            var moved = 0
            for (index, file) in files.enumerated() {
                do {
                    try FS.rename(inbox.appending(file), to: directory.appending(file))
                    moved += 1
                } catch SpoolError.system(_, _, .noSuchFileOrDirectory) {
                    if index == 0 { break }  // someone else claimed it
                }
            }
            if moved == 0 {
                abandon()
                return .taken
            }
        } catch {
            abandon()
            logger.error("claim failed", metadata: ["job": "\(name)", "error": "\(error)"])
            return .failed("cannot claim \(files.joined(separator: ", ")): \(error)", noSpace: error.isNoSpaceFailure)
        }
        let job = Job(token: token, directory: directory, name: name, attempts: 0, claimedAt: claimedAt, lock: lock)
        job.presetFailure = claim.failure
        var metadata: Logger.Metadata = ["job": "\(name)", "token": "\(token)", "files": "\(files.joined(separator: ","))"]
        if let sharedMask { metadata["shared_mask"] = "\(sharedMask.name)" }
        logger.info("claimed", metadata: metadata)
        return .claimed(job)
    }

    /// Moves a job's inputs back to `inbox/` (never replacing a newer file of the same name,
    /// which keeps the input in `work/` for the next start) and removes its work folder.
    /// - Returns: `false` when an input had to stay in `work/`.
    @discardableResult
    func returnToInbox(_ job: Job) -> Bool {
        var kept = false
        for entry in (try? FS.list(job.directory)) ?? [] where !entry.hasPrefix(".") {
            do {
                if try !FS.renameNoReplace(job.directory.appending(entry), to: inbox.appending(entry)) { kept = true }
            } catch {
                kept = true
                logger.error("cannot return input to inbox", metadata: ["file": "\(entry)", "error": "\(error)"])
            }
        }
        if !kept { try? FS.removeTree(job.directory) }
        job.unlock()
        logger.info("returned to inbox", metadata: ["job": "\(job.name)", "token": "\(job.token)"])
        return !kept
    }

    /// Writes the job's charged attempts to `.attempts` (not fsynced: it survives `kill -9`;
    /// a power cut may lose one). A failure is logged; the count stays in memory.
    static func recordAttempts(of job: Job, log: Logger) {
        do {
            try FS.replaceFile(job.directory.appending(".attempts"), Array("\(job.attempts)\n".utf8), durable: false)
        } catch {
            log.error("cannot record the attempt", metadata: ["error": "\(error)"])
        }
    }

    /// Marks, by an empty file `.transient-since.SECONDS`, since when the job has met
    /// transient errors, so that `transient_give_up` counts from then across restarts. An
    /// empty file needs no data block, so this usually works on a full disk too.
    func noteTransientSince(_ job: Job, since: Double) {
        let name = ".transient-since.\(Int(since.rounded(.down)))"
        do {
            try FS.writeNewFile(job.directory.appending(name), [], sync: false)
        } catch SpoolError.system(_, _, .fileExists) {
        } catch {
            logger.warning("cannot mark since when the job waits", metadata: ["job": "\(job.name)", "error": "\(error)"])
        }
    }

    /// Examines the job folders in `work/` that no live process holds — left by a process
    /// that died, at start or while this daemon runs: finishes any publication that was
    /// complete but not yet renamed, deletes partial results, and returns the rest to be
    /// queued again. Jobs found in flight (a `.running.RUN` marker) are marked to run alone,
    /// and charged an attempt when they were the only job in flight of their run
    /// (``CrashAttribution``). Then removes temporaries in `outbox/` and `failed/` whose job
    /// is gone, and claim folders left by a death while claiming.
    /// - Parameters:
    ///   - known: tokens of this process's own jobs, left alone.
    ///   - claimedAt: monotonic seconds, the recovered jobs' claim time.
    ///   - now: wall-clock seconds, to tell a stale claim folder.
    func recover(skipping known: Set<String> = [], claimedAt: Double, now: Double) -> Recovery {
        var recovery = Recovery()
        // Temporaries are listed before work/: a job's work folder exists before its
        // temporary, so one whose token is missing from the later listing is an orphan.
        let temporaries = [outbox, failed].flatMap { folder in
            ((try? FS.list(folder)) ?? []).filter { $0.hasPrefix(".tmp-") }.map { (folder, $0) }
        }
        let entries = (try? FS.list(work)) ?? []
        var markers: [String: [String]] = [:]
        for entry in entries.sorted() {
            let directory = work.appending(entry)
            if entry.hasPrefix(".claim-") {
                removeIfStaleClaim(directory, now: now)
                continue
            }
            guard !entry.hasPrefix("."), !known.contains(entry),
                  (try? FS.metadata(directory))??.kind == .directory else { continue }
            do {
                guard let lock = try FS.lockDirectory(directory) else { continue }  // a live process's job
                if let (job, runs) = try recover(token: entry, directory: directory, lock: lock, claimedAt: claimedAt) {
                    recovery.jobs.append(job)
                    if !runs.isEmpty { markers[entry] = runs }
                }
            } catch {
                recovery.errors.append("cannot recover work/\(entry): \(error)")
                logger.error("recovery failed", metadata: ["token": "\(entry)", "error": "\(error)"])
            }
        }
        let charged = CrashAttribution.charged(markers)
        for job in recovery.jobs {
            guard let runs = markers[job.token] else { continue }
            job.runsAlone = true
            if charged.contains(job.token) {
                job.attempts += 1
                Self.recordAttempts(of: job, log: logger)
            }
            for run in runs { try? FS.unlink(job.directory.appending(CrashAttribution.markerPrefix + run)) }
            let beside = runs.map { run in markers.values.filter { $0.contains(run) }.count - 1 }.max() ?? 0
            logger.warning("the job was in flight when a process died; it runs again alone", metadata: [
                "job": "\(job.name)", "token": "\(job.token)", "attempts": "\(job.attempts)",
                "charged": "\(charged.contains(job.token))", "in_flight_beside_it": "\(beside)",
            ])
        }
        let live = Set(entries).union(known)
        for (folder, entry) in temporaries where !live.contains(String(entry.dropFirst(5))) {
            if folder == failed {
                JobPublisher.discardFailedTemporary(folder.appending(entry), restoringInto: nil, log: logger)
            } else {
                try? FS.removeTree(folder.appending(entry))
            }
        }
        return recovery
    }

    /// Removes `work/.claim-PID.TOKEN` when no process holds its lock and either process
    /// PID no longer exists or the folder is older than ``staleClaimAge``.
    private func removeIfStaleClaim(_ directory: FilePath, now: Double) {
        guard let meta = try? FS.metadata(directory), meta.kind == .directory else { return }
        let name = directory.lastComponent?.string ?? ""
        let pid = name.dropFirst(".claim-".count).split(separator: ".").first.flatMap { Int32($0) }
        let ownerGone = pid.map { $0 > 0 && kill($0, 0) == -1 && errno == ESRCH } ?? false
        guard ownerGone || now - meta.modified >= Self.staleClaimAge,
              let lock = try? FS.lockDirectory(directory) else { return }
        try? FS.removeTree(directory)
        try? lock.close()
        logger.info("removed a claim folder left by a dead process", metadata: ["folder": "\(directory)"])
    }

    /// Recovers one locked work folder.
    /// - Returns: the job to queue again with the runs whose `.running` marker it held, or
    ///   `nil` when the job was finished (its folder is removed).
    private func recover(token: String, directory: FilePath, lock: FileDescriptor,
                         claimedAt: Double) throws -> (Job, [String])? {
        let entries = try FS.list(directory)
        let inputs = entries.filter { !$0.hasPrefix(".") }
        let name = SpoolNames.outputName(for: inputs.map(SpoolNames.role(of:)).compactMap { role -> String? in
            if case let .image(n) = role { return n } else { return nil }
        }.first ?? inputs.sorted().first.map(SpoolNames.jobName(of:)) ?? token)
        if entries.contains(".done") {
            // The result was complete: finish its rename if it has not happened (the
            // temporary folder disappears only by that rename).
            for folder in [outbox, failed] {
                let temporary = folder.appending(".tmp-\(token)")
                guard try FS.metadata(temporary) != nil else { continue }
                let published = try JobPublisher.renameIntoPlace(temporary, folder: folder, name: name)
                try FS.syncDirectory(folder)
                logger.info("finished an interrupted publication", metadata: ["job": "\(name)", "result": "\(folder.appending(published))"])
            }
            try FS.removeTree(directory)
            try? lock.close()
            return nil
        }
        try FS.removeTree(outbox.appending(".tmp-\(token)"))
        JobPublisher.discardFailedTemporary(failed.appending(".tmp-\(token)"), restoringInto: directory, log: logger)
        if try FS.list(directory).filter({ !$0.hasPrefix(".") }).isEmpty {
            try FS.removeTree(directory)
            try? lock.close()
            return nil
        }
        var attempts = 0
        if entries.contains(".attempts"), let bytes = try? FS.readFile(directory.appending(".attempts"), limit: 64) {
            attempts = Int(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let job = Job(token: token, directory: directory, name: name, attempts: attempts, claimedAt: claimedAt, lock: lock)
        if let since = entries.compactMap({ $0.hasPrefix(".transient-since.") ? Double($0.dropFirst(17)) : nil }).min() {
            job.retry = RetryState(since: since)
        }
        logger.info("re-queued a job left in work/", metadata: ["job": "\(name)", "token": "\(token)", "attempts": "\(attempts)"])
        return (job, entries.compactMap(CrashAttribution.run(ofMarker:)))
    }
}
