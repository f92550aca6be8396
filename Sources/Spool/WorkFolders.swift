import Foundation
import Logging
import SystemPackage

/// The `work/` side of the spool: claiming inbox files into `work/TOKEN/`, returning them
/// on a drain, and recovering what a previous run left there. Every file-system call goes
/// through ``FS``. The folders never change while the daemon runs (a reload keeps `spool`).
struct WorkFolders: Sendable {
    /// How a claim ended.
    enum ClaimResult: Sendable {
        /// The files are in `work/TOKEN/`.
        case claimed(Job)
        /// The first file was gone: another daemon took the job, which is left alone.
        case taken
        /// The claim could not be made; the message goes to `last_error`.
        case failed(String)
    }

    /// What recovery found in `work/`.
    struct Recovery: Sendable {
        /// Jobs to queue again, in token order.
        var jobs: [Job] = []
        /// Messages for `last_error`.
        var errors: [String] = []
    }

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

    /// Claims the files by renaming them from `inbox/` into a fresh `work/TOKEN/`. The first
    /// file's rename decides: if another daemon took it first, the job is left alone.
    /// - Parameters:
    ///   - claim: the planner's claim (files, output name, a failure decided in advance).
    ///   - token: a new, unique work folder name.
    ///   - claimedAt: monotonic seconds, for latency.
    ///   - sharedMask: the shared mask's snapshot, written into the folder before the inputs move.
    func claim(_ claim: InboxClaim, token: String, claimedAt: Double, sharedMask: SharedMaskSnapshot? = nil) -> ClaimResult {
        let name = claim.outputName
        let files = claim.files
        let directory = work.appending(token)
        var lock: FileDescriptor?
        do {
            try FS.makeDirectory(directory, mode: 0o750)
            lock = try FS.lockDirectory(directory)
            try sharedMask?.write(into: directory)
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
                try? lock?.close()
                try? FS.removeTree(directory)
                return .taken
            }
        } catch {
            try? lock?.close()
            try? FS.removeTree(directory)
            logger.error("claim failed", metadata: ["job": "\(name)", "error": "\(error)"])
            return .failed("cannot claim \(files.joined(separator: ", ")): \(error)")
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
    func returnToInbox(_ job: Job) {
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
    }

    /// Examines the jobs a previous run left in `work/`: finishes any publication that was
    /// complete but not yet renamed, deletes partial results, and returns the rest to be
    /// queued again; then removes stray temporaries in `outbox/` and `failed/`. A work folder
    /// whose `flock` another daemon holds is left alone.
    /// - Parameter claimedAt: monotonic seconds, the recovered jobs' claim time.
    func recover(claimedAt: Double) -> Recovery {
        var recovery = Recovery()
        let tokens = (try? FS.list(work)) ?? []
        for token in tokens.sorted() where !token.hasPrefix(".") {
            let directory = work.appending(token)
            guard (try? FS.metadata(directory))??.kind == .directory else { continue }
            do {
                guard let lock = try FS.lockDirectory(directory) else { continue }  // another daemon's job
                if let job = try recover(token: token, directory: directory, lock: lock, claimedAt: claimedAt) {
                    recovery.jobs.append(job)
                }
            } catch {
                recovery.errors.append("cannot recover work/\(token): \(error)")
                logger.error("recovery failed", metadata: ["token": "\(token)", "error": "\(error)"])
            }
        }
        let live = Set(tokens)
        for folder in [outbox, failed] {
            for entry in (try? FS.list(folder)) ?? [] where entry.hasPrefix(".tmp-") {
                if !live.contains(String(entry.dropFirst(5))) { try? FS.removeTree(folder.appending(entry)) }
            }
        }
        return recovery
    }

    private func recover(token: String, directory: FilePath, lock: FileDescriptor, claimedAt: Double) throws -> Job? {
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
        try? FS.removeTree(outbox.appending(".tmp-\(token)"))
        let failedTemporary = failed.appending(".tmp-\(token)")
        if try FS.metadata(failedTemporary) != nil {
            for entry in try FS.list(failedTemporary) where entry != "error.json" && !inputs.contains(entry) {
                try FS.rename(failedTemporary.appending(entry), to: directory.appending(entry))
            }
            try FS.removeTree(failedTemporary)
        }
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
        logger.info("re-queued a job left in work/", metadata: ["job": "\(name)", "token": "\(token)", "attempts": "\(attempts)"])
        return job
    }
}
