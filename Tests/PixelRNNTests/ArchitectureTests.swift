import Imaging
import Testing
@testable import PixelRNN

/// Adds `amount` to every bias that feeds a ReLU (and the input layer's), so that no
/// ReLU is dead or near its kink for the small test inputs: a dead unit hides
/// dependence, and a kink spoils finite differences.
func liftReLUBiases(_ model: PixelRNN, by amount: Float = 1) {
    let v = model.parameters.values
    for entry in model.parameters.entries {
        let name = entry.name
        guard name == "input_conv.bias" || name == "output_hidden.bias" || name.hasSuffix("conv_in.bias")
            || name.hasSuffix("masked_conv.bias")
        else { continue }
        for k in 0..<entry.count { v[entry.offset + k] += amount }
    }
}

/// `changed[t][s]`: whether perturbing sub-pixel t (raster order, then channel) changes
/// any logit of sub-pixel s.
func dependence(
    of model: PixelRNN, height: Int, width: Int, seed: UInt64 = 3, orientation: Orientation = .upright
) -> [[Bool]] {
    let c = model.configuration.channels, levels = model.configuration.levels
    let subPixels = height * width * c
    let base = randomPixels(count: subPixels, seed: seed)
    let reference = model.logits(of: base, height: height, width: width, orientation: orientation)
    return (0..<subPixels).map { t in
        var changed = base
        changed[t] = changed[t] &+ 7
        let logits = model.logits(of: changed, height: height, width: width, orientation: orientation)
        return (0..<subPixels).map { s in
            reference[(s * levels)..<((s + 1) * levels)] != logits[(s * levels)..<((s + 1) * levels)]
        }
    }
}

/// Compares measured dependence with the expected one; returns a few mismatches.
func mismatches(
    _ changed: [[Bool]], expected: (_ t: Int, _ s: Int) -> Bool, width: Int, channels c: Int
) -> [String] {
    var out: [String] = []
    func name(_ k: Int) -> String { "(\(k / c / width), \(k / c % width), ch \(k % c))" }
    for t in changed.indices {
        for s in changed[t].indices where changed[t][s] != expected(t, s) {
            out.append("\(name(s)) \(changed[t][s] ? "depends" : "does not depend") on \(name(t))")
        }
    }
    return out
}

@Suite struct DiagonalBiLSTMCausalityTests {
    /// Every sub-pixel depends on every earlier sub-pixel and on nothing else, with one
    /// exception that no causal network can avoid: sub-pixels of the last pixel of the
    /// row above that are not seen by any feature at that pixel (the whole pixel for
    /// gray, its last channel for RGB) reach row i only through the 7×7 input
    /// convolution of row i's columns ≥ W − 4, so columns ≤ W − 5 cannot see them.
    /// The far right of the row above is seen through the right-to-left stream.
    @Test(arguments: [1, 3])
    func seesExactlyTheAvailableContext(channels c: Int) throws {
        let model = try randomModel(channels: c, hidden: 6, blocks: 2, seed: 17, architecture: .diagonalBiLSTM)
        liftReLUBiases(model)
        let height = 5, width = 8
        let changed = dependence(of: model, height: height, width: width)
        let found = mismatches(changed, expected: { t, s in
            guard s > t else { return false }
            let pt = t / c, ps = s / c
            let (ys, xs) = (ps / width, ps % width)
            if pt == (ys - 1) * width + width - 1 && xs <= width - 5 && (c == 1 || t % c == c - 1) { return false }
            return true
        }, width: width, channels: c)
        #expect(found.isEmpty, "\(found.count) mismatches: \(found.prefix(8))")
    }

    /// Without the right-to-left stream's shift down one row, positions see the rest
    /// of their own row: the causality test above must fail. (Guards the test itself.)
    @Test func missingShiftDownIsCaught() throws {
        let model = try randomModel(channels: 1, hidden: 6, blocks: 1, seed: 17, architecture: .diagonalBiLSTM)
        model.rightToLeftShift = 0
        let changed = dependence(of: model, height: 4, width: 5)
        var violations = 0
        for t in changed.indices { for s in 0...t where changed[t][s] { violations += 1 } }
        #expect(violations > 0)
    }

