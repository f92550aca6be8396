/// One name in `inbox/` as a scan saw it.
struct InboxEntry: Sendable, Equatable {
    /// What `lstat(2)` said about the name.
    struct Stat: Sendable, Equatable {
        var kind: FS.Kind
        var size: Int64
        /// Modification time, seconds since the epoch.
        var modified: Double
        var inode: UInt64

        /// The facts that tell one file from a later one of the same name.
        var identity: FileIdentity { FileIdentity(inode: inode, size: size, modified: modified) }
    }

    var name: String
    /// `nil` when the name was not examined (ignored names) or could not be (it vanished).
    var stat: Stat?

    init(name: String, stat: Stat?) {
        self.name = name
        self.stat = stat
    }

    /// An examined entry.
    init(name: String, kind: FS.Kind = .regular, size: Int64, modified: Double, inode: UInt64) {
        self.init(name: name, stat: Stat(kind: kind, size: size, modified: modified, inode: inode))
    }
}

/// Inode, size and modification time: a file whose three are unchanged is the same file
/// with the same bytes, as far as the spool cares.
struct FileIdentity: Sendable, Hashable {
    var inode: UInt64
    var size: Int64
    var modified: Double
}

/// A set of inbox files to move into a fresh `work/TOKEN/` as one job.
struct InboxClaim: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// A job's inputs (image, mask, options). Checked for writers before the move.
        case job
        /// A single entry refused at once (not a job input name, not a regular file); moved
        /// as it is, never opened.
        case refused
    }

    /// The job's name (`NAME` of `NAME.png`), or the entry's whole name when refused.
    var job: String
    /// The files, image first: the first one's rename decides the claim.
    var files: [String]
    /// Set when the job goes to `failed/` without processing, with the reason.
    var failure: SpoolError?
    var kind: Kind
    /// The shared mask (`masks/NAME.png`) the job uses; its caller snapshots it into the
    /// work folder with the claim.
    var sharedMask: String? = nil

    /// The folder name the result gets in `outbox/` or `failed/`: `NAME` for a refused
    /// entry too (`failed/notes/` for `notes.txt`), as for a job.
    var outputName: String { SpoolNames.outputName(for: kind == .refused ? SpoolNames.jobName(of: job) : job) }
}

/// What the planner asks its caller to do.
enum InboxAction: Sendable, Equatable {
    /// Move the files into `work/` (a claim with a `failure` goes to `failed/`).
    case claim(InboxClaim)
    /// Read this PNG's header to learn whether it carries alpha, then report it with
    /// ``InboxPlanner/recordProbe(_:identity:alpha:)``.
    case probe(name: String, identity: FileIdentity)
    /// Read this `NAME.json` to learn whether it names a shared mask, then report it with
    /// ``InboxPlanner/recordOptions(_:identity:choice:)``.
    case readOptions(name: String, identity: FileIdentity)
    /// A name the spool never takes (dot-names, `*.tmp`, `*.part`).
    case ignore(String)
    /// Nothing more can be decided before this time (a settle time or a `mask_wait` ends).
    case wait(until: Double)
}

/// The outcome of one planning pass.
struct InboxPlan: Sendable, Equatable {
    /// In order: refused entries oldest first, then jobs by their oldest file; then probes,
    /// ignored names and at most one `wait`.
    var actions: [InboxAction] = []
    /// Jobs (and refused entries) the inbox holds, claimed by this plan or not.
    var inboxJobs = 0
    /// More could have been claimed than the capacity allowed.
    var backlog = false

    var claims: [InboxClaim] { actions.compactMap { if case let .claim(c) = $0 { c } else { nil } } }
    var probes: [String] { actions.compactMap { if case let .probe(name, _) = $0 { name } else { nil } } }
    var optionReads: [String] { actions.compactMap { if case let .readOptions(name, _) = $0 { name } else { nil } } }
    var ignored: [String] { actions.compactMap { if case let .ignore(name) = $0 { name } else { nil } } }
    var wakeup: Double? { actions.lazy.compactMap { if case let .wait(t) = $0 { t } else { nil } }.first }
}

