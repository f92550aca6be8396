// The safetensors container (https://github.com/huggingface/safetensors):
//
//     8 bytes      N, the header length, unsigned little-endian
//     N bytes      JSON header: {"NAME": {"dtype": "F32", "shape": [...],
//                  "data_offsets": [BEGIN, END]}, ..., "__metadata__": {"k": "v"}}
//     the rest     the data section; each tensor's bytes are [BEGIN, END) of it,
//                  row-major, little-endian
//
// Written files are reproducible: keys in byte order, tensors' data in name order,
// the header padded with spaces to a multiple of 8 bytes (so the data is aligned),
// and no `__metadata__` member when there is no metadata. Only float32 tensors
// are written or read.

import SystemIO
import SystemPackage

/// One float32 tensor of a safetensors file: its shape and its values in row-major order.
public struct SafetensorsTensor: Sendable, Equatable {
    /// The dimensions, outermost first (PyTorch's convention: a convolution weight is
    /// `[out, in, kh, kw]`). Empty for a scalar.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values in row-major order.
    public var values: [Float]

    /// Creates a tensor.
    /// - Precondition: Every dimension is non-negative and `values.count` is their product.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension")
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// Whether the two tensors have the same shape and bit-identical values
    /// (unlike `==`, NaNs with equal bits compare equal and `0.0` differs from `-0.0`).
    public func isBitwiseEqual(to other: SafetensorsTensor) -> Bool {
        shape == other.shape && values.count == other.values.count
            && zip(values, other.values).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}

/// A safetensors file: named float32 tensors plus string metadata.
///
/// ```swift
/// var file = SafetensorsFile(metadata: ["kind": "row-lstm"])
/// file.tensors["head.weight"] = SafetensorsTensor(shape: [256, 64, 1, 1], values: weights)
/// try file.write(to: "model.safetensors")
/// let loaded = try SafetensorsFile(contentsOf: "model.safetensors")
/// ```
public struct SafetensorsFile: Sendable, Equatable {
    /// The header's `__metadata__`: free-form string pairs.
    public var metadata: [String: String]
    /// The tensors by name.
    public var tensors: [String: SafetensorsTensor]

    /// The largest header accepted when reading (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// Creates a file in memory.
    public init(metadata: [String: String] = [:], tensors: [String: SafetensorsTensor] = [:]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    // MARK: Reading

    /// Reads and validates the safetensors file at `path`.
    /// - Parameter path: The file.
    /// - Throws: ``CheckpointError``: `.io` when the file cannot be read, or the case
    ///   that names what is wrong with its content (see ``init(bytes:path:)``).
    public init(contentsOf path: String) throws(CheckpointError) {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(FilePath(path), followLinks: true)
        } catch {
            throw CheckpointError(error, path: path)
        }
        try self.init(bytes: bytes, path: path)
    }

