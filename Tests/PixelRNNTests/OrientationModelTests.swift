import Foundation
import Imaging
import TestSupport
import Testing
@testable import PixelRNN

/// Models conditioned on the scan orientation (`orientation_embedding`).
@Suite struct OrientationModelTests {
    /// In every orientation, no logit depends on its own or a later sub-pixel of the
    /// scanned picture, for every architecture, gray and RGB.
    @Test(arguments: Architecture.allCases, [1, 3])
    func causalInEveryOrientation(architecture: Architecture, channels: Int) throws {
        let model = try randomModel(channels: channels, hidden: 6, blocks: 2, seed: 5, architecture: architecture, orientations: 8)
        liftReLUBiases(model)
        for orientation in Orientation.allCases {
            let changed = dependence(of: model, height: 4, width: 5, orientation: orientation)
            var violations = 0
            for t in changed.indices { for s in 0...t where changed[t][s] { violations += 1 } }
            #expect(violations == 0, "\(orientation): \(violations) outputs see their own or later sub-pixels")
        }
    }

    /// The embedding changes the logits (it is live), and each orientation has its own.
    @Test func orientationsGiveDifferentLogits() throws {
        let model = try randomModel(channels: 3, orientations: 8)
        let pixels = randomPixels(count: 4 * 5 * 3, seed: 2)
        let logits = Orientation.allCases.map { model.logits(of: pixels, height: 4, width: 5, orientation: $0) }
        for a in 0..<8 { for b in (a + 1)..<8 { #expect(logits[a] != logits[b]) } }
    }

    /// The embedding's gradient (one row per image, by its orientation) against central
    /// finite differences, with the two images of the batch in different orientations.
    @Test(arguments: Architecture.allCases)
    func embeddingGradientMatchesFiniteDifferences(architecture: Architecture) throws {
        let model = try randomModel(channels: 3, seed: 13, architecture: architecture, orientations: 8)
        liftReLUBiases(model)
        let count = 2, height = 4, width = 4
        let orientations = [Orientation.horizontalFlip.rawValue, Orientation.transposeVerticalFlip.rawValue]
        let pixels = randomPixels(count: count * height * width * 3, seed: 9)
        let engine = Engine(model: model, workers: 1, microBatch: count)
        func loss() -> Double {
            let evaluation = Engine(model: model, workers: 1, microBatch: count, forTraining: false)
            return pixels.withUnsafeBufferPointer {
                evaluation.run(pixels: $0.baseAddress!, count: count, height: height, width: width, gradientScale: nil,
                               orientations: orientations)
            }.reduce(0, +)
        }
        _ = pixels.withUnsafeBufferPointer {
            engine.run(pixels: $0.baseAddress!, count: count, height: height, width: width, gradientScale: 1,
                       orientations: orientations)
        }
        let entry = try #require(model.parameters.entry(named: "orientation_embedding"))
        let f = model.configuration.features
        let values = model.parameters.values, gradient = engine.gradients[0].pointer
        // Rows of orientations no image used get exactly zero.
        for row in 0..<8 where !orientations.contains(row) {
            #expect((0..<f).allSatisfy { gradient[entry.offset + row * f + $0] == 0 }, "row \(row)")
        }
        // The used rows, along the gradient's own direction (as GradientTests do).
        let range = entry.offset..<(entry.offset + entry.count)
        let g = range.map { gradient[$0] }
        let gNorm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(gNorm > 0)
        let epsilon: Float = 1e-3
        let original = range.map { values[$0] }
        for (k, i) in range.enumerated() { values[i] = original[k] + epsilon * g[k] / gNorm }
        let plus = loss()
        for (k, i) in range.enumerated() { values[i] = original[k] - epsilon * g[k] / gNorm }
        let minus = loss()
        for (k, i) in range.enumerated() { values[i] = original[k] }
        let numeric = (plus - minus) / Double(2 * epsilon)
        #expect(abs(numeric - Double(gNorm)) <= 0.02 * Double(gNorm), "finite difference \(numeric), backward \(gNorm)")
    }

    /// Incremental logits equal the full forward pass's in a non-upright orientation.
    @Test(arguments: Architecture.allCases)
    func incrementalMatchesFullForward(architecture: Architecture) throws {
        let model = try randomModel(channels: 3, seed: 21, architecture: architecture, orientations: 8)
        liftReLUBiases(model)
        let height = 4, width = 5, levels = model.configuration.levels
        let pixels = randomPixels(count: height * width * 3, seed: 8)
        let full = model.logits(of: pixels, height: height, width: width, orientation: .transposeHalfTurn)
        let state = try IncrementalState(model: model, particles: 1, height: height, width: width, orientation: .transposeHalfTurn)
        state.setAllParticles(to: pixels)
        var worst: Float = 0
        for y in 0..<height {
            let logits = state.logits(row: y, columns: 0..<width)
            for i in 0..<(width * 3 * levels) { worst = max(worst, abs(logits[i] - full[y * width * 3 * levels + i])) }
            state.endRow()
        }
        #expect(worst < 1e-4)
    }

    /// Adding orientation support keeps the upright model exactly, and the file records it.
    @Test func addingSupportKeepsTheUprightModel() throws {
        let model = try randomModel(channels: 1)
        let oriented = model.addingOrientationSupport()
        #expect(oriented.configuration.orientations == 8)
        let pixels = randomPixels(count: 2 * 5 * 6, seed: 4)
        let before = try model.negativeLogLikelihoods(of: pixels, count: 2, height: 5, width: 6)
        let after = try oriented.negativeLogLikelihoods(of: pixels, count: 2, height: 5, width: 6)
        #expect(before == after)
        let folder = try TemporaryDirectory()
        let path = folder.url.path + "/m.safetensors"
        try oriented.save(to: path)
        let loaded = try PixelRNN(contentsOf: path)
        #expect(loaded.configuration.orientations == 8)
        #expect(loaded.tensorShapes.contains { $0.name == "orientation_embedding" && $0.shape == [8, 12] })
        let old = folder.url.path + "/old.safetensors"
        try model.save(to: old)
        #expect(try PixelRNN(contentsOf: old).configuration.orientations == 1)
    }

    /// An upright-only model refuses other orientations rather than silently ignoring them.
    @Test func uprightOnlyModelRefusesOtherOrientations() throws {
        let model = try randomModel(channels: 1)
        #expect(throws: ModelError.self) {
            try IncrementalState(model: model, particles: 1, height: 3, width: 3, orientation: .verticalFlip)
        }
        #expect(throws: ModelError.self) {
            try model.negativeLogLikelihoods(of: [UInt8](repeating: 0, count: 9), count: 1, height: 3, width: 3,
                                             orientation: .transpose)
        }
    }
}
