import Foundation
import Imaging
import SystemIO
import SystemPackage
import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// In-process tests of the parts that need no running daemon.
/// The daemon's alpha probe reads headers with Imaging's reader (libpng, libjpeg).
struct ImageProbeTests {
    func probe(_ bytes: [UInt8], limit: Int64 = 1 << 20) throws -> Bool? {
        let folder = try TemporaryDirectory()
        let path = folder.url.appendingPathComponent("probe.png").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return ImageProbe.pngHasAlpha(FilePath(path), limit: limit)
    }

    @Test(arguments: [(UInt8(0), false), (2, false), (4, true), (6, true)])
    func pngAlphaComesFromTheHeader(colourType: UInt8, alpha: Bool) throws {
        #expect(try probe(TestImages.png(width: 7, height: 3, colourType: colourType)) == alpha)
    }

    @Test func theTestJPEGHeaderReadsAsA640By480ImageWithoutAlpha() throws {
        let header = try Image.header(of: TestImages.jpegHeader(width: 640, height: 480))
        #expect(header.format == .jpeg && header.width == 640 && header.height == 480 && !header.hasAlpha)
        #expect(try probe(TestImages.jpegHeader(width: 6, height: 5)) == false)
    }

    @Test func unreadableOrOversizedFilesGiveNoAnswer() throws {
        var damaged = TestImages.png(width: 4, height: 4, colourType: 6)
        damaged[20] ^= 0x01  // the IHDR chunk's CRC no longer matches
        #expect(try probe(damaged) == nil)
        #expect(try probe(Array("not an image".utf8)) == nil)
        #expect(try probe(TestImages.png(width: 4, height: 4, colourType: 6), limit: 10) == nil)
    }
}

struct ConfigurationTests {
    @Test func fileValuesAndOverridesApplyInOrder() throws {
        var c = DaemonConfiguration()
        try c.apply(text: "# comment\nworkers = 3 # trailing\n\nmask_wait=2.5\nmodel =\n", origin: "test.conf")
        #expect(c.workers == 3)
        #expect(c.maskWait.isApproximatelyEqual(to: 2.5))
        #expect(c.model == nil)
        try c.set("workers", "5")
        #expect(c.workers == 5)
    }

    @Test(arguments: ["workers = 0", "workers = two", "colour = blue", "temperature = -1", "no equals sign"])
    func badLinesAreErrors(line: String) {
        var c = DaemonConfiguration()
        #expect(throws: SpoolError.self) { try c.apply(text: line, origin: "test.conf") }
    }

    @Test func everyKeyIsInTheShippedFileAndTheDocs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("etc/pixelrnnd.conf"), encoding: .utf8)
        let docs = try String(contentsOf: root.appendingPathComponent("docs/daemon.md"), encoding: .utf8)
        var c = DaemonConfiguration()
        try c.apply(text: file, origin: "etc/pixelrnnd.conf")
        for (key, _) in DaemonConfiguration.keys {
            #expect(file.contains("\n\(key) =") || file.contains("\n# \(key) ="), "\(key) missing from etc/pixelrnnd.conf")
            #expect(docs.contains("`\(key)`"), "\(key) missing from docs/daemon.md")
        }
    }
}

struct NameTests {
    @Test(arguments: [
        ("a.png", SpoolNames.Role.image("a")), ("a.JPEG", .image("a")), ("a.mask.png", .mask("a")),
        ("a.json", .options("a")), ("a.txt", .unknown), ("x.y.png", .image("x.y")),
    ])
    func roles(name: String, role: SpoolNames.Role) {
        #expect(SpoolNames.role(of: name) == role)
    }

    @Test(arguments: [".hidden.png", "upload.png.part", "x.tmp", "y.PART"])
    func ignoredNames(name: String) {
        #expect(SpoolNames.isIgnored(name))
    }

    @Test func outputNamesAreSafe() {
        #expect(SpoolNames.outputName(for: "a\nb\u{7}c") == "a_b_c")
        #expect(SpoolNames.outputName(for: String(repeating: "é", count: 300)).utf8.count <= 200)
    }
}

struct FaultRuleTests {
    @Test func wellFormedRulesParse() throws {
        let rules = try FaultInjection.parse("renameat2:EIO:2:outbox,fsync:ENOSPC:*:/spool/,open:13:1")
        #expect(rules.map(\.call) == ["renameat2", "fsync", "open"])
        #expect(rules.map(\.errnoName) == ["EIO", "ENOSPC", "13"])
        #expect(rules.map(\.errno.rawValue) == [EIO, ENOSPC, EACCES])
        #expect(rules.map(\.remaining) == [2, nil, 1])
        #expect(rules.map(\.fragment) == ["outbox", "/spool/", ""])
        #expect(try FaultInjection.parse("").isEmpty)
    }

