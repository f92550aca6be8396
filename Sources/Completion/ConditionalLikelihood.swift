// Completion quality on test sets: the conditional likelihood of the true content of
// a hole given the rest of the picture, under the orientation the completer would use.

public import Imaging
import PixelRNN

/// A standard occlusion for measuring completion quality on a test set.
public enum OcclusionRegion: String, Sendable, CaseIterable {
    /// Rows `0 ..< H/2`.
    case top
    /// Rows `H/2 ..< H` (the paper's figure).
    case bottom
    /// Columns `0 ..< W/2`.
    case left
    /// Columns `W/2 ..< W`.
    case right
    /// The middle half of each side: rows `H/4 ..< H/4 + H/2`, columns likewise
    /// (14×14 on a 28×28 picture).
    case centre
    /// 4 discs of radius 3 (pixels whose centre is within 3 of the disc's centre),
    /// centres uniform over the picture, drawn from a seed fixed per image.
    case blotches

    /// The mask of image number `index` (the index seeds the blotches), `width × height`
    /// flags, `true` = occluded.
    public func mask(width: Int, height: Int, index: Int) -> [Bool] {
        var flags = [Bool](repeating: false, count: width * height)
        func fill(_ rows: Range<Int>, _ columns: Range<Int>) {
            for y in rows { for x in columns { flags[y * width + x] = true } }
        }
        switch self {
        case .top: fill(0..<(height / 2), 0..<width)
        case .bottom: fill((height / 2)..<height, 0..<width)
        case .left: fill(0..<height, 0..<(width / 2))
        case .right: fill(0..<height, (width / 2)..<width)
        case .centre: fill((height / 4)..<(height / 4 + height / 2), (width / 4)..<(width / 4 + width / 2))
        case .blotches:
            var random = RandomSource(seed: 0x626C_6F74, stream: UInt64(index))
            for _ in 0..<4 {
                let cy = random.nextInt(below: height), cx = random.nextInt(below: width)
                for y in max(0, cy - 3)...min(height - 1, cy + 3) {
                    for x in max(0, cx - 3)...min(width - 1, cx + 3) where (y - cy) * (y - cy) + (x - cx) * (x - cx) <= 9 {
                        flags[y * width + x] = true
                    }
                }
            }
        }
        return flags
    }
}

/// The conditional likelihood of one image's occluded content given its visible pixels.
public struct ConditionalLikelihood: Sendable {
    /// −log p(occluded sub-pixels | visible ones), nats: log p̂(visible) − log p(image).
    public var nats: Double
    /// Occluded sub-pixels.
    public var occludedSubPixels: Int
    /// Whether the figure is exact (no visible pixel after the first occluded one in the
    /// scan used, T = 1); otherwise log p(visible) is the particles' estimate.
    public var exact: Bool
    /// The particles' final effective sample size (nil when nothing was sampled).
    public var effectiveSampleSize: Double?
    /// The scan orientation used.
    public var orientation: Orientation

    /// Measures it: completes the image with `options` (the orientation chosen as the
    /// completer chooses it unless the options fix it), takes the evidence estimate of
    /// log p(visible), and the exact log p(image) under the same orientation.
    /// - Throws: `CompletionError` as ``Completer/complete(_:occluded:options:queuedSeconds:)``.
    public init(completer: Completer, image: Image, occluded: [Bool], options: CompletionOptions) throws(CompletionError) {
        let result = try completer.complete(image, occluded: occluded, options: options)
        try self.init(result: result, truth: image, completer: completer)
    }

    /// The figure for a completion already made of `truth` (whose occluded pixels hold
    /// the true content): the exact log p of the true image (of each window, when the
    /// completion used windows) under the scan the completion used, against the
    /// completion's evidence.
    public init(result: CompletionResult, truth: Image, completer: Completer) throws(CompletionError) {
        let model = result.adaptedModel ?? completer.model
        let c = model.configuration.channels
        let (bytes, _) = ChannelConversion.convert(truth, toChannels: c)
        let parts: [(rect: PixelRect, orientation: Orientation)]
        if let windows = result.report.windows {
            parts = windows.map { ($0.rect, Orientation(name: $0.orientation) ?? .upright) }
        } else {
            parts = [(PixelRect(x: 0, y: 0, width: truth.width, height: truth.height),
                      Orientation(name: result.report.sampling.orientation) ?? .upright)]
        }
        var nll = 0.0
        for (rect, orientation) in parts {
            let crop = Image(width: rect.width, height: rect.height, channels: c,
                             pixels: Completer.crop(bytes, width: truth.width, channels: c, to: rect)).scanned(orientation)
            do {
                nll += try model.streamingNegativeLogLikelihood(
                    of: crop.pixels, height: crop.height, width: crop.width, orientation: orientation)
            } catch {
                throw CompletionError(error)
            }
        }
        self.nats = result.report.evidence.logPVisibleNats + nll
        self.occludedSubPixels = result.report.image.occludedSubPixels
        self.exact = result.report.evidence.exact
        self.effectiveSampleSize = result.report.evidence.effectiveSampleSize
        self.orientation = parts.count == 1 ? parts[0].orientation : .upright
    }
}
