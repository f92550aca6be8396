// The likelihood report of one completion job (`report.json`). Every field, with its
// unit, is documented in docs/report.md; keep the two in step.

public import Foundation
public import PixelRNN

/// The likelihood report of one completion: what was completed, by which model, how
/// likely the results are, and how well the particles did.
///
/// Encode it with ``encoder`` (snake_case keys, sorted, pretty-printed), decode with ``decoder``.
public struct CompletionReport: Codable, Sendable, Equatable {
    /// Version of this schema; bumped on incompatible changes.
    public var formatVersion: Int
    /// Which model made the completion.
    public var model: ModelIdentity
    /// Image geometry and what was occluded.
    public var image: ImageSummary
    /// Sampling settings.
    public var sampling: SamplingSummary
    /// One entry per returned completion, in file order.
    public var samples: [SampleSummary]
    /// The 1-based number of the selected completion (`completed.png`).
    public var selectedSample: Int
    /// The estimate of log p(visible pixels) and the particles' health.
    public var evidence: EvidenceSummary
    /// The visible part's bits/dim against the model's held-out distribution.
    public var typicality: Typicality
    /// Wall-clock times.
    public var timings: Timings
    /// What the likelihoods cover: `image` (the whole image as one) or `windows` (the
    /// sum over the windows in ``windows``, each scored as a picture of its own).
    public var likelihoodScope: String = "image"
    /// The windows the holes were completed in (nil when the whole image was one).
    public var windows: [WindowSummary]?
    /// Whether and how the model was fine-tuned on the image first (nil when not asked).
    public var adaptation: AdaptationSummary?
    /// Where the occlusion came from (set by the caller that chose the mask; nil when it did not say).
    public var mask: MaskSummary?

    /// The current schema version.
    public static let currentFormatVersion = 1

    /// A JSON encoder for reports (``jsonData()`` writes the same bytes faster): snake_case
    /// keys, sorted and indented; non-finite numbers (which a valid report does not
    /// contain) as the strings "inf", "-inf", "nan".
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// The matching decoder.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// The report as UTF-8 JSON, ending with a newline: what ``encoder`` writes, written by
    /// ``PrettyJSON`` in a fraction of the time.
    public func jsonData() -> Data {
        // Plain value types with finite-or-stringified numbers, no dates: encoding cannot fail.
        var bytes = try! PrettyJSON.encode(self)
        bytes.append(0x0A)
        return Data(bytes)
    }
}

/// The model's identity, as far as its file and metadata tell.
public struct ModelIdentity: Codable, Sendable, Equatable {
    /// The model's name (metadata `name`), or "unnamed".
    public var name: String
    /// Hex SHA-256 of the weights file; `nil` for a model that did not come from a file.
    public var weightsSha256: String?
    /// Architecture and size.
    public var architecture: ArchitectureSummary
    /// Training data and preprocessing (metadata `training_data`); `nil` when absent.
    public var trainingData: String?
    /// The model's own test NLL, bits/dim (metadata `test_bpd`, written by `pixelrnn eval`);
    /// `nil` when absent.
    public var testNllBitsPerDim: Double?
    /// The same in nats per image (metadata `test_nll_nats`); `nil` when absent.
    public var testNllNats: Double?
    /// What the test NLL was measured on (metadata `test_data`); `nil` when absent.
    public var testData: String?
    /// Percentiles of the test images' bits/dim (metadata `test_bpd_p01` … `test_bpd_p99`),
    /// ascending by percentile; empty when absent. The typicality judgement uses them.
    public var heldoutPercentiles: [PercentilePoint]
    /// The proposal temperature chosen for this model by measurement (metadata
    /// `proposal_temperature`), used when neither the job nor the configuration names
    /// one; `nil` when absent (then T = 1).
    public var proposalTemperature: Double?

    /// Reads the identity from a model's configuration and metadata.
    /// - Parameters:
    ///   - model: The model.
    ///   - weightsSHA256: Hex SHA-256 of the file the weights came from; when `nil`,
    ///     metadata `weights_sha256` (if any) is used.
    ///   - name: The model's name; when `nil`, metadata `name`, else "unnamed".
    public init(model: PixelRNN, weightsSHA256: String? = nil, name: String? = nil) {
        let meta = model.metadata
        self.name = name ?? meta["name"] ?? "unnamed"
        weightsSha256 = weightsSHA256 ?? meta["weights_sha256"]
        architecture = ArchitectureSummary(model.configuration, parameters: model.parameterCount)
        trainingData = meta["training_data"]
        testNllBitsPerDim = meta["test_bpd"].flatMap { Double($0) }
        testNllNats = meta["test_nll_nats"].flatMap { Double($0) }
        testData = meta["test_data"]
        heldoutPercentiles = Self.percentiles(from: meta)
        proposalTemperature = meta["proposal_temperature"].flatMap { Double($0) }.flatMap {
            CompletionOptions.isAcceptedTemperature($0) ? $0 : nil
        }
    }

