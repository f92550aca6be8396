// The parameters of the three kinds of residual block: where each block's tensors sit
// in the parameter slab. The passes that use them live in RowLSTM.swift,
// DiagonalBiLSTM.swift and PixelCNN.swift.

/// One residual block of any of the three architectures: its kind and its parameters'
/// places in the slab. A model's blocks are all of one kind.
enum ResidualBlock: Sendable {
    case row(RowLSTMBlock)
    case diagonal(DiagonalBiLSTMBlock)
    case cnn(PixelCNNBlock)

    /// The Row LSTM block's parameters (the model is a Row LSTM).
    var row: RowLSTMBlock {
        guard case .row(let block) = self else { preconditionFailure("not a Row LSTM block") }
        return block
    }
    /// The Diagonal BiLSTM block's parameters (the model is a Diagonal BiLSTM).
    var diagonal: DiagonalBiLSTMBlock {
        guard case .diagonal(let block) = self else { preconditionFailure("not a Diagonal BiLSTM block") }
        return block
    }
    /// The PixelCNN block's parameters (the model is a PixelCNN).
    var cnn: PixelCNNBlock {
        guard case .cnn(let block) = self else { preconditionFailure("not a PixelCNN block") }
        return block
    }
}

/// One Row LSTM residual block's parameters.
struct RowLSTMBlock: Sendable {
    var hidden: Int
    /// 1×3 mask-B convolution of the block input (taps left and centre), 2h → 4h.
    var inputToState: ConvolutionSpec
    /// Unmasked 1×3 convolution of the previous row's hidden state, h → 4h.
    var stateToState: ConvolutionSpec
    /// 1×1 mask-B convolution h → 2h added to the block input.
    var outputProjection: ConvolutionSpec
    var initialHiddenOffset: Int
    var initialCellOffset: Int
}

/// One direction of a Diagonal BiLSTM block.
struct DiagonalLSTMDirection: Sendable {
    /// 1×1 mask-B convolution of the block input, 2h → 4h gates (o, f, i, g), with bias.
    var inputToState: ConvolutionSpec
    /// 2×1 convolution over the previous skewed column, h → 4h, no bias; stored taps
    /// [up (i−1), left (same row)].
    var stateToState: ConvolutionSpec
    var initialHiddenOffset: Int
    var initialCellOffset: Int
    /// Whether the direction runs on the mirrored image (right to left).
    var mirrored: Bool
}

/// One Diagonal BiLSTM residual block's parameters.
struct DiagonalBiLSTMBlock: Sendable {
    var hidden: Int
    var leftToRight: DiagonalLSTMDirection
    var rightToLeft: DiagonalLSTMDirection
    /// 1×1 mask-B convolution h → 2h of the sum of both directions, added to the block input.
    var outputProjection: ConvolutionSpec

    var directions: [DiagonalLSTMDirection] { [leftToRight, rightToLeft] }
}

/// One PixelCNN residual block's parameters.
struct PixelCNNBlock: Sendable {
    var hidden: Int
    var convIn: ConvolutionSpec
    var maskedConv: ConvolutionSpec
    var convOut: ConvolutionSpec

    /// The masked 3×3 convolution's taps (dy, dx), in storage order: the row above,
    /// then left, then centre (mask B).
    static let taps: [(dy: Int, dx: Int)] = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0)]
}
