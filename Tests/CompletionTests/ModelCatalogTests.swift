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

    /// A model file may name its proposal temperature; a missing or unusable value means 1,
    /// and the completion uses whatever temperature its options carry.
    @Test(arguments: [("0.5", 0.5), ("2", 2.0), (nil, 1.0), ("0", 1.0), ("-1", 1.0), ("nan", 1.0), ("warm", 1.0), ("1000", 1.0)])
    func theModelFileMayNameItsProposalTemperature(value: String?, expected: Double) throws {
        let dir = try TemporaryDirectory()
        let model = try perturbedModel(channels: 1, levels: 256)
        model.metadata["proposal_temperature"] = value
        let path = dir.url.path + "/model.safetensors"
        try model.save(to: path)
        let completer = try LoadedModel.load(path: path).completer
        #expect(completer.defaultTemperature == expected)
        let image = randomImage(width: 5, height: 4, channels: 1, seed: 2)
        let options = CompletionOptions(samples: 2, seed: 3, temperature: completer.defaultTemperature)
        let report = try completer.complete(image, occluded: (0..<20).map { $0 >= 12 }, options: options).report
        #expect(report.sampling.temperature == expected)
        #expect(report.model.proposalTemperature == (expected == 1 ? nil : expected))
    }
}