    /// Held-out percentiles from metadata keys `test_bpd_pNN` (`NNN` in 0...100).
    static func percentiles(from metadata: [String: String]) -> [PercentilePoint] {
        let prefix = "test_bpd_p"
        var points: [PercentilePoint] = []
        for (key, value) in metadata where key.hasPrefix(prefix) {
            guard let p = Double(key.dropFirst(prefix.count)), let v = Double(value), p >= 0, p <= 100, v.isFinite
            else { continue }
            points.append(PercentilePoint(percentile: p, bitsPerDim: v))
        }
        return points.sorted { $0.percentile < $1.percentile }
    }
}

/// Architecture and size of a model.
public struct ArchitectureSummary: Codable, Sendable, Equatable {
    /// `row`, `diagonal` or `pixelcnn`.
    public var kind: String
    /// Human-readable name, e.g. "Row LSTM".
    public var description: String
    /// Colour channels modelled: 1 or 3.
    public var channels: Int
    /// LSTM state width h (residual streams carry 2h features).
    public var hidden: Int
    /// Residual blocks.
    public var blocks: Int
    /// Width of the hidden output layer.
    public var outputHidden: Int
    /// Levels per sub-pixel.
    public var levels: Int
    /// Trainable parameters.
    public var parameters: Int

    init(_ c: ModelConfiguration, parameters: Int) {
        kind = c.architecture.rawValue
        description = c.architecture.description
        channels = c.channels
        hidden = c.hidden
        blocks = c.blocks
        outputHidden = c.outputHidden
        levels = c.levels
        self.parameters = parameters
    }
}

/// One point of a distribution: the `percentile`-th percentile is `bitsPerDim`.
public struct PercentilePoint: Codable, Sendable, Equatable {
    /// Percentile, 0...100.
    public var percentile: Double
    /// Bits per sub-pixel at that percentile.
    public var bitsPerDim: Double
}

/// Image geometry and occlusion counts.
public struct ImageSummary: Codable, Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Channels of the input as given (1 or 3).
    public var inputChannels: Int
    /// Channels of the model and of the completions.
    public var modelChannels: Int
    /// How the input was converted to the model's channels: `none`,
    /// `gray_replicated_to_rgb` or `rgb_to_gray_bt601_luma`.
    public var channelConversion: String
    /// width × height.
    public var pixels: Int
    public var occludedPixels: Int
    public var visiblePixels: Int
    /// D = pixels × model channels: the "dim" of bits/dim.
    public var subPixels: Int
    public var occludedSubPixels: Int
    public var visibleSubPixels: Int
}

/// Sampling settings.
public struct SamplingSummary: Codable, Sendable, Equatable {
    /// Samples (particles) asked for.
    public var samples: Int
    /// The seed of every random draw.
    public var seed: UInt64
    /// Proposal temperature T.
    public var temperature: Double
    /// Worker threads used (results do not depend on it).
    public var threads: Int
    /// False when nothing was occluded (a likelihood report only).
    public var sampled: Bool
    /// The scan orientation the model read the image in (``Orientation`` names:
    /// `upright`, `vertical-flip`, …, `transpose-half-turn`).
    public var orientation: String
    /// Whether the orientation was chosen per image (`auto`) rather than fixed by the options.
    public var orientationChosen: Bool
    /// Visible sub-pixels that come after the first occluded one in that scan: the
    /// pixels the particles have to weigh. 0 means the completion is exact conditional
    /// sampling (with T = 1).
    public var visibleSubPixelsAfterFirstOccluded: Int
}

/// One completion's likelihoods.
public struct SampleSummary: Codable, Sendable, Equatable {
    /// 1-based number; the file is `samples/sample-N.png` when more than one was asked for.
    public var sample: Int
    /// Whether this is `completed.png`.
    public var selected: Bool
    /// Final normalised particle weight (the weights sum to 1).
    public var weight: Double
    /// log p(completed image), nats (≤ 0).
    public var logPNats: Double
    /// −log₂ p(completed image) / D, bits per sub-pixel.
    public var nllBitsPerDim: Double
    /// log p(filled pixels | all visible pixels) = log p(completed) − log p̂(visible), nats;
    /// exact when the evidence is exact, otherwise it inherits the evidence estimate's error.
    public var logPFilledGivenRestNats: Double
    /// Σ over occluded sub-pixels t of log p(x_t | x_<t) along the completed image, nats:
    /// the filled pixels' probability given the pixels before each of them (it ignores
    /// visible pixels that come later).
    public var logPFilledRasterNats: Double
}

