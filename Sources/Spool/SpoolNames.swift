/// The naming rules of the spool: which inbox names are ignored, which role a name plays
/// in a job, and how an output folder name is derived from an input name.
enum SpoolNames {
    /// The role of one file in a job.
    enum Role: Equatable {
        /// `NAME.png`, `NAME.jpg`, `NAME.jpeg` (extension case-insensitive).
        case image(String)
        /// `NAME.mask.png`.
        case mask(String)
        /// `NAME.json`.
        case options(String)
        /// Anything else: failed with a reason.
        case unknown

        var jobName: String? {
            switch self {
            case let .image(n), let .mask(n), let .options(n): return n
            case .unknown: return nil
            }
        }
    }

    /// Names never taken: dot-names (editors' and Foundation's temporaries), `*.tmp`, `*.part`.
    static func isIgnored(_ name: String) -> Bool {
        let lower = name.lowercased()
        return name.hasPrefix(".") || lower.hasSuffix(".tmp") || lower.hasSuffix(".part")
    }

    /// The role `name` plays in a job.
    static func role(of name: String) -> Role {
        let lower = name.lowercased()
        func base(_ suffix: String) -> String? {
            guard lower.hasSuffix(suffix) else { return nil }
            let stem = String(name.utf8.dropLast(suffix.utf8.count)) ?? ""
            return stem.isEmpty ? nil : stem
        }
        if let b = base(".mask.png") { return .mask(b) }
        if let b = base(".png") ?? base(".jpg") ?? base(".jpeg") { return .image(b) }
        if let b = base(".json") { return .options(b) }
        return .unknown
    }

    /// The job name of any entry, the `NAME` of `failed/NAME/` and `outbox/NAME/`: its
    /// role's name (`photo` for `photo.png`, `photo.mask.png`, `photo.json`), or for any
    /// other name the name without its last extension (`notes` for `notes.txt`).
    static func jobName(of name: String) -> String {
        if let job = role(of: name).jobName { return job }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    /// A safe folder name for results: control characters become `_`, at most 200 bytes
    /// (cut at a character boundary), never empty or starting with a dot.
    static func outputName(for jobName: String) -> String {
        var result = ""
        for piece in safeScalars(of: jobName) {
            if result.utf8.count + piece.utf8.count > 200 { break }
            result += piece
        }
        while result.hasPrefix(".") { result = "_" + result.dropFirst() }
        return result.isEmpty ? "_" : result
    }

    /// The name an input is copied under into `outbox/NAME/` or `failed/NAME/`: the same
    /// characters as ``outputName(for:)`` replaces become `_` (so `new⏎line.png` is copied
    /// as `new_line.png`), never starting with a dot. Not shortened: it was a file name already.
    static func safeFileName(_ name: String) -> String {
        var result = safeScalars(of: name).joined()
        while result.hasPrefix(".") { result = "_" + result.dropFirst() }
        return result.isEmpty ? "_" : result
    }

    /// Each scalar of `name`, or `_` for a control character (C0, DEL, C1), `/` or the
    /// replacement character (a byte that was not UTF-8).
    private static func safeScalars(of name: String) -> [String] {
        name.unicodeScalars.map { scalar in
            let bad = scalar.value < 0x20 || scalar.value == 0x7F || scalar == "/"
                || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{FFFD}"
            return bad ? "_" : String(scalar)
        }
    }
}
