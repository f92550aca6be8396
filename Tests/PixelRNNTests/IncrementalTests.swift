import Testing
@testable import PixelRNN

@Suite struct IncrementalTests {
    /// Resampling's copy writes only the slots that change and saves only the sources that
    /// are overwritten, and still gives what copying from a full copy gives: swaps, cycles,
    /// chains, all from one, identity, and random draws.
    @Test func copyingFromAncestorsEqualsCopyingFromAFullCopy() {
        var random = RandomSource(seed: 4)
        var cases: [[Int]] = [[1, 0], [1, 2, 3, 3], [3, 2, 1, 0], [1, 2, 0], [0, 0, 0, 0], [2, 2, 2, 2], [0, 1, 2],
                              [1, 1, 2, 3], [1, 2, 2, 3], [0]]
        for _ in 0..<200 {
            let n = 1 + random.nextInt(below: 9)
            cases.append((0..<n).map { _ in random.nextInt(below: n) })
        }
        let stride = 5
        for ancestors in cases {
            let original = (0..<(ancestors.count * stride)).map { Float($0) }
            let expected = ancestors.indices.flatMap { k in original[(ancestors[k] * stride)..<((ancestors[k] + 1) * stride)] }
            var floats = original
            floats.withUnsafeMutableBufferPointer { copyFromAncestors($0.baseAddress!, stride: stride, ancestors: ancestors) }
            #expect(floats == expected, "\(ancestors)")
            var bytes = original.map { UInt8($0) }
            bytes.withUnsafeMutableBufferPointer { copyFromAncestors($0.baseAddress!, stride: stride, ancestors: ancestors) }
            #expect(bytes == expected.map { UInt8($0) }, "\(ancestors)")
        }
    }

    /// Logits from the incremental state equal the full forward pass's at every
    /// sub-pixel (tolerance 1e-4 absolute: the products are blocked differently),
    /// for whole-row runs, single-pixel runs with one re-run per channel, and mixed runs.
    @Test(arguments: Architecture.allCases, [(1, 0), (3, 0), (1, 1), (3, 1), (1, 2), (3, 2)])
    func incrementalLogitsEqualFullForward(architecture: Architecture, style: (channels: Int, runStyle: Int)) throws {
        try compareWithFullForward(architecture: architecture, channels: style.channels, runStyle: style.runStyle,
                                   distribution: .softmax)
    }

    /// The same with a logistic mixture output, whose G and B distributions also read the
    /// pixel's earlier channels directly (the linear coefficients).
    @Test(arguments: Architecture.allCases, [(1, 1), (3, 1), (3, 2)])
    func mixtureDistributionsEqualFullForward(architecture: Architecture, style: (channels: Int, runStyle: Int)) throws {
        try compareWithFullForward(architecture: architecture, channels: style.channels, runStyle: style.runStyle,
                                   distribution: .logisticMixture(components: 3))
    }

    func compareWithFullForward(architecture: Architecture, channels: Int, runStyle: Int, distribution: OutputDistribution) throws {
        let model = try randomModel(
            channels: channels, hidden: 6, blocks: 2, seed: 21, architecture: architecture, distribution: distribution)
        liftReLUBiases(model)
        let height = 5, width = 7, levels = model.configuration.levels, particles = 2
        let imageSize = height * width * channels
        let images = randomPixels(count: particles * imageSize, seed: 8)
        let full = (0..<particles).map { k in
            model.logits(of: Array(images[(k * imageSize)..<((k + 1) * imageSize)]), height: height, width: width)
        }
        let state = try IncrementalState(model: model, particles: particles, height: height, width: width)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: levels)
        defer { logits.deallocate() }
        var worst: Float = 0
        for y in 0..<height {
            var runs: [Range<Int>]
            switch runStyle {
            case 0: runs = [0..<width]
            case 1: runs = (0..<width).map { $0..<($0 + 1) }
            default: runs = [0..<2, 2..<3, 3..<width]
            }
            for run in runs {
                // Reveal channels one at a time for single-pixel runs, as a sampler does.
                let passes = run.count == 1 ? channels : 1
                for pass in 0..<passes {
                    for k in 0..<particles {
                        for x in run {
                            for ch in 0..<channels where run.count > 1 || ch < pass {
                                state.setSubPixel(particle: k, y: y, x: x, channel: ch,
                                                  value: images[k * imageSize + (y * width + x) * channels + ch])
                            }
                        }
                    }
                    state.logits(row: y, columns: run)
                    for k in 0..<particles {
                        for (jj, x) in run.enumerated() {
                            let channelsToCheck = run.count == 1 ? [pass] : Array(0..<channels)
                            for ch in channelsToCheck {
                                state.logits(particle: k, position: jj, channel: ch, into: logits)
                                for v in 0..<levels {
                                    let a = logits[v]
                                    let b = full[k][((y * width + x) * channels + ch) * levels + v]
                                    worst = max(worst, abs(a - b))
                                }
                            }
                        }
                    }
                }
                if run.count == 1 {
                    for k in 0..<particles {
                        for ch in 0..<channels {
                            state.setSubPixel(particle: k, y: y, x: run.lowerBound, channel: ch,
                                              value: images[k * imageSize + (y * width + run.lowerBound) * channels + ch])
                        }
                    }
                }
            }
            state.endRow()
        }
        #expect(worst < 1e-4, "largest difference \(worst)")
    }
}

@Suite struct StreamingNLLTests {
    /// Row-by-row NLL equals the batched forward pass, per sub-pixel (1e-4 relative).
    @Test(arguments: [(Architecture.rowLSTM, 1, false), (.rowLSTM, 3, false), (.diagonalBiLSTM, 1, false), (.pixelCNN, 3, false),
                      (.rowLSTM, 3, true), (.diagonalBiLSTM, 1, true)])
    func streamingNLLEqualsFullForward(architecture: Architecture, channels: Int, mixture: Bool) throws {
        let model = try PixelRNN(
            configuration: ModelConfiguration(architecture: architecture, channels: channels, hidden: 6, blocks: 2,
                                              outputHidden: 9, levels: 16,
                                              distribution: mixture ? .logisticMixture(components: 4) : .softmax), seed: 4)
        let height = 6, width = 9
        let pixels = randomPixels(count: height * width * channels, seed: 12)
        var full = [Float](repeating: 0, count: pixels.count)
        var streamed = [Float](repeating: 0, count: pixels.count)
        let a = try full.withUnsafeMutableBufferPointer {
            try model.negativeLogLikelihoods(of: pixels, count: 1, height: height, width: width, positionNLL: $0.baseAddress)[0]
        }
        let b = try streamed.withUnsafeMutableBufferPointer {
            try model.streamingNegativeLogLikelihood(of: pixels, height: height, width: width, subPixelNLL: $0.baseAddress)
        }
        #expect(abs(a - b) <= 1e-4 * abs(a))
        for i in pixels.indices { #expect(abs(full[i] - streamed[i]) <= 1e-3) }
    }
}