/// The evidence: an estimate of log p(visible pixels).
public struct EvidenceSummary: Codable, Sendable, Equatable {
    /// Estimate of log p(visible pixels), nats (its exponential is unbiased for p(visible)).
    public var logPVisibleNats: Double
    /// −log₂ p̂(visible) / visible sub-pixels; `nil` when nothing is visible.
    public var nllVisibleBitsPerDim: Double?
    /// True when the value is exact (no visible pixel after the first occluded one and
    /// T = 1, or nothing occluded).
    public var exact: Bool
    /// Exact log-probability of the visible sub-pixels before the first occluded one, nats.
    public var prefixLogPNats: Double
    /// Effective sample size of the final weights, (Σw)²/Σw², 1...K; `nil` when nothing was sampled.
    public var effectiveSampleSize: Double?
    /// The smallest effective sample size any island reached (before resampling), in
    /// particles of that island; `nil` when nothing was sampled.
    public var minEffectiveSampleSize: Double?
    /// Resampling steps, summed over islands.
    public var resamplingSteps: Int
    /// Row moves (Metropolis–Hastings, one per particle and row of a hole that is not
    /// exact) proposed and accepted, summed over particles.
    public var rowMovesProposed: Int
    public var rowMovesAccepted: Int
    /// Particles run (K, or 0 when nothing was sampled).
    public var particles: Int
    /// Independent particle islands (⌈K / particles_per_island⌉).
    public var islands: Int
    /// Largest island size.
    public var particlesPerIsland: Int
}

/// The visible part's likelihood against the model's held-out distribution.
public struct Typicality: Codable, Sendable, Equatable {
    /// −log₂ p̂(visible) / visible sub-pixels; `nil` when nothing is visible.
    public var visibleBitsPerDim: Double?
    /// Where that falls among held-out images' bits/dim, 0...100 (linear interpolation
    /// between the model's percentiles, clamped to the outermost); `nil` without
    /// held-out statistics or visible pixels.
    public var percentile: Double?
    /// True when the visible bits/dim lies outside [p01, p99] (or the outermost
    /// percentiles the model carries); `nil` when it cannot be judged.
    public var outOfDistribution: Bool?
    /// `typical`, `unusually_likely`, `unusually_unlikely` or `unknown`.
    public var assessment: String

    /// Judges `bitsPerDim` against `reference`.
    init(visibleBitsPerDim: Double?, reference: [PercentilePoint]) {
        self.visibleBitsPerDim = visibleBitsPerDim
        guard let bpd = visibleBitsPerDim, bpd.isFinite, reference.count >= 2 else {
            percentile = nil
            outOfDistribution = nil
            assessment = "unknown"
            return
        }
        // Low and high ends of the typical band: p01 and p99 when present.
        let low = reference.first { $0.percentile == 1 } ?? reference.first!
        let high = reference.last { $0.percentile == 99 } ?? reference.last!
        percentile = Typicality.interpolatePercentile(bpd, reference)
        if bpd < low.bitsPerDim {
            outOfDistribution = true
            assessment = "unusually_likely"
        } else if bpd > high.bitsPerDim {
            outOfDistribution = true
            assessment = "unusually_unlikely"
        } else {
            outOfDistribution = false
            assessment = "typical"
        }
    }

    /// The percentile of `value` by linear interpolation between `points` (sorted by
    /// percentile, bits/dim non-decreasing), clamped to the outermost points.
    static func interpolatePercentile(_ value: Double, _ points: [PercentilePoint]) -> Double {
        if value <= points.first!.bitsPerDim { return points.first!.percentile }
        if value >= points.last!.bitsPerDim { return points.last!.percentile }
        for i in 1..<points.count {
            let a = points[i - 1], b = points[i]
            if value <= b.bitsPerDim {
                let span = b.bitsPerDim - a.bitsPerDim
                return span > 0 ? a.percentile + (value - a.bitsPerDim) / span * (b.percentile - a.percentile) : b.percentile
            }
        }
        return points.last!.percentile
    }
}

/// Wall-clock times of a job, seconds.
public struct Timings: Codable, Sendable, Equatable {
    /// From the job's arrival to the start of its computation (given by the caller).
    public var queuedSeconds: Double
    /// Sampling, the NLL map and the report.
    public var computeSeconds: Double
    /// queued + compute (+ writing the outputs, when the caller adds it).
    public var totalSeconds: Double
}

/// Where a job's occlusion came from: the image's alpha channel, a mask file of this
/// image, or a mask shared by many images. The Completer does not know; the caller that
/// chose the mask (the daemon, `pixelrnn complete`) fills it in.
public struct MaskSummary: Codable, Sendable, Equatable {
    /// `alpha`, `mask_file` or `shared_mask`.
    public var source: String
    /// The shared mask's name (`watermark` for `masks/watermark.png`) or the mask file's
    /// name; `nil` for alpha.
    public var name: String?
    /// Hex SHA-256 of the mask file's bytes as read; `nil` for alpha.
    public var sha256: String?
    /// How the mask was laid on the image: `none` (same size) or a ``MaskAnchor`` name.
    public var anchor: String
    /// The mask file's own size in pixels; `nil` for alpha.
    public var width: Int?
    public var height: Int?

    /// Creates a summary.
    public init(source: String, name: String? = nil, sha256: String? = nil, anchor: String = "none",
                width: Int? = nil, height: Int? = nil) {
        self.source = source
        self.name = name
        self.sha256 = sha256
        self.anchor = anchor
        self.width = width
        self.height = height
    }

    /// The occlusion came from the image's alpha channel.
    public static let alpha = MaskSummary(source: "alpha")
}
