import Foundation
import Imaging
import Testing
@testable import Completion
import PixelRNN

/// report.json is written by `PrettyJSON`, byte for byte what Foundation's JSONEncoder
/// writes with the report's settings (`CompletionReport.encoder`).
@Suite struct ReportJSONTests {
    func foundation<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try CompletionReport.encoder.encode(value), as: UTF8.self)
    }

    func ours<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try PrettyJSON.encode(value), as: UTF8.self)
    }

    /// A real report, once with every optional member absent and once with all of them
    /// present (windows, adaptation, mask, model metadata, non-finite numbers).
    @Test func reportsAreWrittenAsJSONEncoderWritesThem() throws {
        let model = try perturbedModel(channels: 3, levels: 256, spread: 0.4)
        model.metadata = [
            "name": "test \"rgb\"\n", "training_data": "noise/ünïcode\t", "test_bpd": "5.0", "test_nll_nats": "312.0",
            "test_bpd_p01": "3.0", "test_bpd_p50": "5.0", "test_bpd_p99": "7.0", "proposal_temperature": "0.5",
        ]
        let identity = ModelIdentity(model: model, weightsSHA256: String(repeating: "ab", count: 32))
        let image = randomImage(width: 6, height: 5, channels: 3, seed: 4)
        let result = try Completer(model: model, identity: identity).complete(
            image, occluded: randomMask(count: 30, fraction: 0.3, seed: 5),
            options: CompletionOptions(samples: 3, seed: 9, temperature: 0.9), queuedSeconds: 1.5)
        var report = result.report
        #expect(try ours(report) == foundation(report))

        report.windows = [
            WindowSummary(rect: PixelRect(x: 1, y: 2, width: 3, height: 4), occludedPixels: 5, orientation: "bottom-up",
                          visibleSubPixelsAfterFirstOccluded: 7, logPVisibleNats: -12.25, exact: false,
                          effectiveSampleSize: 2.5, resamplingSteps: 1),
            WindowSummary(rect: PixelRect(x: 0, y: 0, width: 1, height: 1), occludedPixels: 0, orientation: "raster",
                          visibleSubPixelsAfterFirstOccluded: 0, logPVisibleNats: 0, exact: true,
                          effectiveSampleSize: nil, resamplingSteps: 0),
        ]
        report.likelihoodScope = "windows"
        report.adaptation = AdaptationSummary(
            adapted: true, reason: "a \\ reason\u{1}", stepsRequested: 100, steps: 99, seconds: 1e-7, cutByTimeLimit: true,
            cropSize: 10, trainingPositions: 1_000_000, heldOutCrops: 3, heldOutBitsPerDimBefore: 3.25,
            heldOutBitsPerDimAfter: 1e16)
        report.mask = MaskSummary(source: "shared_mask", name: "wm/ä.png", sha256: "00ff", anchor: "centre", width: 3, height: 4)
        report.evidence.effectiveSampleSize = .nan
        report.evidence.minEffectiveSampleSize = -.infinity
        report.model.testNllNats = .infinity
        report.samples[0].logPNats = -0.0
        report.timings.computeSeconds = 0.1 + 0.2
        #expect(try ours(report) == foundation(report))
    }

    struct Tricky: Codable {
        enum Kind: String, Codable { case first = "first/kind" }
        struct Empty: Codable {}
        var fooBarURL = 1
        var aBCDef = 2
        var x2Y = 3
        var _private = 4
        var already_snake = 5
        var ID = 6
        var a = 7
        var größeInMM = 8
        var numbers: [Double] = [1, 0.1, 1e20, 1e-7, 1e16, 1e15, 1.2345678901234568e+20, -0.0, 5e-324,
                                 .greatestFiniteMagnitude, 2.5, 1e21, 0.000123, 3e-5, -7, .pi]
        var float: Float = 0.1
        var integers: [Int64] = [.min, .max, 0, -1]
        var unsigned: UInt64 = .max
        var small: UInt8 = 255
        var text = "quote \" backslash \\ slash / newline \n tab \t bell \u{7} del \u{7f} é 漢 \u{2028} 🙂"
        var kind = Kind.first
        var empty: [Int] = []
        var emptyObject = Empty()
        var nested: [[Int]] = [[], [1, 2]]
        var absent: Int? = nil
        var present: Bool? = false
        var metadata: [String: Int] = ["fooBar": 1, "b_c": 2, "Zeta": 3]  // a dictionary's keys stay as they are
        var byNumber: [Int: String] = [10: "ten", 2: "two"]
        var nestedKeys: [[String: Double]] = [["camelCase": 0.5]]
    }

    /// Nested containers asked for twice under one key, and a superclass's encoder.
    struct Handwritten: Encodable {
        enum Keys: String, CodingKey { case inner, list }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var first = container.nestedContainer(keyedBy: Keys.self, forKey: .inner)
            try first.encode(1, forKey: .list)
            var again = container.nestedContainer(keyedBy: Keys.self, forKey: .inner)
            try again.encode("x", forKey: .inner)
            var list = container.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            var more = container.nestedUnkeyedContainer(forKey: .list)
            try more.encode(2)
            var single = container.superEncoder().singleValueContainer()
            try single.encode(true)
        }
    }

    @Test func keysNumbersAndStringsAreWrittenAsJSONEncoderWritesThem() throws {
        #expect(try ours(Tricky()) == foundation(Tricky()))
        #expect(try ours([Tricky(), Tricky()]) == foundation([Tricky(), Tricky()]))
        #expect(try ours(Tricky.Empty()) == foundation(Tricky.Empty()))
        #expect(try ours(Handwritten()) == foundation(Handwritten()))
    }

    @Test func datesAreRefused() {
        struct Dated: Encodable { var when = Date(timeIntervalSince1970: 0) }
        #expect(throws: EncodingError.self) { try PrettyJSON.encode(Dated()) }
    }
}
