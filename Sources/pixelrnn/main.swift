import Foundation
import PixelRNN
import Imaging

// Temporary timing harness.
BLAS.setThreads(1)
let model = try PixelRNN(configuration: .benchRow)
let hgt = 28, wid = 28
var pixels = [UInt8](repeating: 0, count: 64 * hgt * wid)
for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
let workers = Int(CommandLine.arguments.dropFirst().first ?? "2")!
let trainer = Trainer(model: model, batchSize: 16, workers: workers, optimizer: AdamConfiguration())
var t0 = Date()
var steps = 0
pixels.withUnsafeBufferPointer { p in
    _ = trainer.trainStep(pixels: p.baseAddress!, count: 16, height: hgt, width: wid)
    t0 = Date()
    while Date().timeIntervalSince(t0) < 5 {
        _ = trainer.trainStep(pixels: p.baseAddress!, count: 16, height: hgt, width: wid)
        steps += 1
    }
}
let dt = Date().timeIntervalSince(t0)
let macs = 183e6
print("train: \(Double(steps * 16) / dt) img/s, GFLOP/s \(Double(steps * 16) * macs * 6 / dt / 1e9)")
t0 = Date()
var evals = 0
while Date().timeIntervalSince(t0) < 5 {
    _ = try model.negativeLogLikelihoods(of: pixels, count: 64, height: hgt, width: wid, workers: workers)
    evals += 1
}
let dt2 = Date().timeIntervalSince(t0)
print("eval: \(Double(evals * 64) / dt2) img/s, GFLOP/s \(Double(evals * 64) * macs * 2 / dt2 / 1e9)")
