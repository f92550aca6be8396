import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for systemd's notification socket: an `AF_UNIX` datagram socket collecting
/// the daemon's `KEY=value` assignments, one per line of each datagram.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private(set) var messages: [String] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw HarnessError.failed("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8) + [0]
        guard bytes.count <= MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError.failed("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw HarnessError.failed("bind: errno \(errno)") }
    }

    /// Reads every datagram waiting now.
    func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return }
            messages += String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }

    deinit { close(fd) }
}
