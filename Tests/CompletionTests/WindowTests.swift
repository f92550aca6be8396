import Imaging
import Testing
@testable import Completion
@testable import PixelRNN

/// Completion inside windows around the holes.
@Suite struct WindowTests {
    func rectangle(width: Int, height: Int, _ rects: [PixelRect]) -> [Bool] {
        (0..<(width * height)).map { p in
            rects.contains { $0.x <= p % width && p % width < $0.maxX && $0.y <= p / width && p / width < $0.maxY }
        }
    }

    @Test func holesFarApartGetWindowsOfTheirOwnAndCloseOnesMerge() {
        let w = 40, h = 30
        let far = rectangle(width: w, height: h, [PixelRect(x: 2, y: 2, width: 3, height: 2), PixelRect(x: 30, y: 20, width: 4, height: 4)])
        #expect(CompletionWindows.plan(occluded: far, width: w, height: h, margin: 3) == [
            PixelRect(x: 0, y: 0, width: 8, height: 7), PixelRect(x: 27, y: 17, width: 10, height: 10),
        ])
        let close = rectangle(width: w, height: h, [PixelRect(x: 2, y: 2, width: 3, height: 2), PixelRect(x: 9, y: 3, width: 2, height: 2)])
        #expect(CompletionWindows.plan(occluded: close, width: w, height: h, margin: 3) == [PixelRect(x: 0, y: 0, width: 14, height: 8)])
        #expect(CompletionWindows.plan(occluded: far, width: w, height: h, margin: 100) == [PixelRect(x: 0, y: 0, width: w, height: h)])
        #expect(CompletionWindows.plan(occluded: [Bool](repeating: false, count: 12), width: 4, height: 3, margin: 2).isEmpty)
    }

    /// A margin that covers the whole image gives exactly the whole-image run.
    @Test func aMarginCoveringTheImageEqualsTheWholeImageRun() throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        let image = randomImage(width: 9, height: 7, channels: 3, seed: 2)
        let mask = rectangle(width: 9, height: 7, [PixelRect(x: 3, y: 3, width: 2, height: 2)])
        let whole = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 3, seed: 4, windowMargin: nil))
        let windowed = try Completer(model: model).complete(image, occluded: mask, options: CompletionOptions(samples: 3, seed: 4, windowMargin: 8))
        #expect(windowed.samples == whole.samples)
        #expect(windowed.report.evidence == whole.report.evidence)
        #expect(windowed.report.likelihoodScope == "image" && windowed.report.windows == nil)
    }

    /// Two holes far apart: each window is completed as a picture of its own (equal to
    /// completing its crop), everything outside the windows is untouched, the report
    /// sums the windows, and threads do not matter.
    @Test func twoWindowsAreCompletedOnTheirOwnAndStitched() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let w = 30, h = 20
        let image = randomImage(width: w, height: h, channels: 1, seed: 6)
        let holes = [PixelRect(x: 2, y: 2, width: 3, height: 3), PixelRect(x: 22, y: 12, width: 4, height: 3)]
        let mask = rectangle(width: w, height: h, holes)
        let options = CompletionOptions(samples: 4, seed: 9, threads: 1, windowMargin: 2)
        let result = try Completer(model: model).complete(image, occluded: mask, options: options)
        var two = options
        two.threads = 2
        #expect(try Completer(model: model).complete(image, occluded: mask, options: two).samples == result.samples)
        let windows = try #require(result.report.windows)
        #expect(windows.map(\.rect) == [PixelRect(x: 0, y: 0, width: 7, height: 7), PixelRect(x: 20, y: 10, width: 8, height: 7)])
        #expect(result.report.likelihoodScope == "windows")
        #expect(result.selectedIndex == 0 && result.samples.count == 4)
        for sample in result.samples {
            for p in 0..<(w * h) where !mask[p] { #expect(sample.pixels[p] == image.pixels[p]) }
        }
        // Window 0 alone, as the stitched result completed it.
        var windowOptions = options
        windowOptions.windowMargin = nil
        let rect = windows[0].rect
        let crop = Image(width: rect.width, height: rect.height, channels: 1,
                         pixels: Completer.crop(image.pixels, width: w, channels: 1, to: rect))
        let alone = try Completer(model: model).completeOriented(
            crop, occluded: Completer.crop(mask, width: w, channels: 1, to: rect), options: windowOptions, queuedSeconds: 0)
        #expect(Completer.crop(result.completed.pixels, width: w, channels: 1, to: rect) == alone.completed.pixels)
        #expect(isClose(windows[0].logPVisibleNats, alone.report.evidence.logPVisibleNats, relative: 1e-12))
        #expect(isClose(result.report.evidence.logPVisibleNats, windows.reduce(0) { $0 + $1.logPVisibleNats }, relative: 1e-12))
        #expect(isClose(result.report.samples.reduce(0) { $0 + $1.weight }, 1, relative: 1e-9))
    }
}