    /// With one block, the first pixel of a row sees the last pixel of the row two above;
    /// a Row LSTM of the same depth does not (its context is triangular).
    @Test func firstPixelSeesTheFarRightOfEarlierRows() throws {
        let height = 4, width = 12
        let diagonal = try randomModel(channels: 1, hidden: 6, blocks: 1, seed: 5, architecture: .diagonalBiLSTM)
        let row = try randomModel(channels: 1, hidden: 6, blocks: 1, seed: 5, architecture: .rowLSTM)
        liftReLUBiases(diagonal)
        liftReLUBiases(row)
        let t = 1 * width + width - 1, s = 3 * width
        #expect(dependence(of: diagonal, height: height, width: width)[t][s])
        #expect(!dependence(of: row, height: height, width: width)[t][s])
    }
}

@Suite struct PixelCNNCausalityTests {
    /// The sub-pixels each logit can see, propagated through the layers' taps and colour
    /// masks: 7×7 mask A, then per block the 3×3 mask-B taps (1×1 layers mix groups ≤ g
    /// at the same position), then the mask-B output layers.
    func receptiveFields(height: Int, width: Int, channels c: Int, blocks: Int) -> [[Bool]] {
        let n = height * width * c, groups = c
        func inImage(_ y: Int, _ x: Int) -> Bool { y >= 0 && x >= 0 && x < width && y < height }
        // fields[p][g]: sub-pixels seen by stream features of group g at position p.
        var fields = [[[Bool]]](repeating: [[Bool]](repeating: [Bool](repeating: false, count: n), count: groups),
                                count: height * width)
        for y in 0..<height {
            for x in 0..<width {
                for g in 0..<groups {
                    for dy in -3...0 {
                        for dx in -3...3 where (dy < 0 || dx < 0) && inImage(y + dy, x + dx) {
                            for ch in 0..<c { fields[y * width + x][g][((y + dy) * width + x + dx) * c + ch] = true }
                        }
                    }
                    for ch in 0..<g { fields[y * width + x][g][(y * width + x) * c + ch] = true }
                }
            }
        }
        for _ in 0..<blocks {
            var next = fields
            for y in 0..<height {
                for x in 0..<width {
                    for g in 0..<groups {
                        for (dy, dx) in PixelCNNBlock.taps where inImage(y + dy, x + dx) {
                            let q = (y + dy) * width + x + dx
                            for g2 in 0..<groups where (dy, dx) != (0, 0) || g2 <= g {
                                for k in 0..<n where fields[q][g2][k] { next[y * width + x][g][k] = true }
                            }
                        }
                    }
                }
            }
            fields = next
        }
        return (0..<n).map { s in
            let p = s / c, ch = s % c
            return (0..<n).map { t in (0...ch).contains { fields[p][$0][t] } }
        }
    }

    /// Logits depend exactly on the receptive field (which is causal: a subset of the
    /// earlier sub-pixels, with PixelCNN's blind spot to the upper right).
    @Test(arguments: [1, 3])
    func seesExactlyItsReceptiveField(channels c: Int) throws {
        let height = 6, width = 9, blocks = 2
        let model = try randomModel(channels: c, hidden: 12, blocks: blocks, seed: 23, architecture: .pixelCNN)
        liftReLUBiases(model)
        let fields = receptiveFields(height: height, width: width, channels: c, blocks: blocks)
        for s in fields.indices { for t in s..<fields.count { #expect(!fields[s][t]) } }
        // The blind spot exists: the first pixel of the last row does not see the top right.
        #expect(!fields[(height - 1) * width * c][(width - 1) * c])
        let changed = dependence(of: model, height: height, width: width)
        let found = mismatches(changed, expected: { t, s in fields[s][t] }, width: width, channels: c)
        #expect(found.isEmpty, "\(found.count) mismatches: \(found.prefix(8))")
    }
}
