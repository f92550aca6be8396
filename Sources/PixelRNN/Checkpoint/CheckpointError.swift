#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What is wrong with a checkpoint (safetensors) file, or why it could not be read
/// or written.
///
/// Every case carries the file's path; ``description`` is a complete message for a
/// user, such as `model.safetensors: tensor "head.weight": data_offsets [0, 90]
/// span 90 bytes but shape [3, 8] needs 96`.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`errno` from the named C function).
    case io(path: String, call: String, errno: Int32)
    /// The file is shorter than the 8-byte header length.
    case fileTooShort(path: String, byteCount: Int)
    /// The header length is larger than the file or than the 100 MB limit.
    case headerLengthInvalid(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON.
    case headerNotJSON(path: String, reason: String)
    /// The header is JSON but not an object.
    case headerNotObject(path: String, found: String)
    /// The same tensor name (or `__metadata__`) appears twice; a repeated metadata key
    /// is reported as `__metadata__.KEY`.
    case duplicateTensorName(path: String, name: String)
    /// `__metadata__` is not an object.
    case metadataNotObject(path: String, found: String)
    /// A `__metadata__` value is not a string.
    case metadataNotString(path: String, key: String, found: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    case missingField(path: String, tensor: String, field: String)
    /// A tensor entry is malformed (not an object, shape or offsets not non-negative integers …).
    case malformedEntry(path: String, tensor: String, reason: String)
    /// A tensor's element type is not `F32`.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's offsets are reversed or run past the end of the data.
    case offsetsOutOfRange(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors' bytes overlap.
    case overlappingData(path: String, tensor: String, other: String)
    /// Bytes of the data section belong to no tensor (a gap, or trailing bytes).
    case nonContiguousData(path: String, offset: Int, dataSize: Int)
    /// A tensor's byte length is not 4 × the product of its shape.
    case sizeMismatch(path: String, tensor: String, shape: [Int], byteCount: Int)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .io(let p, _, _), .fileTooShort(let p, _), .headerLengthInvalid(let p, _, _),
            .headerNotJSON(let p, _), .headerNotObject(let p, _), .duplicateTensorName(let p, _),
            .metadataNotObject(let p, _), .metadataNotString(let p, _, _), .missingField(let p, _, _),
            .malformedEntry(let p, _, _), .unsupportedDType(let p, _, _), .offsetsOutOfRange(let p, _, _, _, _),
            .overlappingData(let p, _, _), .nonContiguousData(let p, _, _), .sizeMismatch(let p, _, _, _):
            p
        }
    }

    public var description: String {
        let what: String
        switch self {
        case .io(_, let call, let code):
            what = "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .fileTooShort(_, let count):
            what = "file too short for a safetensors file (\(count) bytes, the header length alone takes 8)"
        case .headerLengthInvalid(_, let length, let size):
            what = "header length \(length) is impossible for a file of \(size) bytes (limit \(SafetensorsFile.maximumHeaderLength))"
        case .headerNotJSON(_, let reason):
            what = "header is not valid JSON: \(reason)"
        case .headerNotObject(_, let found):
            what = "header is \(found), not a JSON object"
        case .duplicateTensorName(_, let name):
            what = "name \"\(name)\" appears more than once in the header"
        case .metadataNotObject(_, let found):
            what = "__metadata__ is \(found), not an object of strings"
        case .metadataNotString(_, let key, let found):
            what = "__metadata__ value for \"\(key)\" is \(found), not a string"
        case .missingField(_, let tensor, let field):
            what = "tensor \"\(tensor)\" has no \(field)"
        case .malformedEntry(_, let tensor, let reason):
            what = "tensor \"\(tensor)\": \(reason)"
        case .unsupportedDType(_, let tensor, let dtype):
            what = "tensor \"\(tensor)\" has dtype \(dtype); only F32 is supported"
        case .offsetsOutOfRange(_, let tensor, let begin, let end, let size):
            what = "tensor \"\(tensor)\": data_offsets [\(begin), \(end)] are outside the \(size)-byte data section"
        case .overlappingData(_, let tensor, let other):
            what = "tensors \"\(other)\" and \"\(tensor)\" overlap in the data section"
        case .nonContiguousData(_, let offset, let size):
            what = "data section byte \(offset) (of \(size)) belongs to no tensor"
        case .sizeMismatch(_, let tensor, let shape, let count):
            what = "tensor \"\(tensor)\": data spans \(count) bytes but shape \(shape) needs \(4 * shape.reduce(1, &*))"
        }
        return "\(path): \(what)"
    }
}