/// Decides, from a listing of `inbox/` and the time, which files form jobs and which jobs
/// to claim. It does no I/O and never sleeps: its caller lists the folder, reads the PNG
/// headers it asks for, performs the claims and reports back.
///
/// The rules (see docs/daemon.md):
/// - dot-names and names ending in `.tmp` or `.part` are ignored;
/// - a file is *settled* when a close-after-write or rename-in event named it, or its last
///   modification is `settle` seconds old; a job with an unsettled file waits;
/// - anything that is not a regular file, or whose name is not a job input, is refused at once;
/// - an image's occlusion comes, by precedence, from its `NAME.mask.png`, from the shared
///   mask its `NAME.json` names (`"mask": "NAME"`), from its alpha channel, or from the
///   configuration's shared mask (`mask`, unless `NAME.json` says `"mask": null`); an image
///   with one of them is a job on its own (the options file must arrive first), an image
///   with none waits for its `NAME.mask.png`, and a mask or options file for its image,
///   `mask_wait` seconds, then the job fails;
/// - at most `capacity` claims per pass, oldest first.
struct InboxPlanner: Sendable {
    /// Whether claims may be made in this pass.
    enum Claiming: Sendable, Equatable {
        /// Up to this many claims.
        case open(capacity: Int)
        /// None (the disk is low); look again at the given time.
        case paused(until: Double)
    }

    /// What a PNG's header said about alpha (`nil`: unreadable).
    private struct Probe {
        var identity: FileIdentity
        var alpha: Bool?
    }

    private struct Group {
        var image: String?
        var imageStat: InboxEntry.Stat?
        var mask: String?
        var options: String?
        var optionsStat: InboxEntry.Stat?
        var oldest = Double.infinity
        var unsettled = false
        var members: [String] { [image, mask, options].compactMap { $0 } }
    }

    /// Seconds since its last modification before a file found by a scan is taken.
    var settle: Double
    /// Seconds an incomplete job waits for its missing part.
    var maskWait: Double
    /// The configuration's shared mask for images with no occlusion of their own.
    var defaultMask: String?

    /// Names an event reported closed after writing or renamed in, with the event's time.
    private(set) var closed: [String: Double] = [:]
    /// Jobs waiting for a mask (or for their image), since when.
    private(set) var waitingSince: [String: Double] = [:]
    private var probed: [String: Probe] = [:]
    /// Probes asked for and not yet reported.
    private var probing: [String: FileIdentity] = [:]
    /// What each options file said about a shared mask, for the file as it was read.
    private var optionsRead: [String: (identity: FileIdentity, choice: SharedMaskChoice)] = [:]
    /// Options reads asked for and not yet reported.
    private var optionsReading: [String: FileIdentity] = [:]

    init(settle: Double, maskWait: Double, defaultMask: String? = nil) {
        self.settle = settle
        self.maskWait = maskWait
        self.defaultMask = defaultMask
    }

    /// An `IN_CLOSE_WRITE` or `IN_MOVED_TO` event named `name`: it is settled from now on.
    mutating func noteClosed(_ name: String, at time: Double) {
        closed[name] = time
    }

    /// The answer to a `probe` action.
    mutating func recordProbe(_ name: String, identity: FileIdentity, alpha: Bool?) {
        probed[name] = Probe(identity: identity, alpha: alpha)
        if probing[name] == identity { probing[name] = nil }
    }

    /// The answer to a `readOptions` action.
    mutating func recordOptions(_ name: String, identity: FileIdentity, choice: SharedMaskChoice) {
        optionsRead[name] = (identity, choice)
        if optionsReading[name] == identity { optionsReading[name] = nil }
    }

