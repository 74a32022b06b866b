import Glibc
import Testing
import TestSupport

/// `ganger run` and `ganger check` at startup: pull policies against the real daemon, and
/// configuration errors (exit 1, naming the key path).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GangerStartupTests {
    @Test func pullNever_withAMissingImage_exits2_namingTheImageAndTheDaemon() async throws {
        let instance = uniqueInstance("pullnever")
        let image = "ganger-missing-\(randomTag()):latest"
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "missing", image: image, pull: "never")])
        let (status, stdout, stderr) = try await onThread { () throws -> (ExitStatus, String, String) in
            try DockerCLI.requireEnvironment()
            let config = try ConfigFile(yaml)
            return try ganger(["run", "-c", config.path], timeout: .seconds(60))
        }
        let log = "--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains(image), "stderr does not name the image \(image)\n\(log)")
        #expect(stderr.contains(DockerCLI.daemonURL), "stderr does not name the daemon \(DockerCLI.daemonURL)\n\(log)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened although its startup check failed\n\(log)")
        await removeContainers(instance: instance)
    }

    @Test func pullMissing_withAPresentImage_startsAndServes() async throws {
        let instance = uniqueInstance("pullmissing")
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest", pull: "missing")])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { _, addresses in
            let address = try #require(addresses["echo"])
            let port = address.split(separator: ":").last.flatMap { Int($0) } ?? 0
            #expect(address.hasPrefix("127.0.0.1:") && port > 0, "listen line shows \(address), not the kernel's port")
            try await onThread { try echoSession(address, payload: Array("pull missing\n".utf8)) }
        }
    }

    /// A valid service with one line changed, and the key path the error must name.
    struct BadConfig: Sendable, CustomTestStringConvertible {
        let keyPath: String
        let line: String
        var testDescription: String { keyPath }

        static let all = [
            BadConfig(keyPath: "services[0].colour", line: "colour: red"),
            BadConfig(keyPath: "services[0].pull", line: "pull: sometimes"),
            BadConfig(keyPath: "services[0].ready.interval", line: "ready: {attempts: 5, interval: soon, timeout: 3s}"),
        ]
    }

    @Test(arguments: BadConfig.all)
    func badConfig_checkAndRunExit1_namingTheKeyPath(_ bad: BadConfig) async throws {
        let instance = uniqueInstance("badconfig")
        var service = ServiceYAML.echo()
        if bad.line.hasPrefix("pull:") { service.pull = "sometimes" } else { service.extra = [bad.line] }
        let yaml = gangerConfig(instance: instance, services: [service])
        let (check, run) = try await onThread { () throws -> ((ExitStatus, String, String), (ExitStatus, String, String)) in
            let config = try ConfigFile(yaml)
            return (try ganger(["check", "-c", config.path], timeout: .seconds(30)),
                    try ganger(["run", "-c", config.path], timeout: .seconds(30)))
        }
        #expect(check.0 == .exited(1), "check: \(check.0)\n\(check.2)")
        #expect(check.2.contains(bad.keyPath), "check's stderr does not name \(bad.keyPath):\n\(check.2)")
        #expect(run.0 == .exited(1), "run: \(run.0)\n\(run.2)")
        #expect(run.2.contains(bad.keyPath), "run's stderr does not name \(bad.keyPath):\n\(run.2)")
        #expect(GangerProcess.listenLines(run.1).isEmpty, "run listened with an invalid config:\n\(run.1)")
        let left = try await onThread { try DockerCLI.containers(instance: instance) }
        #expect(left.isEmpty, "an invalid config created containers: \(left)")
    }
}
