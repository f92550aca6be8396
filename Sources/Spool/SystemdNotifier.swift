import SystemIO
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (`sd_notify(3)`): newline-separated `KEY=value`
/// assignments sent as one datagram to the `AF_UNIX` socket named by `$NOTIFY_SOCKET`.
///
/// Written here rather than linking libsystemd: the protocol is one `sendto(2)`, and
/// `sd_notifyf` is variadic, which Swift cannot call. Without `$NOTIFY_SOCKET` (not run
/// by systemd) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket address from `$NOTIFY_SOCKET` (`@` prefix = abstract namespace), or `nil`.
    let socketPath: [UInt8]?
    /// The watchdog period from `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, if set, must be us).
    public let watchdogInterval: Double?

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    public init() {
        if let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !value.isEmpty,
           value.hasPrefix("/") || value.hasPrefix("@") {
            var bytes = Array(value.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
            socketPath = bytes
        } else {
            socketPath = nil
        }
        var watchdog: Double?
        if let usec = getenv("WATCHDOG_USEC").flatMap({ UInt64(String(cString: $0)) }), usec > 0 {
            let pid = getenv("WATCHDOG_PID").flatMap { Int32(String(cString: $0)) }
            if pid == nil || pid == getpid() { watchdog = Double(usec) / 1e6 }
        }
        watchdogInterval = watchdog
    }

    /// Whether notifications go anywhere.
    public var isEnabled: Bool { socketPath != nil }

    /// Sends one notification, e.g. `["READY=1", "STATUS=ready"]`.
    /// - Throws: ``SpoolError/system(call:path:errno:)`` when the socket cannot be reached.
    public func notify(_ assignments: [String]) throws {
        guard let socketPath else { return }
        let message = Array(assignments.map { $0.replacingNewlines }.joined(separator: "\n").utf8)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard socketPath.count < capacity else {
            throw SpoolError.configuration("NOTIFY_SOCKET path is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: socketPath)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + socketPath.count + (socketPath.first == 0 ? 0 : 1))
        let path = FilePath(String(decoding: socketPath.map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self))
        do throws(SystemIOError) {
            let fd = try Syscall.libc("socket", path) { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            defer { close(fd) }
            try Syscall.libc("sendto", path) {
                message.withUnsafeBytes { bytes in
                    withUnsafePointer(to: &address) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                            sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), sa, length)
                        }
                    }
                }
            }
        } catch {
            throw SpoolError(error)
        }
    }
}

extension String {
    /// Newlines would split one assignment into two; the protocol has no escaping.
    var replacingNewlines: String { String(map { $0.isNewline ? " " : $0 }) }
}
