import Dispatch
import Imaging
import SystemPackage

/// Reads PNG headers and options files for the planner, on the daemon's probe queue: a
/// header read may mean reading a whole file of up to `max_bytes`, which must not hold up
/// the control queue.
enum ImageProbe {
    /// One answer for ``InboxPlanner/recordOptions(_:identity:choice:)``.
    struct OptionsResult: Sendable {
        var name: String
        var identity: FileIdentity
        var choice: SharedMaskChoice
    }

    /// What an options file says about a shared mask (`unspecified` when it cannot be read:
    /// the job's processor then says why).
    static func sharedMaskChoice(_ path: FilePath) -> SharedMaskChoice {
        guard let bytes = try? FS.readFile(path, limit: 1 << 16) else { return .unspecified }
        return SharedMaskChoice.of(optionsFile: bytes)
    }

    /// One answer for ``InboxPlanner/recordProbe(_:identity:alpha:)``.
    struct Result: Sendable {
        var name: String
        var identity: FileIdentity
        /// Whether the PNG declares transparency; `nil` when it cannot be read or parsed
        /// (the job is then claimed and its processor says what is wrong).
        var alpha: Bool?
    }

    /// Whether a PNG's header declares transparency (colour type 4 or 6, or `tRNS`).
    static func pngHasAlpha(_ path: FilePath, limit: Int64) -> Bool? {
        guard let bytes = try? FS.readFile(path, limit: limit),
              let header = try? Image.header(of: bytes) else { return nil }
        return header.hasAlpha
    }
}

extension DaemonLoop {
    /// Reads the headers on the probe queue and posts the answers back to the control loop
    /// in small batches (the first at once), so that claims start while the rest are read.
    func startProbes(_ requests: [(name: String, identity: FileIdentity)], options: [(name: String, identity: FileIdentity)] = [],
                     inbox: FilePath, limit: Int64) {
        if !options.isEmpty { probeQueue.async(execute: optionsBatch(options, inbox: inbox)) }
        if !requests.isEmpty { probeQueue.async(execute: probeBatch(requests, inbox: inbox, limit: limit)) }
    }

    /// Options files are small (at most 64 KiB): read them all, then post the answers at once.
    private nonisolated func optionsBatch(_ requests: [(name: String, identity: FileIdentity)], inbox: FilePath) -> @Sendable () -> Void {
        { [self] in
            let results = requests.map {
                ImageProbe.OptionsResult(name: $0.name, identity: $0.identity,
                                         choice: ImageProbe.sharedMaskChoice(inbox.appending($0.name)))
            }
            self.post { $0.probed([], options: results) }
        }
    }

    private nonisolated func probeBatch(_ requests: [(name: String, identity: FileIdentity)], inbox: FilePath,
                                        limit: Int64) -> @Sendable () -> Void {
        { [self] in
            var results: [ImageProbe.Result] = []
            var lastPost = -Double.infinity
            for (index, request) in requests.enumerated() {
                let alpha = ImageProbe.pngHasAlpha(inbox.appending(request.name), limit: limit)
                results.append(ImageProbe.Result(name: request.name, identity: request.identity, alpha: alpha))
                let now = Self.monotonic()
                if index == requests.count - 1 || results.count >= 16 || now - lastPost >= 0.05 {
                    let batch = results
                    results.removeAll()
                    lastPost = now
                    self.post { $0.probed(batch) }
                }
            }
        }
    }
}
