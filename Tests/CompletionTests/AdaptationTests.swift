import Foundation
import Imaging
import Testing
import TestSupport
@testable import Completion
@testable import PixelRNN

@Suite struct AdaptationTests {
    /// A 48×40 gray picture of diagonal stripes (easy to learn) with a hole.
    static let width = 48, height = 40
    static let picture = (0..<(width * height)).map { p in UInt8(((p % width + p / width) / 3) % 2 == 0 ? 40 : 200) }
    static let hole = (0..<(width * height)).map { p in (18..<30).contains(p % width) && (14..<26).contains(p / width) }

    @Test func cropsNeverTouchTheHoleNorTheHeldOutTiles() throws {
        var random = RandomSource(seed: 3)
        let occluded = (0..<(Self.width * Self.height)).map { _ in random.nextDouble() < 0.01 } .enumerated().map { $0.element || Self.hole[$0.offset] }
        let plan = try #require(Adaptation.plan(occluded: occluded, width: Self.width, height: Self.height, cropSize: 8))
        #expect(!plan.training.isEmpty && !plan.heldOut.isEmpty)
        let s = plan.cropSize
        func covers(_ c: (y: Int, x: Int), _ y: Int, _ x: Int) -> Bool { (c.y..<(c.y + s)).contains(y) && (c.x..<(c.x + s)).contains(x) }
        for crop in plan.training {
            for y in crop.y..<(crop.y + s) {
                for x in crop.x..<(crop.x + s) {
                    #expect(!occluded[y * Self.width + x], "training crop \(crop) touches an occluded pixel")
                    #expect(!plan.heldOut.contains { covers($0, y, x) }, "training crop \(crop) overlaps a held-out tile")
                }
            }
        }
        for tile in plan.heldOut {
            for y in tile.y..<(tile.y + s) { for x in tile.x..<(tile.x + s) { #expect(!occluded[y * Self.width + x]) } }
        }
    }

    @Test func adaptingLowersTheHeldOutNLLAndKeepsTheOriginal() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3)
        let before = Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count))
        let options = AdaptationOptions(steps: 40, cropSize: 12, batch: 8, learningRate: 3e-3)
        let (adapted, summary) = Adaptation.adapt(
            model, pixels: Self.picture, occluded: Self.hole, width: Self.width, height: Self.height,
            options: options, seed: 1, threads: 2)
        #expect(summary.adapted && summary.steps == 40 && !summary.cutByTimeLimit)
        let b = try #require(summary.heldOutBitsPerDimBefore), a = try #require(summary.heldOutBitsPerDimAfter)
        #expect(a < b - 0.5, "held out \(b) → \(a)")
        #expect(Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count)) == before)
        #expect(adapted !== model)
    }

    @Test func theThreadCountDoesNotChangeTheAdaptedWeights() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3).addingOrientationSupport()
        let options = AdaptationOptions(steps: 6, cropSize: 12, batch: 6)
        func weights(_ threads: Int) -> [Float] {
            let adapted = Adaptation.adapt(model, pixels: Self.picture, occluded: Self.hole, width: Self.width,
                                           height: Self.height, options: options, seed: 7, threads: threads).model
            return Array(UnsafeBufferPointer(start: adapted.parameters.values, count: adapted.parameters.count))
        }
        #expect(weights(1) == weights(2))
    }

    /// The chessboard distance transform matches a brute-force minimum over the flagged
    /// pixels, and is "none" everywhere when nothing is flagged.
    @Test func chessboardDistancesMatchBruteForce() {
        let width = 13, height = 9
        var random = RandomSource(seed: 4, stream: 1)
        let flagged = (0..<(width * height)).map { _ in random.nextInt(below: 17) == 0 }
        let d = chessboardDistances(to: flagged, width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                var best = Int.max
                for p in 0..<(width * height) where flagged[p] { best = min(best, max(abs(p / width - y), abs(p % width - x))) }
                #expect(d[y * width + x] == best, "(\(y), \(x))")
            }
        }
        #expect(chessboardDistances(to: [Bool](repeating: false, count: 12), width: 4, height: 3).allSatisfy { $0 == Int.max })
    }

    /// Drawing crops near the hole keeps the thread count out of the adapted weights, and
    /// changes what is drawn (the crops are not the uniform ones).
    @Test func nearHoleCropsAreDeterministicAndDifferFromUniform() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3)
        func weights(_ threads: Int, share: Double) -> [Float] {
            let options = AdaptationOptions(steps: 4, cropSize: 12, batch: 4, learningRate: 1e-3, nearHoleShare: share)
            let adapted = Adaptation.adapt(model, pixels: Self.picture, occluded: Self.hole, width: Self.width,
                                           height: Self.height, options: options, seed: 7, threads: threads).model
            return Array(UnsafeBufferPointer(start: adapted.parameters.values, count: adapted.parameters.count))
        }
        #expect(weights(1, share: 0.7) == weights(2, share: 0.7))
        #expect(weights(1, share: 0.7) != weights(1, share: 0))
    }

    /// A cancellation set while adapting stops it within a step, and the completion
    /// throws `cancelled` instead of sampling; one set before sampling stops that too.
    @Test func aCancellationStopsAdaptationAndSampling() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3)
        let flag = CancellationFlag()
        var options = CompletionOptions(samples: 2, seed: 3)
        // Uncancelled, this adaptation would run for its whole 120 s limit. The bound
        // below is far under that yet generous, since the suite runs many tests at once
        // on as few as two cores.
        options.adaptation = AdaptationOptions(steps: 100_000, maxSeconds: 120, cropSize: 12)
        options.cancellation = flag
        let image = Image(width: Self.width, height: Self.height, channels: 1, pixels: Self.picture)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.3)
            flag.cancel()
        }
        let started = Date()
        #expect(throws: CompletionError.cancelled) {
            _ = try Completer(model: model).complete(image, occluded: Self.hole, options: options)
        }
        #expect(Date().timeIntervalSince(started) < 40)

        options.adaptation.steps = 0
        #expect(throws: CompletionError.cancelled) {
            _ = try Completer(model: model).complete(image, occluded: Self.hole, options: options)
        }
        options.cancellation = nil
        #expect(throws: Never.self) { _ = try Completer(model: model).complete(image, occluded: Self.hole, options: options) }
    }

    /// Through the completer: the report says what happened, the model file on disk is
    /// untouched, and a picture too small for crops completes unadapted with the reason.
    @Test func completionReportsItAndTheModelFileStaysTheSame() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url.path + "/m.safetensors"
        try perturbedModel(channels: 1, levels: 256, spread: 0.3).save(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let loaded = try LoadedModel.load(path: path)
        var options = CompletionOptions(samples: 2, seed: 3)
        options.adaptation = AdaptationOptions(steps: 5, cropSize: 12)
        let image = Image(width: Self.width, height: Self.height, channels: 1, pixels: Self.picture)
        let result = try loaded.completer.complete(image, occluded: Self.hole, options: options)
        let summary = try #require(result.report.adaptation)
        #expect(summary.adapted && summary.steps == 5)
        for p in 0..<(Self.width * Self.height) where !Self.hole[p] { #expect(result.completed.pixels[p] == Self.picture[p]) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)

        let tiny = Image(width: 10, height: 10, channels: 1, filledWith: 9)
        let small = try loaded.completer.complete(tiny, occluded: (0..<100).map { $0 >= 50 }, options: options)
        #expect(small.report.adaptation?.adapted == false)
        #expect(small.report.adaptation?.reason?.contains("too small") == true)
    }

    @Test func timingAStepLeavesTheModelAsItWasAndRefusesATinyPicture() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3)
        let before = Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count))
        let image = Image(width: Self.width, height: Self.height, channels: 1, pixels: Self.picture)
        let options = AdaptationOptions(cropSize: 12, batch: 2)
        let started = Date()
        let perStep = try #require(Adaptation.secondsPerStep(
            model, image: image, occluded: Self.hole, options: options, seed: 1, threads: 2, timing: 0.2))
        #expect(perStep > 0 && perStep < 0.2)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count)) == before)
        let tiny = Image(width: 10, height: 10, channels: 1, filledWith: 9)
        #expect(Adaptation.secondsPerStep(
            model, image: tiny, occluded: (0..<100).map { $0 >= 50 }, options: options, seed: 1, threads: 1, timing: 0.2) == nil)
    }

    @Test func theNearHoleDecayLengthChangesWhichCropsAreDrawn() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.3)
        func weights(scale: Double) -> [Float] {
            let options = AdaptationOptions(steps: 4, cropSize: 12, batch: 4, learningRate: 1e-3, nearHoleScale: scale)
            let adapted = Adaptation.adapt(model, pixels: Self.picture, occluded: Self.hole, width: Self.width,
                                           height: Self.height, options: options, seed: 2, threads: 1).model
            return Array(UnsafeBufferPointer(start: adapted.parameters.values, count: adapted.parameters.count))
        }
        #expect(weights(scale: 1) == weights(scale: 1))
        #expect(weights(scale: 1) != weights(scale: 8))
    }
}
