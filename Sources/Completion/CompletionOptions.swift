public import Imaging

/// How a completion is sampled.
///
/// Temperature shapes the *proposal*: occluded sub-pixels are drawn from
/// softmax(logits / T), and each draw multiplies its particle's weight by p/q (model
/// probability over proposal probability). The weighted particles therefore always
/// target the model's own posterior p(occluded | visible), and the evidence stays an
/// unbiased estimate of p(visible) whatever T is. With one sample the completion is a
/// plain tempered raster sample (T < 1 sharper, T > 1 more varied); with many samples
/// the draw by weight pulls the selected completion back towards the untempered
/// posterior, and T only changes how well the particles cover it.
public struct CompletionOptions: Sendable, Equatable {
    /// Number of particles, and of completions returned (K ≥ 1).
    public var samples: Int
    /// Seed of every random draw; the same seed gives the same completions whatever `threads` is.
    public var seed: UInt64
    /// Temperature T > 0 of the proposal softmax(logits / T).
    public var temperature: Double
    /// Worker threads (≥ 1); particle islands run in parallel.
    public var threads: Int
    /// Largest number of particles that resample together (an "island"), and largest
    /// number of particles advanced on one incremental state. K particles form
    /// ⌈K / particlesPerIsland⌉ islands that run independently (and in parallel); their
    /// evidences are averaged. In a batch, islands of consecutive images are packed into
    /// shared states up to this many particles (larger states make larger, faster
    /// products; more states spread over more threads). Islands and states depend only
    /// on K, this value and the batch size, never on `threads`.
    public var particlesPerIsland: Int
    /// The scan orientation; nil (the default) chooses, per image, the one that leaves
    /// the fewest visible sub-pixels after the first occluded one (``Completer/chooseOrientation(occluded:width:height:supportsOrientations:)``).
    /// A model without orientation support always scans upright.
    public var orientation: Orientation?
    /// Context margin in pixels around each hole's bounding box: each hole (each
    /// 4-connected occluded region, overlapping windows merged) is completed inside its
    /// own window, so the cost follows the holes, not the image. nil completes the whole
    /// image as one. The default is ``CompletionWindows/defaultMargin``.
    public var windowMargin: Int?
    /// Whether the per-pixel NLL map covers the whole completed image (one more pass
    /// over every row) rather than only the windows.
    public var fullImageNLLMap: Bool
    /// Metropolis–Hastings moves per particle on each row that holds occluded pixels,
    /// when visible pixels follow the hole (resample-move; docs/report.md). They keep the
    /// particles of a hole that is not exact from collapsing onto one completion; exact
    /// holes never need them.
    public var rowMoves = 1
    /// Fine-tuning of a copy of the model on the image's visible pixels before sampling
    /// (``Adaptation``); none by default.
    public var adaptation = AdaptationOptions()
    /// When set, the completion stops soon after it is cancelled (within one adaptation
    /// step or one row of the particle filter) and throws ``CompletionError/cancelled``.
    public var cancellation: CancellationFlag?

    /// Largest accepted sample count.
    public static let maximumSamples = 1024

    /// Whether `t` is a temperature a job, the configuration or a model file may name:
    /// a number in (0, 100].
    public static func isAcceptedTemperature(_ t: Double) -> Bool { t > 0 && t <= 100 }

    /// Creates options.
    /// - Parameters:
    ///   - samples: particles and completions, 1...1024.
    ///   - seed: the seed of all random draws.
    ///   - temperature: proposal temperature, > 0 and finite.
    ///   - threads: worker threads, ≥ 1.
    ///   - particlesPerIsland: particles resampled together, ≥ 1.
    ///   - orientation: a fixed scan orientation, or nil to choose per image.
    public init(
        samples: Int = 1, seed: UInt64 = 0, temperature: Double = 1, threads: Int = 1, particlesPerIsland: Int = 8,
        orientation: Orientation? = nil, windowMargin: Int? = CompletionWindows.defaultMargin,
        fullImageNLLMap: Bool = false
    ) {
        self.orientation = orientation
        self.windowMargin = windowMargin
        self.fullImageNLLMap = fullImageNLLMap
        self.samples = samples
        self.seed = seed
        self.temperature = temperature
        self.threads = threads
        self.particlesPerIsland = particlesPerIsland
    }

    /// Checks the ranges.
    /// - Throws: `CompletionError.invalidOption` naming the field.
    public func validate() throws(CompletionError) {
        guard samples >= 1, samples <= Self.maximumSamples else {
            throw .invalidOption(name: "samples", reason: "must be in 1...\(Self.maximumSamples), not \(samples)")
        }
        guard temperature > 0, temperature.isFinite, Float(temperature) > 0 else {
            throw .invalidOption(name: "temperature", reason: "must be a finite number > 0, not \(temperature)")
        }
        guard threads >= 1, threads <= 256 else {
            throw .invalidOption(name: "threads", reason: "must be in 1...256, not \(threads)")
        }
        if let windowMargin, windowMargin < 0 {
            throw .invalidOption(name: "window_margin", reason: "must be ≥ 0 (or null for the whole image), not \(windowMargin)")
        }
        guard adaptation.steps >= 0, adaptation.maxSeconds >= 0, adaptation.batch >= 1, adaptation.learningRate > 0 else {
            throw .invalidOption(name: "adapt", reason: "steps and seconds must be ≥ 0, batch ≥ 1, learning rate > 0")
        }
        guard particlesPerIsland >= 1 else {
            throw .invalidOption(name: "particles_per_island", reason: "must be ≥ 1, not \(particlesPerIsland)")
        }
        guard (0...16).contains(rowMoves) else {
            throw .invalidOption(name: "row_moves", reason: "must be in 0...16, not \(rowMoves)")
        }
    }

    /// The particle counts of the islands: ⌈K / P⌉ islands, sizes as equal as possible
    /// (the first ones one larger).
    var islandSizes: [Int] {
        let count = (samples + particlesPerIsland - 1) / particlesPerIsland
        return (0..<count).map { samples / count + ($0 < samples % count ? 1 : 0) }
    }
}
