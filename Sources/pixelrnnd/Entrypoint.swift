import ArgumentParser
import Foundation
import Logging
import Spool
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `pixelrnnd`: flags, logging, the processor loader; everything else lives in `Spool`.
@main
struct Entrypoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pixelrnnd",
        abstract: "Fills occluded image regions dropped into a spool folder.",
        discussion: "Settings come from the configuration file (see docs/daemon.md); flags override it.",
        version: Daemon.version)

    /// Which job processor the daemon runs.
    enum ProcessorKind: String, ExpressibleByArgument, CaseIterable {
        /// Completion with the PixelRNN (the product).
        case pixelrnn
        /// Test and diagnostic mode: checks inputs and publishes the image unchanged.
        case validate
    }

    @Option(help: "Configuration file (key = value lines).")
    var config: String?

    @Option(help: "Spool root holding inbox/, work/, outbox/ and failed/.")
    var spool: String?

    @Option(help: "Folder for status.json.")
    var state: String?

    @Option(help: "Model file (safetensors); empty = embedded default model.")
    var model: String?

    @Option(help: "Jobs processed at the same time.")
    var workers: Int?

    @Option(help: "Job processor: 'pixelrnn' completes images; 'validate' only checks inputs and copies the image (a test and diagnostic mode).")
    var processor: ProcessorKind = .pixelrnn

    @Option(help: .hidden)
    var debugJobDelayMs: Int = 0

    @Option(help: .hidden)
    var debugReloadDelayMs: Int = 0

    @Option(help: .hidden)
    var debugClaimPauseMs: Int = 0

    @Option(help: .hidden)
    var debugCrashOn: String = ""

    @Option(help: .hidden)
    var debugPublishPauseMs: Int = 0

    @Option(help: "Measure what one poll of the inbox costs (listing and planning, claiming nothing), N times, print the figures and exit.")
    var measureInboxListing: Int?

    func run() throws {
        // libinotifytools first, so that its descriptor is small (it uses select()).
        let watcher = try InotifyWatcher.initialize()
        LoggingSystem.bootstrap { label in
            var handler = KeyValueLogHandler(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "pixelrnnd")
        try FaultInjection.configureFromEnvironment(logger: logger)
        var overrides: [(String, String)] = []
        if let spool { overrides.append(("spool", spool)) }
        if let state { overrides.append(("state", state)) }
        if let model { overrides.append(("model", model)) }
        if let workers { overrides.append(("workers", String(workers))) }
        let file = config.map { FilePath($0) }
        var configuration = try DaemonConfiguration.load(file: file, overrides: overrides)
        configuration.debugJobDelayMilliseconds = max(0, debugJobDelayMs)
        configuration.debugReloadDelayMilliseconds = max(0, debugReloadDelayMs)
        configuration.debugClaimPauseMilliseconds = max(0, debugClaimPauseMs)
        configuration.debugCrashJobName = debugCrashOn
        configuration.debugPublishPauseMilliseconds = max(0, debugPublishPauseMs)
        if let repetitions = measureInboxListing {
            let (names, listing, planning) = try Daemon.measureInboxListing(configuration: configuration, repetitions: repetitions)
            func figures(_ seconds: [Double]) -> String {
                let sorted = seconds.sorted()
                let ms = { (x: Double) in String(format: "%.2f", x * 1000) }
                return "median \(ms(sorted[sorted.count / 2])) ms, min \(ms(sorted.first!)) ms, max \(ms(sorted.last!)) ms"
            }
            let total = zip(listing, planning).map { $0 + $1 }
            print("inbox \(configuration.spool.appending("inbox").string): \(names) names, \(total.count) polls")
            print("  listing (readdir + lstat each): \(figures(listing))")
            print("  planning:                       \(figures(planning))")
            print("  one poll:                       \(figures(total))")
            return
        }
        let loader: JobProcessorLoader
        switch processor {
        case .pixelrnn: loader = CompletionJobProcessor.loader
        case .validate: loader = ValidatingCopyProcessor.loader
        }
        let daemon = Daemon(configuration: configuration, configurationFile: file, overrides: overrides,
                            watcher: watcher, loader: loader, logger: logger)
        let status = try daemon.run()
        if status != 0 { throw ExitCode(status) }
    }
}