    @Test(arguments: ["fsync", "fsync:ENOSPC", "fsnyc:ENOSPC:1", "fsync:ENOSPACE:1", "fsync:0:1", "fsync:EIO:0",
                      "fsync:EIO:x", "fsync:EIO:1,,open:EIO:1", ","])
    func malformedRulesAreErrors(text: String) {
        #expect(throws: SpoolError.self) { try FaultInjection.parse(text) }
    }
}

extension Double {
    func isApproximatelyEqual(to other: Double, relativeTolerance: Double = 1e-9) -> Bool {
        abs(self - other) <= relativeTolerance * max(abs(self), abs(other), 1)
    }
}

struct JobOptionsTests {
    func options(_ json: String) throws -> JobOptions {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pixelrnnd-options-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("job.json")
        try Data(json.utf8).write(to: file)
        return try JobOptions(contentsOf: FilePath(file.path), defaults: DaemonConfiguration())
    }

    @Test func orientationIsAutoByDefaultOrANamedScan() throws {
        #expect(try options(#"{"samples": 2}"#).orientation == nil)
        #expect(try options(#"{"orientation": "auto"}"#).orientation == nil)
        #expect(try options(#"{"orientation": "transpose-vertical-flip"}"#).orientation == "transpose-vertical-flip")
    }

    /// Without a temperature in NAME.json or the configuration, the job leaves it to the
    /// serving model (nil); either one sets it, the file over the configuration.
    @Test func temperatureIsLeftToTheModelUnlessTheJobOrConfigurationNamesOne() throws {
        #expect(try options(#"{"samples": 2}"#).temperature == nil)
        #expect(try options(#"{"temperature": 0.8}"#).temperature == 0.8)
        var configuration = DaemonConfiguration()
        try configuration.set("temperature", "0.7")
        #expect(JobOptions(defaults: configuration).temperature == 0.7)
    }

    @Test(arguments: [#"{"orientation": "sideways"}"#, #"{"orientation": 3}"#])
    func badOrientationIsAClearError(json: String) {
        #expect(throws: SpoolError.self) { try options(json) }
    }
}

/// The spool's JSON times: ISO 8601 in UTC to the nearest millisecond, as Foundation's
/// formatter writes and reads them.
struct TimestampTests {
    @Test(arguments: [
        (0, "1970-01-01T00:00:00.000Z"), (0.9999, "1970-01-01T00:00:01.000Z"), (59.9994, "1970-01-01T00:00:59.999Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"), (1_764_484_752.345678, "2025-11-30T06:39:12.346Z"),
        (1_798_761_599.9996, "2027-01-01T00:00:00.000Z"), (-0.25, "1969-12-31T23:59:59.750Z"),
    ])
    func timestampsAreUTCToTheMillisecond(secondsSince1970: Double, expected: String) throws {
        let date = Date(timeIntervalSince1970: secondsSince1970)
        #expect(Timestamp.iso8601(date) == expected)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let read = try #require(formatter.date(from: Timestamp.iso8601(date)))
        #expect(abs(read.timeIntervalSince1970 - secondsSince1970) <= 0.0005 + 1e-6)
    }
}

/// status.json's writer: what it writes reads back as the tree it was given.
struct JSONTextTests {
    @Test func aTreeReadsBackAsItWasWritten() throws {
        let tree: [String: Any] = [
            "text": "quote \" backslash \\ slash / tab \t newline \n bell \u{07} é ✓",
            "integers": [0, -7, Int(Int32.max) + 1], "large": Int64(1) << 40, "unsigned": UInt64(18_000_000_000),
            "numbers": [0.5, -2.25, 1e-7, 3.0, 123_456.789], "flags": [true, false], "nothing": NSNull(),
            "nested": ["b": ["deeper": [String: Any]()], "a": [Any](), "c": [["x": 1]]],
        ]
        let bytes = try JSONText.pretty(tree)
        let read = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let again = try JSONSerialization.data(withJSONObject: read, options: [.sortedKeys])
        let original = try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys])
        #expect(again == original)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("{\n  \"flags\" : [\n    true,\n    false\n  ],\n"))
        #expect(text.contains("\"unsigned\" : 18000000000"))
        #expect(text.contains("\\u0007"))
    }

    @Test func nonFiniteNumbersAndOtherTypesAreRefused() {
        #expect(throws: SpoolError.self) { try JSONText.pretty(["x": Double.nan]) }
        #expect(throws: SpoolError.self) { try JSONText.pretty(["x": Date()]) }
    }
}
