import Foundation
import SystemPackage

/// The daemon's life cycle, as `status.json` shows it.
public enum DaemonState: String, Sendable {
    case starting, ready, reloading, draining, stopped
}

/// One picture of the daemon for `status.json` and the Prometheus text file.
struct StatusSnapshot {
    var pid: Int32
    var version: String
    var state: DaemonState
    var startedAt: Date
    var updatedAt: Date
    var model: [String: IdentityValue]
    var models: [[String: IdentityValue]] = []
    var waiting: Int
    var queued: Int
    var waitingOnDisk: Int = 0
    var inFlight: Int
    var done: Int
    var failed: Int
    var latencyP50: Double?
    var latencyP95: Double?
    var throughput: Double
    var lastError: String?
    var lastErrorAt: Date?
    var disk = DiskStatus()
    var fleet = FleetStatus()

    private static func iso(_ date: Date) -> String { Timestamp.iso8601(date) }

    /// The JSON document (schema in `docs/daemon.md`).
    func json() throws -> [UInt8] {
        let object: [String: Any] = [
            "pid": Int(pid),
            "version": version,
            "state": state.rawValue,
            "started_at": Self.iso(startedAt),
            "updated_at": Self.iso(updatedAt),
            "uptime_seconds": updatedAt.timeIntervalSince(startedAt),
            "model": model.jsonObject,
            "models": models.map(\.jsonObject),
            "jobs": ["waiting": waiting, "queued": queued, "waiting_on_disk": waitingOnDisk, "in_flight": inFlight,
                     "done": done, "failed": failed],
            "disk": disk.jsonObject(iso: Self.iso),
            "host": fleet.hostObject,
            "watch": fleet.watchObject,
            "lease": fleet.leaseObject(iso: Self.iso),
            "latency_seconds": ["p50": latencyP50.map { $0 as Any } ?? NSNull(), "p95": latencyP95.map { $0 as Any } ?? NSNull()],
            "throughput_jobs_per_second": throughput,
            "last_error": lastError.map { ["message": $0, "at": lastErrorAt.map(Self.iso) ?? ""] as Any } ?? NSNull(),
        ]
        return try JSONText.pretty(object) + [10]
    }

    /// The node_exporter textfile-collector format.
    func prometheus() -> [UInt8] {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double, _ labels: String = "") {
            lines.append("# HELP pixelrnnd_\(name) \(help)")
            lines.append("# TYPE pixelrnnd_\(name) \(type)")
            lines.append("pixelrnnd_\(name)\(labels) \(value)")
        }
        metric("up", "gauge", "1 while the daemon is ready", state == .ready ? 1 : 0, "{state=\"\(state.rawValue)\"}")
        metric("jobs_waiting", "gauge", "Jobs in the inbox or claimed, not yet started", Double(waiting))
        metric("jobs_in_flight", "gauge", "Jobs being processed", Double(inFlight))
        metric("jobs_waiting_on_disk", "gauge", "Jobs in work/ waiting to retry after a transient error (disk full, I/O error)",
               Double(waitingOnDisk))
        metric("claiming_paused", "gauge", "1 while claiming is paused (low or no space, failed claims)",
               disk.claiming == "paused" ? 1 : 0)
        if let free = disk.freeBytes { metric("spool_free_bytes", "gauge", "Bytes free on the spool's file system", Double(free)) }
        metric("jobs_done_total", "counter", "Jobs published to outbox/ since start", Double(done))
        metric("jobs_failed_total", "counter", "Jobs published to failed/ since start", Double(failed))
        metric("latency_p50_seconds", "gauge", "Median claim-to-publish latency", latencyP50 ?? 0)
        metric("latency_p95_seconds", "gauge", "95th percentile claim-to-publish latency", latencyP95 ?? 0)
        metric("throughput_jobs_per_second", "gauge", "Jobs finished per second over the last minute", throughput)
        metric("start_time_seconds", "gauge", "Start time, seconds since the epoch", startedAt.timeIntervalSince1970)
        metric("info", "gauge", "This daemon: its host identity, run and how it watches the inbox", 1,
               "{host=\"\(fleet.host)\",run=\"\(fleet.run)\",watch=\"\(fleet.watch)\",file_system=\"\(fleet.fileSystem)\"}")
        metric("jobs_owned", "gauge", "Job folders in work/ this daemon owns", Double(fleet.owned))
        metric("takeovers_total", "counter", "Jobs taken over from daemons whose lease expired or whose process died",
               Double(fleet.takeovers))
        metric("jobs_lost_total", "counter", "Jobs another daemon took over from this one (nothing published by this one)",
               Double(fleet.lost))
        metric("lease_lapses_total", "counter", "Lease renewals that came later than the lease length", Double(fleet.lapses))
        metric("lease_age_seconds", "gauge", "Seconds since this daemon's lease was last renewed", fleet.leaseAge ?? 0)
        metric("live_daemons", "gauge", "Daemons on the spool whose leases are alive, this one included", Double(fleet.liveRuns.count))
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }
}

