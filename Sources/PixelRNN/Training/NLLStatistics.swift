import Foundation

/// Summary of per-image negative log-likelihoods: mean and percentiles of bits/dim.
public struct NLLStatistics: Sendable {
    /// Mean NLL per image, nats.
    public var meanNats: Double
    /// Mean bits per sub-pixel.
    public var meanBitsPerDim: Double
    /// (percentile, bits/dim) for 1, 5, 25, 50, 75, 95, 99.
    public var percentiles: [(Int, Double)]

    /// Percentiles recorded in model metadata (used for the report's typicality figure).
    public static let percentilePoints = [1, 5, 25, 50, 75, 95, 99]

    /// - Parameters:
    ///   - imageNLL: nats per image.
    ///   - dimensions: sub-pixels per image (H·W·C).
    public init(imageNLL: [Double], dimensions: Int) {
        let bpd = imageNLL.map { $0 / Double(dimensions) / log(2) }.sorted()
        meanNats = imageNLL.reduce(0, +) / Double(max(1, imageNLL.count))
        meanBitsPerDim = meanNats / Double(dimensions) / log(2)
        percentiles = NLLStatistics.percentilePoints.map { p in
            guard !bpd.isEmpty else { return (p, .nan) }
            let position = Double(p) / 100 * Double(bpd.count - 1)
            let lo = Int(position.rounded(.down)), hi = min(bpd.count - 1, lo + 1)
            let t = position - Double(lo)
            return (p, bpd[lo] * (1 - t) + bpd[hi] * t)
        }
    }

    /// Metadata entries: `PREFIX_nll_nats`, `PREFIX_bpd`, `PREFIX_bpd_p01` … `PREFIX_bpd_p99`.
    public func metadata(prefix: String) -> [String: String] {
        var out = [
            "\(prefix)_nll_nats": String(format: "%.3f", meanNats),
            "\(prefix)_bpd": String(format: "%.4f", meanBitsPerDim),
        ]
        for (p, v) in percentiles { out[String(format: "%@_bpd_p%02d", prefix, p)] = String(format: "%.4f", v) }
        return out
    }
}
