/// The three PixelRNN architectures of van den Oord et al. (2016).
public enum Architecture: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Row LSTM residual blocks (1×3 input-to-state, 1×3 state-to-state over the row above).
    case rowLSTM = "row"
    /// Diagonal BiLSTM residual blocks.
    case diagonalBiLSTM = "diagonal"
    /// Masked 3×3 convolution residual blocks.
    case pixelCNN = "pixelcnn"

    public var description: String {
        switch self {
        case .rowLSTM: "Row LSTM"
        case .diagonalBiLSTM: "Diagonal BiLSTM"
        case .pixelCNN: "PixelCNN"
        }
    }
}

/// The shape of a PixelRNN: architecture, width, depth and the data it models.
public struct ModelConfiguration: Sendable, Codable, Equatable {
    /// Residual block kind.
    public var architecture: Architecture
    /// Colour channels of the modelled images: 1 (gray) or 3 (RGB).
    public var channels: Int
    /// `h`: LSTM state width; residual streams carry `2h` features.
    public var hidden: Int
    /// Number of residual blocks.
    public var blocks: Int
    /// Width of the hidden output layer (the paper's output stack: ReLU, 1×1, ReLU, 1×1).
    public var outputHidden: Int
    /// Discrete levels per sub-pixel (256 for 8-bit images).
    public var levels: Int
    /// Scan orientations the model is conditioned on: 1 (upright only, no
    /// `orientation_embedding` tensor) or 8 (all flips and transposes, one learned
    /// bias on the input convolution's output per orientation).
    public var orientations: Int
    /// The distribution of each sub-pixel given the pixels before it.
    public var distribution: OutputDistribution

    /// Creates a configuration; `outputHidden` defaults to `2h`.
    public init(
        architecture: Architecture = .rowLSTM, channels: Int = 1, hidden: Int = 32,
        blocks: Int = 7, outputHidden: Int? = nil, levels: Int = 256, orientations: Int = 1,
        distribution: OutputDistribution = .softmax
    ) {
        self.architecture = architecture
        self.channels = channels
        self.hidden = hidden
        self.blocks = blocks
        self.outputHidden = outputHidden ?? 2 * hidden
        self.levels = levels
        self.orientations = orientations
        self.distribution = distribution
    }

    /// Width of the output layer: features per pixel that parameterise its channels'
    /// distributions (`levels·C` for the softmax).
    public var outputWidth: Int { distribution.outputsPerPixel(channels: channels, levels: levels) }

    /// Whether the model has a learned embedding for every scan orientation.
    public var supportsOrientations: Bool { orientations == 8 }

    /// Features of the residual stream, `2h`.
    public var features: Int { 2 * hidden }

    /// A lower bound on the number of weights in a model file for this configuration (the
    /// tensors' full shapes, masked positions included), computed without building the
    /// model: the 7×7 input convolution, each block's `2h × h` 1×1 output projection
    /// (present in every architecture) and the two output convolutions, with their biases.
    /// The model's own parameter slab is never larger. Assumes a configuration that passed
    /// ``validate()`` (no overflow then).
    var minimumFileWeightCount: Int {
        let f = features, o = outputHidden
        return f * channels * 49 + f + blocks * f * hidden + o * f + o + outputWidth * (o + 1)
    }

    /// The benchmark model BENCH-ROW: Row LSTM, gray, 7 blocks, h = 32, output 64→64→256.
    public static let benchRow = ModelConfiguration(
        architecture: .rowLSTM, channels: 1, hidden: 32, blocks: 7, outputHidden: 64)

    /// Checks the invariants the layers rely on.
    /// - Throws: `ModelError.invalidConfiguration` naming the offending field.
    public func validate() throws(ModelError) {
        guard channels == 1 || channels == 3 else {
            throw .invalidConfiguration("channels must be 1 or 3, not \(channels)")
        }
        guard hidden >= channels, hidden <= 4096 else {
            throw .invalidConfiguration("hidden must be in \(channels)...4096, not \(hidden)")
        }
        guard blocks >= 0, blocks <= 256 else {
            throw .invalidConfiguration("blocks must be in 0...256, not \(blocks)")
        }
        guard outputHidden >= channels, outputHidden <= 8192 else {
            throw .invalidConfiguration("output hidden width must be in \(channels)...8192")
        }
        guard levels >= 2, levels <= 256 else {
            throw .invalidConfiguration("levels must be in 2...256, not \(levels)")
        }
        guard orientations == 1 || orientations == 8 else {
            throw .invalidConfiguration("orientations must be 1 or 8, not \(orientations)")
        }
        if case .logisticMixture(let k) = distribution, !(1...64).contains(k) {
            throw .invalidConfiguration("mixture components must be in 1...64, not \(k)")
        }
    }
}

/// Errors of model construction and use.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A configuration field is out of range.
    case invalidConfiguration(String)
    /// An input does not fit the model (wrong channel count, empty batch...).
    case shapeMismatch(String)
    /// The model file could not be read or written as a safetensors container.
    case file(CheckpointError)
    /// The file is a valid container but not a model this program can load.
    case incompatibleFile(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): "invalid model configuration: \(why)"
        case .shapeMismatch(let why): "input does not fit the model: \(why)"
        case .file(let error): error.description
        case .incompatibleFile(let path, let reason): "\(path): not a usable PixelRNN model: \(reason)"
        }
    }
}

/// Colour grouping of feature maps (DESIGN.md §3): for an RGB model every feature
/// map of `n` features is split into three consecutive groups R, G, B; for gray
/// there is one group.
@inline(__always)
func colourGroup(_ index: Int, of count: Int, channels: Int) -> Int {
    channels == 1 ? 0 : index * channels / count
}
