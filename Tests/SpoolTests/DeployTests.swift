import Foundation
@testable import Spool
import SystemPackage
import TestSupport
import Testing

/// The examples in `deploy/`: the Kubernetes manifests parse and say what docs/scaling.md
/// promises, the configurations load with the daemon's parser, and the systemd units verify.
struct DeployTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    /// Python 3 with the `yaml` module (Debian: python3-yaml), or `nil`.
    static let python: String? = {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: candidate)
            process.arguments = ["-c", "import yaml"]
            process.standardError = Pipe()
            process.standardOutput = Pipe()
            guard (try? process.run()) != nil else { continue }
            process.waitUntilExit()
            if process.terminationStatus == 0 { return candidate }
        }
        return nil
    }()

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, errors)
    }

    @Test(.enabled(if: python != nil, "needs python3 with the yaml module (Debian: python3-yaml) to parse the manifests"))
    func theKubernetesExampleParsesAndKeepsItsPromises() throws {
        let manifest = Self.deploy.appendingPathComponent("kubernetes/pixelrnnd.yaml")
        let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"
        let result = try Self.run(try #require(Self.python), ["-c", script, manifest.path])
        #expect(result.status == 0, "\(result.err)")
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [[String: Any]])
        func document(_ kind: String) -> [String: Any]? { documents.first { $0["kind"] as? String == kind } }
        let claim = try #require(document("PersistentVolumeClaim"))
        #expect(((claim["spec"] as? [String: Any])?["accessModes"] as? [String]) == ["ReadWriteMany"])
        let configMap = try #require(document("ConfigMap"))
        let text = try #require((configMap["data"] as? [String: Any])?["pixelrnnd.conf"] as? String)
        var configuration = DaemonConfiguration()
        try configuration.apply(text: text, origin: "ConfigMap pixelrnnd.conf")
        try configuration.validate()
        #expect(configuration.watch == .auto && configuration.spool.string == "/var/spool/pixelrnnd")
        let deployment = try #require(document("Deployment"))
        let spec = try #require(deployment["spec"] as? [String: Any])
        #expect((spec["replicas"] as? Int ?? 0) >= 2)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let grace = try #require(pod["terminationGracePeriodSeconds"] as? Int)
        #expect(Double(grace) > configuration.drainTimeout, "grace \(grace) s must exceed drain_timeout \(configuration.drainTimeout) s")
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let probe = try #require(container["readinessProbe"] as? [String: Any])
        let command = ((probe["exec"] as? [String: Any])?["command"] as? [String])?.joined(separator: " ") ?? ""
        #expect(command.contains(configuration.state.appending("status.json").string), "\(command)")
        let mounts = container["volumeMounts"] as? [[String: Any]] ?? []
        #expect(mounts.contains { $0["mountPath"] as? String == configuration.spool.string })
        #expect(mounts.contains { $0["mountPath"] as? String == configuration.state.string })
        let volumes = pod["volumes"] as? [[String: Any]] ?? []
        let spool = volumes.first { $0["name"] as? String == "spool" }
        #expect((spool?["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String
            == (claim["metadata"] as? [String: Any])?["name"] as? String)
        // The readiness probe's test, run on a real status file of this build.
        let h = try DaemonHarness()
        try h.start()
        defer { h.stop() }
        let status = try String(contentsOf: h.state.appendingPathComponent("status.json"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: "\"state\" *: *\"ready\"")
        #expect(pattern.firstMatch(in: status, range: NSRange(status.startIndex..., in: status)) != nil, "\(status)")
    }

    @Test func theFleetConfigurationLoads() throws {
        let text = try String(contentsOf: Self.deploy.appendingPathComponent("systemd/pixelrnnd-nfs.conf"), encoding: .utf8)
        var configuration = DaemonConfiguration()
        try configuration.apply(text: text, origin: "pixelrnnd-nfs.conf")
        try configuration.validate()
        #expect(configuration.watch == .auto && configuration.lease == 30 && configuration.leaseRenew == 5)
        #expect(configuration.prometheusTextfile != nil)
    }

    @Test(.enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func theSharedSpoolUnitsVerifyCleanly() throws {
        let directory = try TemporaryDirectory(prefix: "pixelrnnd-deploy-units")
        var paths: [String] = []
        for name in ["pixelrnnd.service", "var-spool-pixelrnnd.mount"] {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
            // Point ExecStart at a binary that exists here (the real one installs to /usr/bin).
            let copy = directory.url.appendingPathComponent(name)
            try text.replacingOccurrences(of: "/usr/bin/pixelrnnd", with: DaemonHarness.binary.path)
                .write(to: copy, atomically: true, encoding: .utf8)
            paths.append(copy.path)
            if name.hasSuffix(".service") {
                #expect(text.contains("RequiresMountsFor=/var/spool/pixelrnnd"))
                #expect(text.contains("Type=notify"))
            }
        }
        let result = try Self.run("/usr/bin/systemd-analyze", ["verify", "--man=no"] + paths)
        #expect(result.status == 0)
        #expect(result.err.isEmpty, "systemd-analyze verify: \(result.err)")
    }
}
