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

    /// The job name of any input: its role's name, or the whole name for unknown ones.
    static func jobName(of name: String) -> String {
        role(of: name).jobName ?? name
    }

    /// A safe folder name for results: control characters become `_`, at most 200 bytes
    /// (cut at a character boundary), never empty or starting with a dot.
    static func outputName(for jobName: String) -> String {
        var result = ""
        for scalar in jobName.unicodeScalars {
            let bad = scalar.value < 0x20 || scalar.value == 0x7F || scalar == "/"
                || (0x80..<0xA0).contains(scalar.value) || scalar == "\u{FFFD}"
            let piece = bad ? "_" : String(scalar)
            if result.utf8.count + piece.utf8.count > 200 { break }
            result += piece
        }
        while result.hasPrefix(".") { result = "_" + result.dropFirst() }
        return result.isEmpty ? "_" : result
    }
}