    /// The caller attempted `claim` (whatever came of it): its files are forgotten, so that
    /// a later file of the same name starts afresh.
    mutating func claimed(_ claim: InboxClaim) {
        for file in claim.files {
            closed[file] = nil
            probed[file] = nil
            optionsRead[file] = nil
        }
        if claim.kind == .job { waitingSince[claim.job] = nil }
    }

    /// What is known about an image's alpha.
    private enum Alpha {
        case present, absent
        /// The header could not be read or parsed: the job is claimed and its processor
        /// says what is wrong.
        case unreadable
        /// A PNG whose header has not been read (or not since the file changed).
        case unknown
    }

    /// What an options file says about a shared mask; `nil` while it has not been read (or
    /// not since it changed).
    private func sharedMaskChoice(of name: String, _ stat: InboxEntry.Stat) -> SharedMaskChoice? {
        guard let read = optionsRead[name], read.identity == stat.identity else { return nil }
        return read.choice
    }

    private func alpha(of name: String, _ stat: InboxEntry.Stat) -> Alpha {
        // JPEG has no alpha; a PNG says so in its header.
        guard name.lowercased().hasSuffix(".png") else { return .absent }
        guard let probe = probed[name], probe.identity == stat.identity else { return .unknown }
        switch probe.alpha {
        case true?: return .present
        case false?: return .absent
        case nil: return .unreadable
        }
    }

    /// One planning pass over a listing of `inbox/`.
    /// - Parameters:
    ///   - entries: every name in `inbox/`, in directory order (which breaks ties).
    ///   - now: the current time, seconds since the epoch (the clock of file times).
    ///   - claiming: how many claims may be made.
    mutating func plan(_ entries: [InboxEntry], now: Double, claiming: Claiming) -> InboxPlan {
        var plan = InboxPlan()
        var groups: [String: Group] = [:]
        var refused: [(name: String, failure: SpoolError, modified: Double)] = []
        var wakeup: Double?
        func wake(_ t: Double) { wakeup = min(wakeup ?? t, t) }
        var present = Set<String>(minimumCapacity: entries.count)
        var ignored: [String] = []

        for entry in entries {
            let name = entry.name
            present.insert(name)
            if SpoolNames.isIgnored(name) {
                ignored.append(name)
                continue
            }
            guard let stat = entry.stat else { continue }
            let settled = closed[name] != nil || now - stat.modified >= settle
            let role = SpoolNames.role(of: name)
            if !settled {
                wake(stat.modified + settle)
                if let job = role.jobName { groups[job, default: Group()].unsettled = true }
                continue
            }
            if stat.kind != .regular {
                refused.append((name, .notARegularFile(name: name, kind: stat.kind.word), stat.modified))
                continue
            }
            switch role {
            case let .image(job):
                var g = groups[job, default: Group()]
                // Two images for one name: the first in this order wins (a PNG over a JPEG);
                // the other waits for a later job.
                if g.image == nil || name.lowercased().hasSuffix(".png") {
                    g.image = name
                    g.imageStat = stat
                }
                g.oldest = min(g.oldest, stat.modified)
                groups[job] = g
            case let .mask(job):
                groups[job, default: Group()].mask = name
                groups[job]!.oldest = min(groups[job]!.oldest, stat.modified)
            case let .options(job):
                groups[job, default: Group()].options = name
                groups[job]!.optionsStat = stat
                groups[job]!.oldest = min(groups[job]!.oldest, stat.modified)
            case .unknown:
                refused.append((name, .unrecognisedName(name), stat.modified))
            }
        }
        closed = closed.filter { present.contains($0.key) }
        probed = probed.filter { present.contains($0.key) }
        optionsRead = optionsRead.filter { present.contains($0.key) }
        waitingSince = waitingSince.filter { groups[$0.key] != nil }
        plan.inboxJobs = groups.count + refused.count

        let order = groups.sorted { ($0.value.oldest, $0.key) < ($1.value.oldest, $1.key) }
        // Only an image without a mask needs its alpha and what its options say about a
        // shared mask; ask for every such header and options file now, so the answers are
        // in by the time capacity frees.
        var probes: [InboxAction] = []
        for (_, group) in order where !group.unsettled && group.mask == nil && group.image != nil {
            if let options = group.options, let stat = group.optionsStat, sharedMaskChoice(of: options, stat) == nil,
               optionsReading[options] != stat.identity {
                optionsReading[options] = stat.identity
                probes.append(.readOptions(name: options, identity: stat.identity))
            }
            guard let image = group.image, let stat = group.imageStat, alpha(of: image, stat) == .unknown,
                  probing[image] != stat.identity else { continue }
            probing[image] = stat.identity
            probes.append(.probe(name: image, identity: stat.identity))
        }
        var claims: [InboxAction] = []
        switch claiming {
        case let .paused(until):
            wakeup = until
        case let .open(capacity):
            claims = claimable(refused: refused, groups: order, now: now, capacity: capacity, backlog: &plan.backlog, wake: wake)
        }
        plan.actions = claims + probes + ignored.map(InboxAction.ignore)
        if let wakeup { plan.actions.append(.wait(until: wakeup)) }
        return plan
    }

