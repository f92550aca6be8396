/// A PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural
/// Networks", ICML 2016): an autoregressive model of images in raster order, and
/// within a pixel in channel order R, G, B, with a 256-way softmax per sub-pixel (or,
/// as in PixelCNN++, a discretized mixture of logistics; see ``OutputDistribution``).
///
/// Layers (DESIGN.md §3): a 7×7 mask-A convolution, residual blocks, then
/// ReLU → 1×1 (mask B) → ReLU → 1×1 (mask B) to each channel's distribution parameters.
/// Deviation from the paper, documented in docs/model-format.md: the LSTMs' learned
/// initial states are per-feature vectors broadcast along the row, so one model
/// handles images of any width.
public final class PixelRNN: @unchecked Sendable {
    /// The architecture and size.
    public let configuration: ModelConfiguration
    /// Free-form provenance stored in the model file's `__metadata__`.
    public var metadata: [String: String] = [:]

    let parameters: ParameterSet
    let evaluationEngines = EnginePool()
    let inputConvolution: ConvolutionSpec
    /// The residual blocks, input side first (all of the configured architecture).
    let blocks: [ResidualBlock]
    /// Rows the right-to-left Diagonal BiLSTM stream is shifted down before it is added
    /// (1; tests set 0 to show that the causality test catches the missing shift).
    var rightToLeftShift = 1
    let outputHidden: ConvolutionSpec
    let outputLogits: ConvolutionSpec
    /// Offset of `orientation_embedding` (`8 × 2h`, one row per ``Orientation``), added
    /// to the input convolution's output; nil for a model without orientation support.
    let orientationEmbeddingOffset: Int?

    /// Creates a model with freshly initialised weights.
    /// - Parameters:
    ///   - configuration: architecture and size.
    ///   - seed: seed of the weight initialisation (the same seed gives the same weights).
    /// - Throws: `ModelError.invalidConfiguration`.
    public init(configuration: ModelConfiguration, seed: UInt64 = 1) throws(ModelError) {
        try configuration.validate()
        self.configuration = configuration
        let c = configuration.channels, h = configuration.hidden
        let f = configuration.features, o = configuration.outputHidden
        let levels = configuration.levels
        let params = ParameterSet()
        func groups(_ n: Int) -> [Int] { (0..<n).map { colourGroup($0, of: n, channels: c) } }
        let gateGroups = (0..<(4 * h)).map { colourGroup($0 % h, of: h, channels: c) }

        var inputTaps: [(dy: Int, dx: Int)] = []
        for dy in -3...0 {
            for dx in -3...3 where dy < 0 || dx <= 0 { inputTaps.append((dy, dx)) }
        }
        inputConvolution = params.addConvolution(
            ConvolutionSpec(
                name: "input_conv", outFeatures: f, inFeatures: c, kernelHeight: 7, kernelWidth: 7,
                centreY: 3, centreX: 3, taps: inputTaps, mask: .a,
                outGroups: groups(f), inGroups: (0..<c).map { $0 }, hasBias: true))

        orientationEmbeddingOffset = configuration.supportsOrientations
            ? params.addTensor(name: "orientation_embedding", shape: [configuration.orientations, f]) : nil

        var blocks: [RowLSTMBlock] = []
        var diagonal: [DiagonalBiLSTMBlock] = []
        var cnn: [PixelCNNBlock] = []
        for b in 0..<configuration.blocks {
            let prefix = "blocks.\(b)."
            switch configuration.architecture {
            case .rowLSTM: break
            case .diagonalBiLSTM:
                diagonal.append(Self.addDiagonalBlock(prefix: prefix, hidden: h, features: f, channels: c, to: params))
                continue
            case .pixelCNN:
                cnn.append(Self.addPixelCNNBlock(prefix: prefix, hidden: h, features: f, channels: c, to: params))
                continue
            }
            let i2s = params.addConvolution(
                ConvolutionSpec(
                    name: prefix + "input_to_state", outFeatures: 4 * h, inFeatures: f,
                    kernelHeight: 1, kernelWidth: 3, centreY: 0, centreX: 1,
                    taps: [(0, -1), (0, 0)], mask: .b,
                    outGroups: gateGroups, inGroups: groups(f), hasBias: true))
            let s2s = params.addConvolution(
                ConvolutionSpec(
                    name: prefix + "state_to_state", outFeatures: 4 * h, inFeatures: h,
                    kernelHeight: 1, kernelWidth: 3, centreY: 0, centreX: 1,
                    taps: [(0, -1), (0, 0), (0, 1)], mask: .none,
                    outGroups: gateGroups, inGroups: groups(h), hasBias: false))
            let up = Self.addOutputProjection(prefix: prefix, hidden: h, features: f, channels: c, to: params)
            let h0 = params.addTensor(name: prefix + "initial_hidden", shape: [h])
            let c0 = params.addTensor(name: prefix + "initial_cell", shape: [h])
            blocks.append(
                RowLSTMBlock(
                    hidden: h, inputToState: i2s, stateToState: s2s, outputProjection: up,
                    initialHiddenOffset: h0, initialCellOffset: c0))
        }
        self.blocks = blocks.map(ResidualBlock.row) + diagonal.map(ResidualBlock.diagonal) + cnn.map(ResidualBlock.cnn)
        outputHidden = params.addConvolution(
            ConvolutionSpec(
                name: "output_hidden", outFeatures: o, inFeatures: f, kernelHeight: 1, kernelWidth: 1,
                centreY: 0, centreX: 0, taps: [(0, 0)], mask: .b,
                outGroups: groups(o), inGroups: groups(f), hasBias: true))
        outputLogits = params.addConvolution(
            ConvolutionSpec(
                name: "output_logits", outFeatures: configuration.outputWidth, inFeatures: o,
                kernelHeight: 1, kernelWidth: 1, centreY: 0, centreX: 0, taps: [(0, 0)], mask: .b,
                outGroups: (0..<c).flatMap { ch in
                    Array(repeating: ch, count: configuration.distribution.outputs(forChannel: ch, levels: levels))
                },
                inGroups: groups(o), hasBias: true))
        parameters = params
        initialiseWeights(seed: seed)
    }