    /// Parses and validates a safetensors file's bytes.
    ///
    /// Checks, in order: the file holds the 8-byte length; the header length is at
    /// most the rest of the file and at most 100 MB; the header is UTF-8 JSON and an
    /// object; no name appears twice; `__metadata__`, if present, maps strings to
    /// strings; every tensor entry has `dtype`, `shape` and `data_offsets`, its dtype is
    /// `F32`, its shape and offsets are non-negative integers, its offsets lie inside
    /// the data section and span 4 bytes per element; and the tensors tile the data
    /// section exactly, without overlaps, gaps or trailing bytes. Members other than
    /// these three in a tensor entry are ignored.
    /// - Parameters:
    ///   - bytes: The whole file.
    ///   - path: The file's name, used in errors.
    /// - Throws: ``CheckpointError`` naming the first problem found.
    public init(bytes: [UInt8], path: String = "<memory>") throws(CheckpointError) {
        guard bytes.count >= 8 else { throw .fileTooShort(path: path, byteCount: bytes.count) }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(Self.maximumHeaderLength), length <= UInt64(bytes.count - 8) else {
            throw .headerLengthInvalid(path: path, headerLength: length, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(length)
        let header: JSONValue
        do {
            header = try JSONParser.parse(Array(bytes[8..<headerEnd]))
        } catch {
            throw .headerNotJSON(path: path, reason: error.description)
        }
        guard case .object(let members) = header else { throw .headerNotObject(path: path, found: header.kind) }

        let dataSize = bytes.count - headerEnd
        var seen = Set<String>()
        var metadata: [String: String] = [:]
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw .duplicateTensorName(path: path, name: name) }
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw .metadataNotObject(path: path, found: value.kind) }
                for (key, item) in pairs {
                    guard case .string(let text) = item else {
                        throw .metadataNotString(path: path, key: key, found: item.kind)
                    }
                    guard metadata.updateValue(text, forKey: key) == nil else {
                        throw .duplicateTensorName(path: path, name: "__metadata__.\(key)")
                    }
                }
                continue
            }
            let entry = try Self.parseEntry(name, value, dataSize: dataSize, path: path)
            entries.append((name, entry.shape, entry.begin, entry.end))
        }

        // The tensors must tile the data section.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var previous = ""
        for entry in entries {
            if entry.begin < cursor {
                throw .overlappingData(path: path, tensor: entry.name, other: previous)
            }
            if entry.begin > cursor { throw .nonContiguousData(path: path, offset: cursor, dataSize: dataSize) }
            cursor = entry.end
            previous = entry.name
        }
        guard cursor == dataSize else { throw .nonContiguousData(path: path, offset: cursor, dataSize: dataSize) }

