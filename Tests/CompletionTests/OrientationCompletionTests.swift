import Imaging
import Testing
@testable import Completion
@testable import PixelRNN

/// Completion in the scan orientation that suits the hole.
@Suite struct OrientationCompletionTests {
    /// A perturbed model with orientation support and a distinct embedding per orientation.
    func orientedModel(channels: Int) throws -> PixelRNN {
        let model = try perturbedModel(channels: channels, levels: 256, spread: 0.4).addingOrientationSupport()
        var random = RandomSource(seed: 3, stream: 1)
        let offset = model.orientationEmbeddingOffset!
        for i in 0..<(8 * model.configuration.features) { model.parameters.values[offset + i] = random.nextFloat() - 0.5 }
        return model
    }

    /// A `width × height` mask occluding the given rectangle.
    func rectangle(width: Int, height: Int, x: Range<Int>, y: Range<Int>) -> [Bool] {
        (0..<(width * height)).map { p in x.contains(p % width) && y.contains(p / width) }
    }

    @Test func eachHalfGetsTheOrientationThatPutsItLast() {
        let w = 6, h = 4
        func choice(_ x: Range<Int>, _ y: Range<Int>) -> (Orientation, Int) {
            let c = Completer.chooseOrientation(occluded: rectangle(width: w, height: h, x: x, y: y), width: w, height: h,
                                                supportsOrientations: true)
            return (c.orientation, c.visibleAfterFirstOccluded)
        }
        #expect(choice(0..<w, 2..<h) == (.upright, 0))  // bottom
        #expect(choice(0..<w, 0..<2) == (.verticalFlip, 0))  // top
        #expect(choice(3..<w, 0..<h) == (.transpose, 0))  // right: columns left to right
        #expect(choice(0..<3, 0..<h) == (.transposeVerticalFlip, 0))  // left: right column first
        // A corner is never exact: the last scanned line through it has visible pixels
        // beside the hole. The best scan here ends with the left column, bottom to top.
        #expect(choice(0..<2, 0..<2) == (.transposeHalfTurn, 2))
        // A centre hole is never exact; an upright-only model always scans upright.
        #expect(choice(2..<4, 1..<3).1 > 0)
        let upright = Completer.chooseOrientation(occluded: rectangle(width: w, height: h, x: 0..<w, y: 0..<2),
                                                  width: w, height: h, supportsOrientations: false)
        #expect(upright.orientation == .upright && upright.visibleAfterFirstOccluded == 2 * w)
    }

    /// A top-half hole is completed scanning bottom-up: the report says so and says the
    /// result is exact; visible pixels are bit-identical; the evidence is the exact
    /// likelihood of the visible part under that orientation; threads do not matter.
    @Test(arguments: [1, 3])
    func topHoleIsExactUnderTheVerticalFlip(channels: Int) throws {
        let model = try orientedModel(channels: channels)
        let w = 5, h = 6
        let image = randomImage(width: w, height: h, channels: channels, seed: 8)
        let mask = rectangle(width: w, height: h, x: 0..<w, y: 0..<3)
        let one = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 4, seed: 2, threads: 1))
        let two = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 4, seed: 2, threads: 2))
        #expect(one.samples == two.samples)
        #expect(one.report.sampling.orientation == "vertical-flip")
        #expect(one.report.sampling.visibleSubPixelsAfterFirstOccluded == 0)
        #expect(one.report.evidence.exact)
        #expect(one.report.evidence.resamplingSteps == 0)
        for sample in one.samples {
            #expect(sample.width == w && sample.height == h)
            for p in 0..<(w * h) where !mask[p] {
                for c in 0..<channels { #expect(sample.pixels[p * channels + c] == image.pixels[p * channels + c]) }
            }
        }
        // Exactness is true: the evidence equals the exact NLL of the visible rows, which
        // come first in the flipped scan.
        let scanned = image.scanned(.verticalFlip)
        let nll = UnsafeMutablePointer<Float>.allocate(capacity: w * h * channels)
        defer { nll.deallocate() }
        _ = try model.negativeLogLikelihoods(of: scanned.pixels, count: 1, height: h, width: w, positionNLL: nll,
                                             orientation: .verticalFlip)
        let visible = (0..<(3 * w * channels)).reduce(0.0) { $0 - Double(nll[$1]) }
        #expect(isClose(one.report.evidence.logPVisibleNats, visible, relative: 1e-5))
    }

    /// A transposed scan is undone exactly: the completion of a left hole under the
    /// chosen orientation equals, pixel for pixel, the completion of the transformed
    /// image (sampled in that orientation) transformed back.
    @Test func transposedCompletionMapsBack() throws {
        let model = try orientedModel(channels: 3)
        let w = 7, h = 4
        let image = randomImage(width: w, height: h, channels: 3, seed: 5)
        let mask = rectangle(width: w, height: h, x: 0..<3, y: 0..<h)
        let options = CompletionOptions(samples: 2, seed: 9)
        let result = try Completer(model: model).complete(image, occluded: mask, options: options)
        #expect(result.report.sampling.orientation == "transpose-vertical-flip")
        #expect(result.report.image.width == w && result.report.image.height == h)
        var fixed = options
        fixed.orientation = .transposeVerticalFlip
        let scannedMask = Orientation.transposeVerticalFlip.scan(mask, width: w, height: h, channels: 1)
        let manual = try Completer(model: model).completeScanned(
            image.scanned(.transposeVerticalFlip), occluded: scannedMask, orientation: .transposeVerticalFlip,
            options: options, queuedSeconds: 0)
        #expect(manual.samples.map { $0.unscanned(.transposeVerticalFlip) } == result.samples)
        #expect(try Completer(model: model).complete(image, occluded: mask, options: fixed).samples == result.samples)
    }

    /// A fixed non-upright orientation on an upright-only model is a clear option error.
    @Test func uprightOnlyModelRefusesAFixedOrientation() throws {
        let model = try perturbedModel(channels: 1, levels: 256)
        let image = randomImage(width: 4, height: 4, channels: 1, seed: 1)
        let mask = rectangle(width: 4, height: 4, x: 0..<4, y: 0..<2)
        #expect(throws: CompletionError.self) {
            try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(orientation: .verticalFlip))
        }
        let auto = try Completer(model: model).complete(image, occluded: mask)
        #expect(auto.report.sampling.orientation == "upright")
    }
}
