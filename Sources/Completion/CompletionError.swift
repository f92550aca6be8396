import Imaging
import PixelRNN
import SystemIO
import SystemPackage

/// Why a completion could not be made. Every case says what a user needs to fix it.
public enum CompletionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The mask does not have one flag per pixel of the image.
    case maskSizeMismatch(imageWidth: Int, imageHeight: Int, maskWidth: Int, maskHeight: Int)
    /// The images of a batch do not share one geometry.
    case batchGeometryMismatch(index: Int)
    /// An option is out of range (`samples`, `temperature`, `threads`…).
    case invalidOption(name: String, reason: String)
    /// A visible sub-pixel's value is not one of the model's levels (a model with
    /// fewer than 256 levels given 8-bit data).
    case valueOutOfRange(value: Int, levels: Int, y: Int, x: Int)
    /// The model cannot be used for completion (an architecture without incremental sampling).
    case unsupportedModel(String)
    /// Making an output file failed for a reason other than a system call (the PNG encoder).
    case outputFailed(path: String, reason: String)
    /// A system call writing an output failed (`errno` from the named C function).
    case io(path: String, call: String, errno: Int32)
    /// A job named a model that is not loaded.
    case unknownModel(name: String, available: [String])
    /// The completion was asked to stop (``CancellationFlag``) before it finished.
    case cancelled

    public var description: String {
        switch self {
        case let .maskSizeMismatch(iw, ih, mw, mh):
            "the mask is \(mw)×\(mh) but the image is \(iw)×\(ih); they must be the same size"
        case .batchGeometryMismatch(let index):
            "image \(index) of the batch differs in size or channels from image 0"
        case let .invalidOption(name, reason):
            "invalid option \(name): \(reason)"
        case let .valueOutOfRange(value, levels, y, x):
            "pixel (x \(x), y \(y)) has value \(value), but the model has only \(levels) levels (0...\(levels - 1))"
        case .unsupportedModel(let why):
            "the model cannot complete images: \(why)"
        case let .outputFailed(path, reason):
            "cannot write \(path): \(reason)"
        case let .io(path, call, code):
            "cannot write \(path): \(call) failed: \(Errno(rawValue: code).description) (errno \(code))"
        case let .unknownModel(name, available):
            "no model named '\(name)' is loaded (available: \(available.joined(separator: ", ")))"
        case .cancelled:
            "the completion was stopped before it finished"
        }
    }

    /// Whether the error is a transient I/O error (disk full, I/O error, read-only file
    /// system…; the SystemIO module's one rule), so that writing the outputs again later
    /// may succeed.
    public var isTransient: Bool {
        if case .io(_, _, let code) = self { return SystemIOError.isTransient(Errno(rawValue: code)) }
        return false
    }

    /// A failed system call of the SystemIO module.
    init(_ error: SystemIOError) {
        if case let .system(call, path, code) = error {
            self = .io(path: path, call: call, errno: code.rawValue)
        } else {
            self = .outputFailed(path: error.path, reason: error.description)
        }
    }

    /// A failed image write: a system call's failure stays one.
    init(_ error: ImagingError, path: String) {
        if case let .io(path, call, code) = error.root {
            self = .io(path: path, call: call, errno: code)
        } else {
            self = .outputFailed(path: path, reason: error.description)
        }
    }

    init(_ error: ModelError) {
        self = .unsupportedModel(error.description)
    }
}
