import Foundation
import Imaging
import Testing
import TestSupport
@testable import Completion

@Suite struct JobStagesBenchmarkTests {
    /// Every stage is timed (a positive time), the folder is written and removed again.
    @Test func everyStageIsTimedAndTheFolderRemoved() throws {
        let model = try perturbedModel(channels: 1, levels: 256, spread: 0.4)
        let image = randomImage(width: 12, height: 10, channels: 1, seed: 3)
        let mask = Mask(width: 12, height: 10, occluded: (0..<120).map { $0 >= 60 })
        let folder = try TemporaryDirectory()
        let path = folder.url.appendingPathComponent("job").path
        let stages = try JobStagesBenchmark.run(completer: Completer(model: model), image: image, mask: mask, folder: path, seconds: 0.01)
        #expect(stages.count == 6)
        #expect(stages.allSatisfy { $0.milliseconds > 0 && $0.milliseconds.isFinite })
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
