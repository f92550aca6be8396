import SystemPackage

/// The name of a claimed job's folder: `work/TOKEN@RUN`, the job's token and the run of
/// the daemon that owns it. The owner is part of the name so that ownership passes in one
/// `rename(2)`: a takeover renames `TOKEN@OLD` to `TOKEN@NEW`, which only one daemon can
/// do, and after which every path the old owner holds (its result, `.done`, the rename
/// that would publish it) is gone. A folder without `@RUN` was claimed by an earlier
/// version, which told its owner by the `flock` alone.
struct WorkFolderName: Sendable, Equatable {
    /// The job's token, the same under every owner.
    var token: String
    /// The run that owns the job; `nil` for a folder of an earlier version.
    var owner: String?

    init(token: String, owner: String?) {
        self.token = token
        self.owner = owner
    }

    /// Parses a folder name; `nil` for hidden names (`.claim-…`).
    init?(parsing name: String) {
        guard !name.hasPrefix("."), !name.isEmpty else { return nil }
        if let at = name.lastIndex(of: "@") {
            token = String(name[..<at])
            owner = String(name[name.index(after: at)...])
            if token.isEmpty || owner!.isEmpty { return nil }
        } else {
            token = name
            owner = nil
        }
    }

    /// The folder's name.
    var text: String { owner.map { "\(token)@\($0)" } ?? token }
}

/// Who a daemon run is: the host identity (`host_id`), the boot of the machine, the pid, and
/// the run (pid and a random number drawn at start), which names its lease and its folders.
struct OwnerIdentity: Sendable, Equatable {
    var host: String
    var bootID: String
    var pid: Int32
    var run: String
}

/// What a run's lease file (`leases/RUN`) says. The owner rewrites it every `lease_renew`
/// seconds with a new `renewal` number; others judge it by whether it changes.
struct LeaseRecord: Sendable, Equatable {
    var owner: OwnerIdentity
    /// Increases with every write.
    var renewal: Int
    /// `running`, or `stopped` once the daemon has exited cleanly (its jobs may be taken at once).
    var state: String
    /// Jobs the run was processing at the last write (a job that is publishing no longer
    /// counts: its processor is done). It is rewritten whenever the run goes
    /// from one job in flight to several or back, so that after a death it tells whether
    /// the job found in flight was alone (``CrashAttribution``).
    var inFlight: Int
    /// The lease length the owner runs with, for people reading the file.
    var leaseSeconds: Double

    /// The file's text: `key=value` lines. Its length does not change from one renewal to
    /// the next (the numbers are padded; `running` and `stopped` are as long), so that it
    /// is rewritten in place, without a new block: a full disk does not stop renewals.
    var text: String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(max(0, value))
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return """
            host=\(owner.host)
            boot_id=\(owner.bootID)
            pid=\(owner.pid)
            run=\(owner.run)
            renewal=\(padded(renewal, 12))
            state=\(state)
            in_flight=\(padded(inFlight, 4))
            lease_seconds=\(InboxPlanner.format(leaseSeconds))

            """
    }

    /// Parses a lease file; `nil` when a field is missing.
    init?(text: String) {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let host = fields["host"], let pid = fields["pid"].flatMap({ Int32($0) }), let run = fields["run"],
              let renewal = fields["renewal"].flatMap({ Int($0) }) else { return nil }
        owner = OwnerIdentity(host: host, bootID: fields["boot_id"] ?? "", pid: pid, run: run)
        self.renewal = renewal
        state = fields["state"] ?? "running"
        inFlight = fields["in_flight"].flatMap { Int($0) } ?? 0
        leaseSeconds = fields["lease_seconds"].flatMap { Double($0) } ?? 0
    }

    init(owner: OwnerIdentity, renewal: Int, state: String, inFlight: Int, leaseSeconds: Double) {
        self.owner = owner
        self.renewal = renewal
        self.state = state
        self.inFlight = inFlight
        self.leaseSeconds = leaseSeconds
    }
}

/// Whether the owner of a job folder is gone, and why.
enum OwnerVerdict: Sendable, Equatable {
    case alive
    case gone(String)

    var isGone: Bool { if case .gone = self { true } else { false } }
}

/// How a daemon judges other runs' leases. Each run's lease file is read (open and read:
/// on NFS this revalidates, where a `stat` may answer from the attribute cache) and its
/// bytes compared with the last reading; the time it last changed is kept on this
/// daemon's own monotonic clock, so clocks of different hosts never need to agree. A
/// lease expires when it has not changed for `lease` seconds of this daemon's time: a
/// daemon that starts, or one that was itself paused, waits a whole lease before it takes
/// anything over.
struct LeaseObserver: Sendable {
    private struct Seen: Sendable {
        var content: [UInt8]?
        var changedAt: Double
    }

    private var seen: [String: Seen] = [:]

    /// Records a reading of `run`'s lease (`nil`: missing or unreadable).
    /// - Returns: seconds since it last changed, by this daemon's clock.
    mutating func observe(_ run: String, content: [UInt8]?, now: Double) -> Double {
        if let last = seen[run], last.content == content { return now - last.changedAt }
        seen[run] = Seen(content: content, changedAt: now)
        return 0
    }

    /// Forgets runs no longer of interest.
    mutating func keepOnly(_ runs: Set<String>) {
        seen = seen.filter { runs.contains($0.key) }
    }

    /// The rule: whether the owner `run` of a job folder is gone, for daemon `me`.
    /// - Parameters:
    ///   - run: the owning run.
    ///   - record: its lease as read now (`nil`: missing or unreadable).
    ///   - unchangedFor: seconds the lease has not changed (``observe(_:content:now:)``).
    ///   - me: the judging daemon.
    ///   - lease: the lease length (`lease`).
    ///   - processExists: whether a pid exists on this machine.
    static func verdict(run: String, record: LeaseRecord?, unchangedFor: Double, me: OwnerIdentity, lease: Double,
                        processExists: (Int32) -> Bool) -> OwnerVerdict {
        if let record {
            if record.state == "stopped" { return .gone("its daemon stopped") }
            // The pid means something only on the same host in the same boot. A different
            // boot under the same host identity may be a reboot, or another machine given
            // the same name: the lease alone decides then.
            let owner = record.owner
            if owner.host == me.host, !owner.bootID.isEmpty, owner.bootID == me.bootID, !processExists(owner.pid) {
                return .gone("process \(owner.pid) no longer exists on this host")
            }
        }
        if unchangedFor >= lease {
            let what = record == nil ? "no readable lease" : "lease not renewed"
            return .gone("\(what) for \(InboxPlanner.format((unchangedFor * 10).rounded() / 10)) s (lease = \(InboxPlanner.format(lease)) s)")
        }
        return .alive
    }
}
