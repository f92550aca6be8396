import Foundation
import Testing
import TestSupport
@testable import PixelRNN

@Suite struct ModelFileTests {
    /// Saving and loading reproduces every weight and the NLL bit for bit.
    @Test(arguments: Architecture.allCases, [1, 3])
    func roundTripReproducesNLLBitForBit(architecture: Architecture, channels: Int) throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: channels, hidden: 6, blocks: 2, seed: 31, architecture: architecture)
        model.metadata["training_data"] = "unit test"
        let path = dir.url.appendingPathComponent("m.safetensors").path
        try model.save(to: path)
        let loaded = try PixelRNN(contentsOf: path)
        #expect(loaded.configuration == model.configuration)
        #expect(loaded.metadata["training_data"] == "unit test")
        let pixels = randomPixels(count: 3 * 5 * 4 * channels, seed: 1)
        let a = try model.negativeLogLikelihoods(of: pixels, count: 3, height: 5, width: 4)
        let b = try loaded.negativeLogLikelihoods(of: pixels, count: 3, height: 5, width: 4)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        for i in 0..<model.parameters.count {
            #expect(model.parameters.values[i].bitPattern == loaded.parameters.values[i].bitPattern)
        }
    }

    /// A mixture model records its distribution and component count, and a reader
    /// refuses a distribution it does not know.
    @Test func mixtureDistributionIsRecorded() throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: 3, distribution: .logisticMixture(components: 5))
        let path = dir.url.appendingPathComponent("m.safetensors").path
        try model.save(to: path)
        let loaded = try PixelRNN(contentsOf: path)
        #expect(loaded.configuration.distribution == .logisticMixture(components: 5))
        #expect(loaded.tensorShapes.first { $0.name == "output_logits.weight" }?.shape == [5 * (3 + 4 + 5), 9, 1, 1])
        var file = model.safetensors()
        file.metadata["distribution"] = "gaussian"
        let odd = dir.url.appendingPathComponent("odd.safetensors").path
        try file.write(to: odd)
        #expect(throws: ModelError.self) { try PixelRNN(contentsOf: odd) }
    }

    /// Tensor names and shapes follow PyTorch's conventions.
    @Test func tensorNamesAndShapesFollowPyTorch() throws {
        let model = try PixelRNN(configuration: .benchRow)
        let shapes = Dictionary(uniqueKeysWithValues: model.tensorShapes.map { ($0.name, $0.shape) })
        #expect(shapes["input_conv.weight"] == [64, 1, 7, 7])
        #expect(shapes["blocks.3.input_to_state.weight"] == [128, 64, 1, 3])
        #expect(shapes["blocks.3.state_to_state.weight"] == [128, 32, 1, 3])
        #expect(shapes["blocks.6.output_projection.weight"] == [64, 32, 1, 1])
        #expect(shapes["blocks.0.initial_hidden"] == [32])
        #expect(shapes["output_logits.weight"] == [256, 64, 1, 1])
        #expect(shapes["output_logits.bias"] == [256])
    }

    /// Tensor names and shapes of the other two architectures (docs/architectures.md).
    @Test func otherArchitecturesTensorNamesAndShapes() throws {
        var config = ModelConfiguration.benchRow
        config.architecture = .diagonalBiLSTM
        let diagonal = Dictionary(uniqueKeysWithValues: try PixelRNN(configuration: config).tensorShapes.map { ($0.name, $0.shape) })
        for direction in ["left_to_right", "right_to_left"] {
            #expect(diagonal["blocks.3.\(direction).input_to_state.weight"] == [128, 64, 1, 1])
            #expect(diagonal["blocks.3.\(direction).input_to_state.bias"] == [128])
            #expect(diagonal["blocks.3.\(direction).state_to_state.weight"] == [128, 32, 2, 1])
            #expect(diagonal["blocks.3.\(direction).initial_hidden"] == [32])
            #expect(diagonal["blocks.3.\(direction).initial_cell"] == [32])
        }
        #expect(diagonal["blocks.6.output_projection.weight"] == [64, 32, 1, 1])
        #expect(diagonal.count == 6 + 7 * 12)
        config.architecture = .pixelCNN
        let cnn = Dictionary(uniqueKeysWithValues: try PixelRNN(configuration: config).tensorShapes.map { ($0.name, $0.shape) })
        #expect(cnn["blocks.0.conv_in.weight"] == [32, 64, 1, 1])
        #expect(cnn["blocks.0.masked_conv.weight"] == [32, 32, 3, 3])
        #expect(cnn["blocks.0.conv_out.weight"] == [64, 32, 1, 1])
        #expect(cnn["blocks.6.conv_out.bias"] == [64])
        #expect(cnn.count == 6 + 7 * 6)
    }

    /// The masked 3×3 kernel stores zeros below and right of the centre, and at the centre
    /// for inputs of a later colour group (mask B).
    @Test func pixelCNNMaskedPositionsAreZeroInTheFile() throws {
        let model = try randomModel(channels: 3, hidden: 6, blocks: 1, seed: 2, architecture: .pixelCNN)
        let w = try #require(model.safetensors().tensors["blocks.0.masked_conv.weight"])
        for o in 0..<6 {
            for i in 0..<6 {
                let k = (o * 6 + i) * 9
                #expect(w.values[k + 1 * 3 + 2] == 0)
                for kx in 0..<3 { #expect(w.values[k + 2 * 3 + kx] == 0) }
                if i / 2 > o / 2 { #expect(w.values[k + 1 * 3 + 1] == 0) } else { #expect(w.values[k + 1 * 3 + 1] != 0) }
            }
        }
    }

    /// The file's weight for mask-A's centre and later taps is zero.
    @Test func maskedKernelPositionsAreZeroInTheFile() throws {
        let model = try randomModel(channels: 3, hidden: 6, blocks: 1, seed: 2)
        let file = model.safetensors()
        let w = try #require(file.tensors["input_conv.weight"])
        // [out, in, 7, 7]: row 3 (centre row), columns 4...6 are after the centre.
        for o in 0..<w.shape[0] {
            for i in 0..<3 {
                for kx in 4..<7 { #expect(w.values[((o * 3 + i) * 7 + 3) * 7 + kx] == 0) }
                for ky in 4..<7 { for kx in 0..<7 { #expect(w.values[((o * 3 + i) * 7 + ky) * 7 + kx] == 0) } }
            }
        }
        // Centre tap: output group 0 (R) sees no input channel.
        #expect(w.values[((0 * 3 + 0) * 7 + 3) * 7 + 3] == 0)
    }

    @Test func truncatedFileGivesAClearError() throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: 1, seed: 3)
        let path = dir.url.appendingPathComponent("m.safetensors").path
        try model.save(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = dir.url.appendingPathComponent("cut.safetensors").path
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: cut))
        #expect {
            _ = try PixelRNN(contentsOf: cut)
        } throws: { error in
            guard let e = error as? ModelError, case .file = e else { return false }
            return e.description.contains("cut.safetensors")
        }
    }

    @Test func corruptHeaderGivesAClearError() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url.appendingPathComponent("bad.safetensors").path
        var bytes: [UInt8] = [16, 0, 0, 0, 0, 0, 0, 0]
        bytes += Array("{\"a\": [1, 2,   ".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelError.self) { _ = try PixelRNN(contentsOf: path) }
    }

    @Test func missingTensorAndWrongShapeAreRefused() throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: 1, seed: 3)
        var file = model.safetensors()
        file.tensors["blocks.1.state_to_state.weight"] = nil
        let path = dir.url.appendingPathComponent("m.safetensors").path
        try file.write(to: path)
        #expect {
            _ = try PixelRNN(contentsOf: path)
        } throws: { ($0 as? ModelError)?.description.contains("blocks.1.state_to_state.weight") ?? false }

        file = model.safetensors()
        file.tensors["output_logits.bias"] = SafetensorsTensor(shape: [3], values: [0, 0, 0])
        try file.write(to: path)
        #expect {
            _ = try PixelRNN(contentsOf: path)
        } throws: { ($0 as? ModelError)?.description.contains("shape") ?? false }
    }

    /// Found while writing the model-file fuzz target (Fuzz/Targets/safetensors.swift;
    /// out-of-memory under -rss_limit_mb=2048): a 200-byte file whose metadata
    /// names the largest architecture made the loader allocate the whole model (hundreds
    /// of gigabytes) before it looked at a single tensor.
    @Test(arguments: Architecture.allCases)
    func metadataAskingForAHugeModelIsRefusedBeforeAllocating(architecture: Architecture) throws {
        let metadata = [
            "format": PixelRNN.fileFormat, "architecture": architecture.rawValue, "channels": "3",
            "hidden": "4096", "blocks": "256", "output_hidden": "8192", "levels": "256",
        ]
        let file = SafetensorsFile(
            metadata: metadata, tensors: ["input_conv.bias": SafetensorsTensor(shape: [2], values: [0, 0])])
        #expect {
            _ = try PixelRNN(file: file, path: "huge.safetensors")
        } throws: { ($0 as? ModelError)?.description.contains("needs at least") ?? false }
    }

    /// The bound checked before allocating never exceeds the weights a real model file holds.
    @Test(arguments: Architecture.allCases, [1, 3])
    func minimumFileWeightCountIsALowerBound(architecture: Architecture, channels: Int) throws {
        for (hidden, blocks) in [(3, 0), (4, 1), (6, 2), (32, 7)] where hidden >= channels {
            let configuration = ModelConfiguration(
                architecture: architecture, channels: channels, hidden: hidden, blocks: blocks)
            let model = try PixelRNN(configuration: configuration)
            let stored = model.safetensors().tensors.values.reduce(0) { $0 + $1.values.count }
            #expect(configuration.minimumFileWeightCount <= stored)
            #expect(model.parameterCount <= stored)
        }
    }

    @Test func nonzeroMaskedWeightIsRefused() throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: 1, seed: 3)
        var file = model.safetensors()
        var w = try #require(file.tensors["input_conv.weight"])
        w.values[3 * 7 + 3] = 0.5  // out 0, in 0, centre: masked by mask A
        file.tensors["input_conv.weight"] = w
        let path = dir.url.appendingPathComponent("m.safetensors").path
        try file.write(to: path)
        #expect {
            _ = try PixelRNN(contentsOf: path)
        } throws: { ($0 as? ModelError)?.description.contains("masked") ?? false }
    }

    @Test func checkpointRestoresOptimizerState() throws {
        let dir = try TemporaryDirectory()
        let model = try randomModel(channels: 1, seed: 5)
        let trainer = Trainer(model: model, batchSize: 2, workers: 1, optimizer: AdamConfiguration())
        let pixels = randomPixels(count: 2 * 4 * 4, seed: 6)
        for _ in 0..<3 {
            _ = pixels.withUnsafeBufferPointer { trainer.trainStep(pixels: $0.baseAddress!, count: 2, height: 4, width: 4) }
        }
        let path = dir.url.appendingPathComponent("c.safetensors").path
        try trainer.saveCheckpoint(to: path)
        let restored = try PixelRNN(contentsOf: path)
        let trainer2 = Trainer(model: restored, batchSize: 2, workers: 1, optimizer: AdamConfiguration())
        #expect(try trainer2.restoreOptimizer(from: path) == 3)
        // The next step is identical in both.
        _ = pixels.withUnsafeBufferPointer { trainer.trainStep(pixels: $0.baseAddress!, count: 2, height: 4, width: 4) }
        _ = pixels.withUnsafeBufferPointer { trainer2.trainStep(pixels: $0.baseAddress!, count: 2, height: 4, width: 4) }
        for i in 0..<model.parameters.count {
            #expect(model.parameters.values[i] == restored.parameters.values[i])
        }
    }
}

@Suite struct TrainingTests {
    /// A short run on a slice of Fashion-MNIST: held-out NLL drops clearly below the
    /// uniform 8 bits/dim (to under 5).
    @Test func shortTrainingRunLearnsFashionMNIST() throws {
        let all = try FashionMNIST.load(.train).prefix(2600)
        let (train, heldOut) = all.split(holdOut: 200, seed: 1)
        let model = try PixelRNN(configuration: ModelConfiguration(hidden: 16, blocks: 2), seed: 1)
        var options = TrainingOptions()
        options.batchSize = 16
        options.steps = 150
        options.workers = 2
        options.validateEvery = 0
        options.optimizer.learningRate = 3e-3
        options.optimizer.warmupSteps = 20
        let run = try TrainingRun(model: model, training: train, validation: heldOut, options: options)
        let before = run.validate()
        run.run(shouldStop: { false }) { _ in }
        let after = run.validate()
        #expect(before > 7.5)
        #expect(after < 5.0, "held-out \(after) bits/dim after 150 steps")
    }
}
