// What this machine's CPU can do, for honest benchmark figures.

import CMachine
import Dispatch
import Foundation

/// The CPU: its vector features, float32 FLOP per cycle per core, and a clock measured
/// under load.
///
/// FLOP per cycle per core (fused multiply-add counts 2), by what the core executes:
///
/// | CPU | FLOP/cycle |
/// | --- | --- |
/// | AVX-512 on full-width units: AMD Zen 5 (family 26), Intel server cores with two 512-bit FMA units | 64 |
/// | AVX-512 instructions on 256-bit units: AMD Zen 4 (family 25, models 0x10–0x1f, 0x60–0x7f, 0xa0–0xaf) | 32 |
/// | AVX2 + FMA, two 256-bit FMA units: Intel Haswell and later, AMD Zen 2 and Zen 3 | 32 |
/// | AVX2 + FMA on 128-bit units: AMD Zen 1 / Zen+ (family 23, models below 0x30) | 16 |
/// | AVX without FMA | 16 |
/// | SSE only | 8 |
///
/// Intel client cores with AVX-512 (Ice Lake, Tiger Lake) have one 512-bit FMA unit,
/// so 32; they are recognised by their model numbers where known, otherwise an Intel core
/// with AVX-512 counts 64 and ``floatOpsPerCycleReason`` says so.
public struct Machine: Sendable {
    /// `vendor_id` of /proc/cpuinfo (`AuthenticAMD`, `GenuineIntel`…).
    public var vendor: String
    /// `model name`.
    public var modelName: String
    /// `cpu family` and `model`.
    public var family: Int
    public var model: Int
    /// Online logical cores.
    public var cores: Int
    public var hasAVX2: Bool
    public var hasFMA: Bool
    public var hasAVX512: Bool

    /// Reads /proc/cpuinfo.
    public static func current() -> Machine {
        var machine = Machine(vendor: "?", modelName: "?", family: 0, model: 0,
                              cores: ProcessInfo.processInfo.activeProcessorCount,
                              hasAVX2: false, hasFMA: false, hasAVX512: false)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return machine }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "vendor_id": machine.vendor = parts[1]
            case "model name": machine.modelName = parts[1]
            case "cpu family": machine.family = Int(parts[1]) ?? 0
            case "model": machine.model = Int(parts[1]) ?? 0
            case "flags":
                let flags = Set(parts[1].split(separator: " "))
                machine.hasAVX2 = flags.contains("avx2")
                machine.hasFMA = flags.contains("fma")
                machine.hasAVX512 = flags.contains("avx512f")
            default: break
            }
            if machine.family != 0 && line.hasPrefix("flags") { break }  // the first core is enough
        }
        return machine
    }

    /// Float32 FLOP per cycle per core (see the table above) and why.
    public var floatOpsPerCycle: (flops: Int, reason: String) {
        let amd = vendor == "AuthenticAMD", intel = vendor == "GenuineIntel"
        if hasAVX512 {
            if amd && family >= 26 { return (64, "AVX-512 on full-width units (AMD Zen 5)") }
            if amd && family == 25 { return (32, "AVX-512 instructions on 256-bit units (AMD Zen 4)") }
            if intel && [0x7D, 0x7E, 0x8C, 0x8D, 0xA7].contains(model) {
                return (32, "AVX-512 on one 512-bit FMA unit (Intel client core)")
            }
            return (64, "AVX-512, assumed two 512-bit FMA units")
        }
        if hasAVX2 && hasFMA {
            if amd && family == 23 && model < 0x30 { return (16, "AVX2 + FMA on 128-bit units (AMD Zen 1)") }
            return (32, "AVX2 + FMA, two 256-bit FMA units")
        }
        return (16, "no FMA: AVX at best")
    }

    /// The clock in GHz while every core is busy: each core runs a timed chain of
    /// dependent integer adds (one per cycle) at the same time; the mean of the cores.
    /// - Parameter seconds: roughly how long each core runs the chain.
    public static func measureLoadedClockGHz(seconds: Double = 0.5) -> Double {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Calibrate the iteration count on one short run.
        let probe: UInt64 = 1 << 20
        let probeSeconds = max(1e-6, CMachine_dependent_add_seconds(probe))
        let iterations = UInt64(Double(probe) * seconds / probeSeconds)
        let results = UnsafeMutablePointer<Double>.allocate(capacity: cores)
        defer { results.deallocate() }
        nonisolated(unsafe) let out = results
        DispatchQueue.concurrentPerform(iterations: cores) { core in
            let elapsed = CMachine_dependent_add_seconds(iterations)
            out[core] = Double(iterations * 16) / elapsed / 1e9
        }
        return (0..<cores).reduce(0.0) { $0 + results[$1] } / Double(cores)
    }
}
