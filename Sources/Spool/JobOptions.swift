import Completion
import Foundation
public import Imaging
public import SystemPackage

/// Per-job options from `NAME.json`, validated; absent keys take the configuration's defaults.
///
/// The file is one JSON object with any of `samples` (integer 1...1024, the completer's
/// limit), `seed` (integer ≥ 0), `temperature` (number in (0, 100]), `orientation`
/// (`auto` or an orientation name such as `vertical-flip`), `model` (a configured
/// model's name), `window_margin` (pixels ≥ 0, or null for the whole image as one window)
/// `full_image_nll_map` (boolean) and `adapt` (fine-tuning steps on the job's visible
/// pixels, capped in time by the configuration's `adapt_max_seconds`), `mask` (a shared
/// mask's name, `masks/NAME.png`, or null for none) and `mask_anchor` (how a shared mask is
/// laid on an image of another size, a ``MaskAnchor`` name). Any other key is an error, so a
/// typo does not silently fall back to a default.
public struct JobOptions: Sendable, Equatable {
    /// Number of samples (particles) to draw.
    public var samples: Int
    /// Random seed; `nil` means one is chosen and reported.
    public var seed: UInt64?
    /// Proposal temperature; `nil` leaves it to the serving model (``Completer/defaultTemperature``).
    public var temperature: Double?
    /// Scan orientation name, or `nil` for `auto` (the completer chooses).
    public var orientation: String?
    /// The model the job asks for by name, or `nil` to go by the image's channels.
    public var model: String?
    /// Context margin around each hole in pixels; `nil` completes the whole image as one.
    public var windowMargin: Int? = CompletionWindows.defaultMargin
    /// Whether the NLL map covers the whole image rather than the windows.
    public var fullImageNLLMap = false
    /// Adaptation steps (the configuration's `adapt_steps` unless the file says `adapt`).
    public var adaptSteps: Int
    /// The shared mask the file names (`"mask": "NAME"`); `nil` when it names none.
    public var mask: String?
    /// Whether the file says `"mask": null`: no shared mask, not even the configuration's.
    public var noSharedMask = false
    /// How a shared mask is laid on an image of another size (the configuration's
    /// `mask_anchor` unless the file says `mask_anchor`).
    public var maskAnchor: MaskAnchor

    /// The configuration's defaults.
    public init(defaults configuration: DaemonConfiguration) {
        samples = configuration.samples
        seed = nil
        temperature = configuration.temperature
        adaptSteps = configuration.adaptSteps
        maskAnchor = MaskAnchor(name: configuration.maskAnchor) ?? .none
    }

    /// Reads and validates `NAME.json` on top of the configuration's defaults.
    /// - Parameters:
    ///   - path: the options file, or `nil` for defaults.
    ///   - configuration: the defaults.
    /// - Throws: ``SpoolError/badInput(_:)`` naming the bad key, or a file error.
    public init(contentsOf path: FilePath?, defaults configuration: DaemonConfiguration) throws {
        self.init(defaults: configuration)
        guard let path else { return }
        let bytes = try FS.readFile(path, limit: 1 << 16)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw SpoolError.badInput("options file '\(path.lastComponent?.string ?? "")' is not valid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw SpoolError.badInput("options file must hold a JSON object with samples, seed and/or temperature")
        }
        for (key, value) in dictionary {
            func integer() -> Int64? {
                guard let n = value as? NSNumber, !(value is Bool) else { return nil }
                let d = n.doubleValue
                guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
                return Int64(d)
            }
            switch key {
            case "samples":
                guard let n = integer(), (1...Int64(CompletionOptions.maximumSamples)).contains(n) else {
                    throw SpoolError.badInput("options: samples must be an integer in 1...\(CompletionOptions.maximumSamples)")
                }
                samples = Int(n)
            case "seed":
                guard let n = integer(), n >= 0 else { throw SpoolError.badInput("options: seed must be an integer ≥ 0") }
                seed = UInt64(n)
            case "temperature":
                guard let n = value as? NSNumber, !(value is Bool), CompletionOptions.isAcceptedTemperature(n.doubleValue) else {
                    throw SpoolError.badInput("options: temperature must be a number in (0, 100]")
                }
                temperature = n.doubleValue
            case "orientation":
                let names = ["auto"] + Orientation.allCases.map(\.description)
                guard let name = value as? String, names.contains(name) else {
                    throw SpoolError.badInput("options: orientation must be one of " + names.joined(separator: ", "))
                }
                orientation = name == "auto" ? nil : name
            case "model":
                guard let name = value as? String, !name.isEmpty else { throw SpoolError.badInput("options: model must be a model's name") }
                model = name
            case "window_margin":
                if value is NSNull {
                    windowMargin = nil
                } else {
                    guard let n = integer(), (0...100_000).contains(n) else {
                        throw SpoolError.badInput("options: window_margin must be an integer ≥ 0 (pixels) or null")
                    }
                    windowMargin = Int(n)
                }
            case "adapt":
                guard let n = integer(), (0...100_000).contains(n) else {
                    throw SpoolError.badInput("options: adapt must be an integer number of steps in 0...100000")
                }
                adaptSteps = Int(n)
            case "mask":
                if value is NSNull {
                    noSharedMask = true
                } else {
                    guard let text = value as? String, let name = SharedMaskName.validate(text) else {
                        throw SpoolError.badInput("options: mask must be a shared mask's name (letters, digits, '-', '_' or '.'; the file is masks/NAME.png) or null")
                    }
                    mask = name
                }
            case "mask_anchor":
                guard let text = value as? String, let anchor = MaskAnchor(name: text) else {
                    throw SpoolError.badInput("options: mask_anchor must be one of " + MaskAnchor.names.joined(separator: ", "))
                }
                maskAnchor = anchor
            case "full_image_nll_map":
                guard let flag = value as? Bool else { throw SpoolError.badInput("options: full_image_nll_map must be true or false") }
                fullImageNLLMap = flag
            default:
                throw SpoolError.badInput(
                    "options: unknown key '\(key)' (allowed: samples, seed, temperature, orientation, model, window_margin, full_image_nll_map, adapt, mask, mask_anchor)")
            }
        }
    }
}