    /// The 1×1 mask-B convolution h → 2h that every LSTM block adds to its input
    /// (`blocks.N.output_projection`).
    static func addOutputProjection(
        prefix: String, hidden h: Int, features f: Int, channels c: Int, to params: ParameterSet
    ) -> ConvolutionSpec {
        func groups(_ n: Int) -> [Int] { (0..<n).map { colourGroup($0, of: n, channels: c) } }
        return params.addConvolution(
            ConvolutionSpec(
                name: prefix + "output_projection", outFeatures: f, inFeatures: h,
                kernelHeight: 1, kernelWidth: 1, centreY: 0, centreX: 0,
                taps: [(0, 0)], mask: .b,
                outGroups: groups(f), inGroups: groups(h), hasBias: true))
    }

    /// Number of trainable parameters (masked connections included).
    public var parameterCount: Int { parameters.count }

    /// Names and PyTorch shapes of the model file's tensors, in storage order.
    public var tensorShapes: [(name: String, shape: [Int])] {
        parameters.entries.map { ($0.name, $0.shape) }
    }

    /// Uniform weights with variance 1/(3·fan-in)·3 (LeCun-uniform over live taps),
    /// zero biases except the forget gates (+1), zero initial states.
    func initialiseWeights(seed: UInt64) {
        var random = SplitMix(seed: seed)
        let v = parameters.values
        for entry in parameters.entries {
            guard let conv = entry.convolution else { continue }
            let limit = (3.0 / Float(conv.gatheredWidth)).squareRoot()
            for k in 0..<entry.count {
                v[entry.offset + k] = (random.nextUnitFloat() * 2 - 1) * limit
            }
        }
        var forgetBiases: [(Int, Int)] = []
        for block in blocks {
            switch block {
            case .row(let row): forgetBiases.append((row.inputToState.biasOffset, row.hidden))
            case .diagonal(let diagonal):
                forgetBiases.append((diagonal.leftToRight.inputToState.biasOffset, diagonal.hidden))
                forgetBiases.append((diagonal.rightToLeft.inputToState.biasOffset, diagonal.hidden))
            case .cnn: break
            }
        }
        for (offset, h) in forgetBiases {
            let bias = v + offset
            for k in h..<(2 * h) { bias[k] = 1 }
        }
        parameters.applyMask(to: v)
    }
}

/// A small deterministic generator for weight initialisation (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }
}
