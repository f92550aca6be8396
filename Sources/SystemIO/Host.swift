#if canImport(Glibc)
import Glibc
#endif
public import SystemPackage

/// What a process needs to know about the machine it runs on and the file systems it
/// shares with others: the host's name and boot, whether a process exists, and what kind
/// of file system holds a path.
public enum Host {
    /// The kernel's host name (`gethostname`), or `localhost` when it cannot be read.
    public static func name() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return name.isEmpty ? "localhost" : name
    }

    /// This boot of the machine: `/proc/sys/kernel/random/boot_id`, a random UUID the
    /// kernel draws at each boot; empty when it cannot be read.
    public static func bootID() -> String {
        guard let bytes = try? FileSystem.readFile("/proc/sys/kernel/random/boot_id", limit: 128, followLinks: true) else {
            return ""
        }
        return String(decoding: bytes.filter { $0 > 0x20 }, as: UTF8.self)
    }

    /// Whether a process with this pid exists on this machine (`kill(pid, 0)`: any answer
    /// but `ESRCH` means it does). A question, not an operation: not subject to ``FaultHook``.
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno != ESRCH
    }

    /// A file system as `statfs(2)` names it.
    public struct FileSystemKind: Sendable, Equatable, CustomStringConvertible {
        /// `f_type`, the file system's magic number.
        public var magic: UInt64
        /// Its usual name (`ext4`, `nfs`, `tmpfs`…), or the magic number in hex.
        public var name: String
        /// Whether other machines may change the file system behind this one's back, so that
        /// inotify, which sees only this kernel's changes, cannot be trusted with it:
        /// NFS, SMB/CIFS, Ceph, 9p and FUSE (which covers GlusterFS, s3fs, sshfs…).
        public var isShared: Bool

        public var description: String { name }

        /// The kind of a magic number.
        public init(magic: UInt64) {
            self.magic = magic
            let known: [UInt64: (String, Bool)] = [
                0x6969: ("nfs", true),
                0xFF53_4D42: ("cifs", true),
                0xFE53_4D42: ("smb2", true),
                0x517B: ("smb", true),
                0x00C3_6400: ("ceph", true),
                0x0102_1997: ("9p", true),
                0x6573_5546: ("fuse", true),
                0x4750_4653: ("gpfs", true),
                0x0BD0_0BD0: ("lustre", true),
                0xEF53: ("ext4", false),
                0x5846_5342: ("xfs", false),
                0x9123_683E: ("btrfs", false),
                0x0102_1994: ("tmpfs", false),
                0x794C_7630: ("overlayfs", false),
                0x2FC1_2FC1: ("zfs", false),
            ]
            let entry = known[magic] ?? ("0x" + String(magic, radix: 16), false)
            name = entry.0
            isShared = entry.1
        }
    }

    private typealias StatFS = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Int32

    /// glibc's `statfs`, which the Swift Glibc module does not import (`sys/vfs.h`); looked up once.
    private static let statfsFunction: StatFS? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "statfs") else { return nil }
        return unsafeBitCast(symbol, to: StatFS.self)
    }()

    /// The kind of file system holding `path` (`statfs(2)`: `f_type`, the first field of
    /// `struct statfs` on Linux, a `long`).
    public static func fileSystemKind(_ path: FilePath) throws(SystemIOError) -> FileSystemKind {
        guard let statfsFunction else { throw .system(call: "statfs", path: path.string, errno: .noFunction) }
        // struct statfs is 120 bytes on 64-bit Linux; the buffer is roomier.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        try Syscall.libc("statfs", path) { path.withPlatformString { statfsFunction($0, buffer) } }
        let type = buffer.load(as: Int.self)
        return FileSystemKind(magic: UInt64(UInt(bitPattern: type)) & 0xFFFF_FFFF)
    }
}