        var tensors: [String: SafetensorsTensor] = [:]
        bytes.withUnsafeBytes { raw in
            for entry in entries {
                let count = (entry.end - entry.begin) / 4
                let base = raw.baseAddress! + headerEnd + entry.begin
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    for i in 0..<count {
                        let bits = base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                        buffer[i] = Float(bitPattern: UInt32(littleEndian: bits))
                    }
                    initialized = count
                }
                tensors[entry.name] = SafetensorsTensor(shape: entry.shape, values: values)
            }
        }
        self.init(metadata: metadata, tensors: tensors)
    }

    /// Validates one tensor entry of the header.
    private static func parseEntry(
        _ name: String, _ value: JSONValue, dataSize: Int, path: String
    ) throws(CheckpointError) -> (shape: [Int], begin: Int, end: Int) {
        guard case .object(let fields) = value else {
            throw .malformedEntry(path: path, tensor: name, reason: "entry is \(value.kind), not an object")
        }
        func field(_ key: String) throws(CheckpointError) -> JSONValue {
            let matches = fields.filter { $0.key == key }
            guard let first = matches.first else { throw .missingField(path: path, tensor: name, field: key) }
            guard matches.count == 1 else {
                throw .malformedEntry(path: path, tensor: name, reason: "\(key) appears more than once")
            }
            return first.value
        }
        let dtypeValue = try field("dtype")
        let shapeValue = try field("shape")
        let offsetsValue = try field("data_offsets")

        guard case .string(let dtype) = dtypeValue else {
            throw .malformedEntry(path: path, tensor: name, reason: "dtype is \(dtypeValue.kind), not a string")
        }
        guard dtype == "F32" else { throw .unsupportedDType(path: path, tensor: name, dtype: dtype) }

        guard case .array(let dimensions) = shapeValue else {
            throw .malformedEntry(path: path, tensor: name, reason: "shape is \(shapeValue.kind), not an array")
        }
        var shape: [Int] = []
        for dimension in dimensions {
            guard let size = dimension.nonNegativeInteger else {
                throw .malformedEntry(path: path, tensor: name, reason: "shape holds something other than non-negative integers")
            }
            shape.append(size)
        }

        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
            let begin = offsets[0].nonNegativeInteger, let end = offsets[1].nonNegativeInteger
        else {
            throw .malformedEntry(path: path, tensor: name, reason: "data_offsets is not two non-negative integers")
        }
        guard begin <= end, end <= dataSize else {
            throw .offsetsOutOfRange(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, product <= dataSize else {
                throw .sizeMismatch(path: path, tensor: name, shape: shape, byteCount: end - begin)
            }
            elements = product
        }
        guard elements * 4 == end - begin else {
            throw .sizeMismatch(path: path, tensor: name, shape: shape, byteCount: end - begin)
        }
        return (shape, begin, end)
    }

    // MARK: Writing

    /// The file's bytes, as ``write(to:)`` stores them.
    ///
    /// The same content always gives the same bytes.
    /// - Precondition: No tensor is named `__metadata__`.
    public func serialized() -> [UInt8] {
        precondition(tensors["__metadata__"] == nil, "\"__metadata__\" is not a valid tensor name")
        let names = tensors.keys.sorted(by: Self.byteOrder)
        var offsets: [String: (begin: Int, end: Int)] = [:]
        var dataSize = 0
        for name in names {
            let size = 4 * tensors[name]!.values.count
            offsets[name] = (dataSize, dataSize + size)
            dataSize += size
        }

        var header: [UInt8] = [UInt8(ascii: "{")]
        var keys = names
        if !metadata.isEmpty { keys.append("__metadata__") }
        keys.sort(by: Self.byteOrder)
        for (k, key) in keys.enumerated() {
            if k > 0 { header.append(UInt8(ascii: ",")) }
            appendJSONString(key, to: &header)
            header.append(UInt8(ascii: ":"))
            if key == "__metadata__" {
                header.append(UInt8(ascii: "{"))
                for (m, metaKey) in metadata.keys.sorted(by: Self.byteOrder).enumerated() {
                    if m > 0 { header.append(UInt8(ascii: ",")) }
                    appendJSONString(metaKey, to: &header)
                    header.append(UInt8(ascii: ":"))
                    appendJSONString(metadata[metaKey]!, to: &header)
                }
                header.append(UInt8(ascii: "}"))
            } else {
                let tensor = tensors[key]!
                let (begin, end) = offsets[key]!
                let shape = tensor.shape.map(String.init).joined(separator: ",")
                header += Array("{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(end)]}".utf8)
            }
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }

        var output = [UInt8](repeating: 0, count: 8 + header.count + dataSize)
        output.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(header.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            header.withUnsafeBytes { raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            let data = raw.baseAddress! + 8 + header.count
            for name in names {
                let begin = offsets[name]!.begin
                tensors[name]!.values.withUnsafeBufferPointer { values in
                    for (i, value) in values.enumerated() {
                        data.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: begin + 4 * i, as: UInt32.self)
                    }
                }
            }
        }
        return output
    }

    /// Writes the file atomically: to a temporary file in the same folder, flushed with
    /// `fsync`, then renamed over `path` (and the folder flushed). A reader never sees a
    /// partial file; a crash leaves the old file in place.
    /// - Parameter path: The destination; its folder must exist.
    /// - Throws: ``CheckpointError/io(path:call:errno:)`` naming the failed call.
    public func write(to path: String) throws(CheckpointError) {
        do {
            try FileSystem.replaceFile(FilePath(path), serialized())
        } catch {
            throw CheckpointError(error, path: path)
        }
    }

    // MARK: Identity

    /// The SHA-256 of the file at `path`, as 64 lower-case hexadecimal digits; reads it
    /// in 1 MiB chunks.
    /// - Throws: ``CheckpointError/io(path:call:errno:)`` when it cannot be read.
    public static func sha256(ofFileAt path: String) throws(CheckpointError) -> String {
        do {
            return SHA256.hex(try SHA256.hash(fileAt: FilePath(path)))
        } catch {
            throw CheckpointError(error, path: path)
        }
    }

    /// Orders strings by their UTF-8 bytes (what `sort_keys` gives for ASCII names).
    private static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
