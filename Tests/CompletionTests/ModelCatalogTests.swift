import Foundation
import Imaging
import Testing
import TestSupport
@testable import Completion
@testable import PixelRNN

@Suite struct ModelCatalogTests {
    /// Saves a small gray and a small colour model; returns their paths.
    func savedModels(in dir: TemporaryDirectory) throws -> (gray: String, colour: String) {
        let gray = try perturbedModel(channels: 1, levels: 256)
        gray.metadata["name"] = "tiny-gray"
        let colour = try perturbedModel(channels: 3, levels: 256)
        colour.metadata["name"] = "tiny-colour"
        let paths = (dir.url.path + "/gray.safetensors", dir.url.path + "/colour.safetensors")
        try gray.save(to: paths.0)
        try colour.save(to: paths.1)
        return paths
    }

    @Test func jobsGoToTheModelWithTheirChannelsOrTheOneTheyName() throws {
        let dir = try TemporaryDirectory()
        let (gray, colour) = try savedModels(in: dir)
        let catalog = try ModelCatalog.load([(nil, gray), (nil, colour)])
        #expect(catalog.models.map(\.name) == ["tiny-gray", "tiny-colour"])
        #expect(try catalog.model(forChannels: 1).name == "tiny-gray")
        #expect(try catalog.model(forChannels: 3).name == "tiny-colour")
        #expect(try catalog.model(forChannels: 3, named: "tiny-gray").name == "tiny-gray")
        #expect(throws: CompletionError.unknownModel(name: "nope", available: ["tiny-gray", "tiny-colour"])) {
            try catalog.model(forChannels: 1, named: "nope")
        }
        // Only a gray model: a colour image goes to it (and is converted by the completer).
        let grayOnly = try ModelCatalog.load([("g", gray)])
        let chosen = try grayOnly.model(forChannels: 3)
        #expect(chosen.name == "g")
        let image = randomImage(width: 5, height: 4, channels: 3, seed: 1)
        let result = try chosen.completer.complete(image, occluded: (0..<20).map { $0 >= 10 })
        #expect(result.report.image.channelConversion == "rgb_to_gray_bt601_luma")
        #expect(result.report.model.name == "g")
    }

    @Test func theDigestIsOfTheFileReadAndNamesAreUnique() throws {
        let dir = try TemporaryDirectory()
        let (gray, _) = try savedModels(in: dir)
        let loaded = try LoadedModel.load(path: gray)
        #expect(loaded.sha256 == (try SafetensorsFile.sha256(ofFileAt: gray)))
        #expect(loaded.identity.weightsSha256 == loaded.sha256)
        #expect(throws: ModelLoadError.self) { try ModelCatalog.load([("same", gray), ("same", gray)]) }
        #expect(throws: ModelLoadError.self) { try LoadedModel.load(path: dir.url.path + "/missing.safetensors") }
    }
}
