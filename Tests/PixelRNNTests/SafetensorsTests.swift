import Foundation
import SystemIO
import SystemPackage
import Testing
import TestSupport
@testable import PixelRNN

@Suite("Safetensors")
struct SafetensorsTests {
    static func sampleFile() -> SafetensorsFile {
        var random = RandomSource(seed: 17)
        let weights = (0..<(4 * 3 * 3 * 3)).map { _ in random.nextNormal() }
        let special: [Float] = [
            0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFFA0_0001), Float(bitPattern: 0x0001_1170), -3.5,
        ]
        return SafetensorsFile(
            metadata: [
                "kind": "row_lstm", "h": "32", "quote \"and\" backslash \\": "line\nbreak\ttab\u{01}",
                "unicode": "größe ✓ 🎨",
            ],
            tensors: [
                "blocks.0.input_to_state.weight": SafetensorsTensor(shape: [4, 3, 3, 3], values: weights),
                "special": SafetensorsTensor(shape: [2, 5], values: special),
                "scalar": SafetensorsTensor(shape: [], values: [42]),
                "empty": SafetensorsTensor(shape: [0, 3], values: []),
            ])
    }

    static func assertBitwiseEqual(_ a: SafetensorsFile, _ b: SafetensorsFile) {
        #expect(a.metadata == b.metadata)
        #expect(Set(a.tensors.keys) == Set(b.tensors.keys))
        for (name, tensor) in a.tensors {
            #expect(b.tensors[name].map { tensor.isBitwiseEqual(to: $0) } == true, "tensor \(name)")
        }
    }

    @Test func roundTripIsBitForBit() throws {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/model.safetensors"
        let original = Self.sampleFile()
        try original.write(to: path)
        let loaded = try SafetensorsFile(contentsOf: path)
        Self.assertBitwiseEqual(original, loaded)
        // Writing what was read gives the same bytes again, and only the file is left.
        #expect(loaded.serialized() == (try FileSystem.readFile(FilePath(path))))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["model.safetensors"])
        // Overwriting replaces the file.
        try SafetensorsFile(tensors: ["x": SafetensorsTensor(shape: [1], values: [1])]).write(to: path)
        #expect(try SafetensorsFile(contentsOf: path).tensors.keys.sorted() == ["x"])
    }

    @Test func layoutFollowsTheFormat() throws {
        let file = SafetensorsFile(
            metadata: ["format": "pt"],
            tensors: [
                "b": SafetensorsTensor(shape: [2], values: [1, -2]),
                "a": SafetensorsTensor(shape: [1, 1], values: [0.5]),
            ])
        let bytes = file.serialized()
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        let expected = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(header.trimmingCharacters(in: .whitespaces) == expected)
        #expect(header.count == length && header.count - expected.count < 8)
        // 0.5, 1, -2 as little-endian float32.
        #expect(Array(bytes[(8 + length)...]) == [0, 0, 0, 0x3F, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0])
        // No metadata: no __metadata__ member.
        let bare = SafetensorsFile(tensors: ["a": SafetensorsTensor(shape: [1], values: [0])]).serialized()
        #expect(!String(decoding: bare, as: UTF8.self).contains("__metadata__"))
    }

    @Test func readsHeadersWrittenByOtherTools() throws {
        // As Python's safetensors writes it: spaces after separators, metadata last,
        // members in any order, unknown members ignored.
        let header = #"{"w": {"shape": [2], "dtype": "F32", "data_offsets": [0, 8], "extra": null}, "#
            + #""__metadata__": {"format": "pt", "esc": "a\u00e9\ud83c\udfa8\n"}}"#
        let file = try SafetensorsFile(bytes: Self.file(header: header, data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]))
        #expect(file.tensors["w"] == SafetensorsTensor(shape: [2], values: [1, 2]))
        #expect(file.metadata == ["format": "pt", "esc": "aé🎨\n"])
    }

    // MARK: Validation

    /// A file from a header text (unpadded) and data bytes.
    static func file(header: String, data: [UInt8]) -> [UInt8] {
        let text = Array(header.utf8)
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: text.count >> (8 * $0)) }
        bytes += text
        bytes += data
        return bytes
    }

    static func entry(_ name: String, dtype: String = "F32", shape: String, offsets: String) -> String {
        #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    /// The error parsing `bytes` gives (recorded as an issue when there is none).
    static func error(_ bytes: [UInt8]) -> CheckpointError? {
        #expect(throws: CheckpointError.self) { try SafetensorsFile(bytes: bytes, path: "m.safetensors") }
    }

    static func error(header: String, dataSize: Int) -> CheckpointError? {
        error(file(header: header, data: [UInt8](repeating: 0, count: dataSize)))
    }

    @Test func truncatedFiles() throws {
        let good = Self.sampleFile().serialized()
        #expect(Self.error(Array(good[0..<5])) == .fileTooShort(path: "m.safetensors", byteCount: 5))
        #expect(Self.error([]) == .fileTooShort(path: "m.safetensors", byteCount: 0))
        // Cut inside the header: the length runs past the end.
        guard case .headerLengthInvalid(_, _, 40) = Self.error(Array(good[0..<40])) else {
            Issue.record("cut header accepted"); return
        }
        // Cut inside the data: the last tensor runs past the end.
        guard case .offsetsOutOfRange = Self.error(Array(good.dropLast(3))) else {
            Issue.record("cut data accepted"); return
        }
        // Trailing bytes belong to no tensor.
        let size = good.count - 8 - Int(good[0]) - Int(good[1]) << 8
        #expect(Self.error(good + [0, 0, 0, 0]) == .nonContiguousData(path: "m.safetensors", offset: size, dataSize: size + 4))
    }

    @Test func absurdHeaderLengths() throws {
        let huge = [UInt8](repeating: 0xFF, count: 8) + Array("{}".utf8)
        #expect(Self.error(huge) == .headerLengthInvalid(path: "m.safetensors", headerLength: .max, fileSize: 10))
        // Over the 100 MB limit, even when the file is that long.
        let length = SafetensorsFile.maximumHeaderLength + 8
        var long = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        long += [UInt8](repeating: UInt8(ascii: " "), count: length)
        long[8] = UInt8(ascii: "{")
        long[9] = UInt8(ascii: "}")
        #expect(Self.error(long) == .headerLengthInvalid(
            path: "m.safetensors", headerLength: UInt64(length), fileSize: length + 8))
        var justUnder = long
        justUnder.removeLast(16)
        justUnder.replaceSubrange(0..<8, with: (0..<8).map { UInt8(truncatingIfNeeded: (length - 16) >> (8 * $0)) })
        #expect(try SafetensorsFile(bytes: justUnder).tensors.isEmpty)
    }

    @Test func corruptedHeaders() throws {
        var good = Self.sampleFile().serialized()
        good[8] = UInt8(ascii: "x")
        guard case .headerNotJSON = Self.error(good) else { Issue.record("broken JSON accepted"); return }
        guard case .headerNotJSON = Self.error(header: "{\"a\":\u{7F}", dataSize: 0) else {
            Issue.record("garbage accepted"); return
        }
        guard case .headerNotJSON = Self.error(Self.file(header: "{\"\u{FF}\":1}", data: []).map { $0 == 0xC3 ? 0xFF : $0 })
        else { Issue.record("bad UTF-8 accepted"); return }
        guard case .headerNotJSON = Self.error(header: String(repeating: "[", count: 100_000), dataSize: 0) else {
            Issue.record("deep nesting accepted"); return
        }
        #expect(Self.error(header: "[1, 2]", dataSize: 0) == .headerNotObject(path: "m.safetensors", found: "an array"))
        #expect(Self.error(header: "\"x\"", dataSize: 0) == .headerNotObject(path: "m.safetensors", found: "a string"))
    }

    @Test func malformedEntries() {
        let p = "m.safetensors"
        #expect(Self.error(header: #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, dataSize: 4)
            == .missingField(path: p, tensor: "a", field: "dtype"))
        #expect(Self.error(header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, dataSize: 4)
            == .missingField(path: p, tensor: "a", field: "shape"))
        #expect(Self.error(header: #"{"a":{"dtype":"F32","shape":[1]}}"#, dataSize: 4)
            == .missingField(path: p, tensor: "a", field: "data_offsets"))
        #expect(Self.error(header: "{" + Self.entry("a", dtype: "F16", shape: "[2]", offsets: "[0,4]") + "}", dataSize: 4)
            == .unsupportedDType(path: p, tensor: "a", dtype: "F16"))
        for (shape, offsets) in [("[-1]", "[0,4]"), ("[1.5]", "[0,4]"), ("3", "[0,4]"), ("[1]", "[0]"), ("[1]", "[0,\"4\"]")] {
            let error = Self.error(header: "{" + Self.entry("a", shape: shape, offsets: offsets) + "}", dataSize: 4)
            guard case .malformedEntry(p, "a", _) = error else {
                Issue.record("shape \(shape) offsets \(offsets): \(String(describing: error))"); continue
            }
        }
        guard case .malformedEntry(p, "a", _) = Self.error(header: #"{"a":7}"#, dataSize: 0) else {
            Issue.record("number entry accepted"); return
        }
    }

    @Test func badOffsets() {
        let p = "m.safetensors"
        func header(_ entries: String...) -> String { "{" + entries.joined(separator: ",") + "}" }
        #expect(Self.error(header: header(Self.entry("a", shape: "[2]", offsets: "[0,8]")), dataSize: 4)
            == .offsetsOutOfRange(path: p, tensor: "a", begin: 0, end: 8, dataSize: 4))
        #expect(Self.error(header: header(Self.entry("a", shape: "[0]", offsets: "[4,0]")), dataSize: 4)
            == .offsetsOutOfRange(path: p, tensor: "a", begin: 4, end: 0, dataSize: 4))
        #expect(Self.error(header: header(
            Self.entry("a", shape: "[2]", offsets: "[0,8]"), Self.entry("b", shape: "[2]", offsets: "[4,12]")), dataSize: 12)
            == .overlappingData(path: p, tensor: "b", other: "a"))
        #expect(Self.error(header: header(
            Self.entry("a", shape: "[1]", offsets: "[0,4]"), Self.entry("b", shape: "[1]", offsets: "[8,12]")), dataSize: 12)
            == .nonContiguousData(path: p, offset: 4, dataSize: 12))
        #expect(Self.error(header: header(Self.entry("a", shape: "[1]", offsets: "[4,8]")), dataSize: 8)
            == .nonContiguousData(path: p, offset: 0, dataSize: 8))
        #expect(Self.error(header: header(Self.entry("a", shape: "[2,2]", offsets: "[0,12]")), dataSize: 12)
            == .sizeMismatch(path: p, tensor: "a", shape: [2, 2], byteCount: 12))
        guard case .sizeMismatch = Self.error(
            header: header(Self.entry("a", shape: "[4611686018427387904,4]", offsets: "[0,4]")), dataSize: 4)
        else { Issue.record("overflowing shape accepted"); return }
        guard case .malformedEntry = Self.error(
            header: header(Self.entry("a", shape: "[1]", offsets: "[0,99999999999999999999999]")), dataSize: 4)
        else { Issue.record("huge offset accepted"); return }
    }

    @Test func namesAndMetadata() {
        let p = "m.safetensors"
        let a = Self.entry("a", shape: "[1]", offsets: "[0,4]")
        #expect(Self.error(header: "{\(a),\(a)}", dataSize: 4) == .duplicateTensorName(path: p, name: "a"))
        #expect(Self.error(header: #"{"__metadata__":{"k":1},"# + a + "}", dataSize: 4)
            == .metadataNotString(path: p, key: "k", found: "a number"))
        #expect(Self.error(header: #"{"__metadata__":["k"],"# + a + "}", dataSize: 4)
            == .metadataNotObject(path: p, found: "an array"))
        #expect(Self.error(header: #"{"__metadata__":{},"__metadata__":{},"# + a + "}", dataSize: 4)
            == .duplicateTensorName(path: p, name: "__metadata__"))
    }

    /// Why the header has its own parser (Checkpoint/JSON.swift): Foundation keeps one
    /// of two equal keys without a word, so it could not refuse the duplicates above.
    /// When this fails, Foundation has learnt to report them and the parser can go.
    @Test func foundationHidesDuplicateKeys() throws {
        let text = Data(#"{"a":1,"a":2}"#.utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Int])
        #expect(object.count == 1)
        guard case .object(let members) = try JSONParser.parse(Array(text)) else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["a", "a"])
    }

    @Test func errorsNameTheFileAndTheProblem() {
        let error = CheckpointError.sizeMismatch(path: "/m/x.safetensors", tensor: "head.weight", shape: [3, 8], byteCount: 90)
        #expect(error.description == "/m/x.safetensors: tensor \"head.weight\": data spans 90 bytes but shape [3, 8] needs 96")
        #expect(error.path == "/m/x.safetensors")
    }

    @Test func ioErrors() throws {
        let folder = try TemporaryDirectory()
        let missing = folder.url.path + "/none/model.safetensors"
        let readError = #expect(throws: CheckpointError.self) { try SafetensorsFile(contentsOf: missing) }
        #expect(readError == .io(path: missing, call: "open", errno: ENOENT))
        let writeError = #expect(throws: CheckpointError.self) { try Self.sampleFile().write(to: missing) }
        #expect(writeError == .io(path: missing, call: "open", errno: ENOENT))
        let folderError = #expect(throws: CheckpointError.self) { try SafetensorsFile(contentsOf: folder.url.path) }
        #expect(folderError == .io(path: folder.url.path, call: "open", errno: EISDIR))
    }

    @Test func fileDigest() throws {
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/abc"
        try writeFile(Array("abc".utf8), to: path)
        #expect(try SafetensorsFile.sha256(ofFileAt: path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Larger than one read chunk.
        var random = RandomSource(seed: 4)
        let big = (0..<(3 << 20) + 17).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try writeFile(big, to: path)
        #expect(try SafetensorsFile.sha256(ofFileAt: path) == SHA256.hex(SHA256.hash(big)))
        #expect(throws: CheckpointError.self) { try SafetensorsFile.sha256(ofFileAt: path + ".missing") }
    }
}