    /// The claims of one pass, at most `capacity`: refused entries oldest first, then
    /// complete jobs (or jobs whose `mask_wait` is over) by their oldest file.
    private mutating func claimable(refused: [(name: String, failure: SpoolError, modified: Double)],
                                    groups order: [(key: String, value: Group)], now: Double, capacity: Int,
                                    backlog: inout Bool, wake: (Double) -> Void) -> [InboxAction] {
        var capacity = capacity
        var claims: [InboxAction] = []
        for single in refused.sorted(by: { $0.modified < $1.modified }) {
            guard capacity > 0 else { backlog = true; break }
            claims.append(.claim(InboxClaim(job: single.name, files: [single.name], failure: single.failure, kind: .refused)))
            capacity -= 1
        }
        for (job, group) in order where !group.unsettled {
            var failure: SpoolError?
            var sharedMask: String?
            if let image = group.image {
                if group.mask == nil, let stat = group.imageStat {
                    var choice = SharedMaskChoice.unspecified
                    if let options = group.options, let optionsStat = group.optionsStat {
                        guard let read = sharedMaskChoice(of: options, optionsStat) else { continue }  // being read
                        choice = read
                    }
                    let alpha = alpha(of: image, stat)
                    if case let .named(name) = choice {
                        sharedMask = name  // named in NAME.json: over the alpha channel
                    } else if alpha == .unknown {
                        continue  // its header is being read
                    } else if alpha == .absent, choice != .none, let defaultMask {
                        sharedMask = defaultMask
                    } else if alpha == .absent {
                        let since = waitingSince[job] ?? now
                        waitingSince[job] = since
                        if now - since < maskWait { wake(since + maskWait); continue }
                        failure = .incompleteJob("'\(image)' has no alpha channel and no mask '\(job).mask.png' arrived within \(Self.format(maskWait)) s (mask_wait), and no shared mask applies (\"mask\" in \(job).json or the configuration's mask); nothing is marked as occluded")
                    }
                }
            } else {
                let since = waitingSince[job] ?? now
                waitingSince[job] = since
                if now - since < maskWait { wake(since + maskWait); continue }
                failure = .incompleteJob("\(group.members.joined(separator: " and ")) arrived but no image '\(job).png', '.jpg' or '.jpeg' within \(Self.format(maskWait)) s (mask_wait)")
            }
            guard capacity > 0 else { backlog = true; break }
            claims.append(.claim(InboxClaim(job: job, files: group.members, failure: failure, kind: .job, sharedMask: sharedMask)))
            capacity -= 1
        }
        return claims
    }

    /// Seconds as a person writes them: `60`, `2.5`.
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