/// The spool's file system and the jobs waiting on it, as `status.json`'s `disk` shows them.
struct DiskStatus {
    /// A job waiting in `work/` after transient errors.
    struct WaitingJob {
        var name: String
        var error: String
        /// Wall-clock seconds: the first transient error of the run, the next try.
        var since: Double
        var failures: Int
        var nextTry: Double
        /// `transient_give_up` passed: the next try publishes the failure.
        var givenUp: Bool
    }

    /// At most this many waiting jobs are listed (the count is in `jobs.waiting_on_disk`).
    static let listedJobs = 20

    var freeBytes: Int64?
    var sizeBytes: Int64?
    var minFreeBytes: Int64 = 0
    var minFreeBytesSource = ""
    /// `open`, `paused` (see `paused_because`) or `off` (starting, reloading, draining, stopped).
    var claiming = "off"
    var pausedBecause: String?
    var waitingJobs: [WaitingJob] = []

    func jsonObject(iso: (Date) -> String) -> [String: Any] {
        [
            "free_bytes": freeBytes.map { $0 as Any } ?? NSNull(),
            "size_bytes": sizeBytes.map { $0 as Any } ?? NSNull(),
            "min_free_bytes": minFreeBytes,
            "min_free_bytes_source": minFreeBytesSource,
            "claiming": claiming,
            "paused_because": pausedBecause.map { $0 as Any } ?? NSNull(),
            "waiting_jobs": waitingJobs.map { job -> [String: Any] in
                [
                    "name": job.name, "error": job.error, "since": iso(Date(timeIntervalSince1970: job.since)),
                    "failures": job.failures, "next_try_at": iso(Date(timeIntervalSince1970: job.nextTry)),
                    "given_up": job.givenUp,
                ]
            },
        ]
    }
}

/// Latency percentiles and throughput over a sliding window.
struct JobStatistics {
    private var latencies: [Double] = []
    private var finishTimes: [Double] = []
    var done = 0
    var failed = 0

    mutating func record(latency: Double, at now: Double, failed isFailure: Bool) {
        if isFailure { failed += 1 } else { done += 1 }
        latencies.append(latency)
        if latencies.count > 2000 { latencies.removeFirst(latencies.count - 1000) }
        finishTimes.append(now)
        finishTimes.removeAll { $0 < now - 60 }
    }

    /// The `q` quantile (nearest rank) of the last 1000 latencies.
    func percentile(_ q: Double) -> Double? {
        let recent = latencies.suffix(1000).sorted()
        guard !recent.isEmpty else { return nil }
        let rank = Int((q * Double(recent.count)).rounded(.up)) - 1
        return recent[min(max(rank, 0), recent.count - 1)]
    }

    /// Jobs finished per second over the last minute (or since start, if shorter).
    func throughput(now: Double, uptime: Double) -> Double {
        let window = min(60, max(uptime, 0.001))
        return Double(finishTimes.filter { $0 >= now - window }.count) / window
    }
}

/// This daemon among others on one spool, as `status.json`'s `host`, `watch` and `lease` show it.
struct FleetStatus {
    var host = ""
    var bootID = ""
    var run = ""
    /// `inotify` or `poll`, and what was configured (`auto`…).
    var watch = "inotify"
    var watchConfigured = "auto"
    var fileSystem = "unknown"
    var pollInterval = 0.0
    var leaseSeconds = 0.0
    var renewSeconds = 0.0
    var renewedAt: Date?
    var leaseAge: Double?
    var lapses = 0
    var owned = 0
    var takeovers = 0
    var lost = 0
    /// Runs whose leases are alive: `host`, `run`, `pid`.
    var liveRuns: [(host: String, run: String, pid: Int32)] = []

    var hostObject: [String: Any] { ["id": host, "boot_id": bootID, "run": run] }

    var watchObject: [String: Any] {
        ["mode": watch, "configured": watchConfigured, "file_system": fileSystem,
         "poll_interval_seconds": watch == "poll" ? pollInterval as Any : NSNull()]
    }

    func leaseObject(iso: (Date) -> String) -> [String: Any] {
        [
            "seconds": leaseSeconds, "renew_seconds": renewSeconds,
            "renewed_at": renewedAt.map { iso($0) as Any } ?? NSNull(),
            "lapses": lapses, "jobs_owned": owned, "takeovers": takeovers, "jobs_lost": lost,
            "live_daemons": liveRuns.map { ["host": $0.host, "run": $0.run, "pid": Int($0.pid)] as [String: Any] },
        ]
    }
}
