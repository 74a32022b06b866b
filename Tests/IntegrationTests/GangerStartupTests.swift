import Glibc
import Testing
import TestSupport

/// `ganger run` and `ganger check` at startup: pull policies against the real daemon, and
/// configuration errors (exit 1, naming the key path).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GangerStartupTests {
    /// `ganger run -c` on `yaml`, to its exit: the status, its output, and both for a message.
    private func runToExit(_ yaml: String) async throws -> (ExitStatus, String, String, String) {
        let (status, stdout, stderr) = try await onThread { () throws -> (ExitStatus, String, String) in
            try DockerCLI.requireEnvironment()
            let config = try ConfigFile(yaml)
            return try ganger(["run", "-c", config.path], timeout: .seconds(60))
        }
        return (status, stdout, stderr, "--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)")
    }

    @Test func pullNever_withAMissingImage_exits2_namingTheImageAndTheDaemon() async throws {
        let instance = uniqueInstance("pullnever")
        let image = "ganger-missing-\(randomTag()):latest"
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "missing", image: image, pull: "never")])
        let (status, stdout, stderr, log) = try await runToExit(yaml)
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains(image), "stderr does not name the image \(image)\n\(log)")
        #expect(stderr.contains(DockerCLI.daemonURL), "stderr does not name the daemon \(DockerCLI.daemonURL)\n\(log)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened although its startup check failed\n\(log)")
        await removeContainers(instance: instance)
    }

    /// A service on a network the daemon lacks: exit 2 before listening, naming the network,
    /// the service, the daemon and the command that makes it; nothing of the instance left.
    /// Before, Ganger listened, every create failed (`network … not found`), and the clients
    /// waited out the queue while the launch breaker held the service off.
    @Test func aNetworkTheDaemonLacks_exits2_namingItAndHowToCreateIt() async throws {
        let instance = uniqueInstance("nonet")
        let network = "itest-missing-\(randomTag())"
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["network: \(network)"])])
        let (status, stdout, stderr, log) = try await runToExit(yaml)
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains("network \(network) (service echo) not found on daemon \(DockerCLI.daemonURL)")
                && stderr.contains("docker network create \(network)"), "\(log)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened although its network is missing\n\(log)")
        let left = try await onThread { try DockerCLI.containers(instance: instance) + DockerCLI.containers(labels: ["ganger.lease=\(instance)"]) }
        #expect(left.isEmpty, "left after the exit: \(left)")
        await removeContainers(instance: instance)
    }

    /// A pull that stops making progress: a registry that holds a download leaves dockerd
    /// silent (measured by hand: a blob cut after 64 KiB and held kept `docker pull` silent for
    /// 5 minutes). Played here by a `FaultProxy` in front of the real daemon that passes the
    /// pull's first progress line and then nothing, with the image in a registry of the test's
    /// own. The startup gives up after `pull_progress_timeout` (2 s) and exits 2 saying so,
    /// not after `pull_timeout` (2 minutes); before, it waited all of `pull_timeout`.
    @Test func aPullThatStopsMakingProgress_exits2_afterItsProgressTimeout() async throws {
        let instance = uniqueInstance("pullstall")
        let registry = try await onThread { try TestRegistry() }
        defer { registry.stop() }
        let reference = try await onThread { try registry.push("ganger-echo:latest", as: instance) }
        defer { _ = try? DockerCLI.docker(["rmi", reference]) }
        let proxy = try FaultProxy(rules: [.init("POST", "/images/create", .stallAfterFirstChunk)])
        defer { proxy.stop() }
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: reference, pull: "missing")],
                                daemonURL: proxy.url, extra: ["pull_timeout: 2m", "pull_progress_timeout: 2s"])
        let start = ContinuousClock.now
        let (status, stdout, stderr, log) = try await runToExit(yaml)
        let elapsed = ContinuousClock.now - start
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains("cannot pull image \(reference)") && stderr.contains("no progress for 2s (pull_progress_timeout)"), "\(log)")
        #expect(elapsed < .seconds(30), "exited after \(elapsed)\n\(log)")
        #expect(proxy.calls("POST", "/images/create") == 1, "\(proxy.history)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened although its image could not be pulled\n\(log)")
        await removeContainers(instance: instance)
    }

    /// The usual first run: a user the Docker socket refuses. Exit 2, naming the daemon, the
    /// error, and what to do about it.
    @Test func aUserTheDockerSocketRefuses_exits2_sayingWhyAndWhatToDo() async throws {
        let instance = uniqueInstance("denied")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        let (status, stdout, stderr) = try await onThread { () throws -> (ExitStatus, String, String) in
            try DockerCLI.requireEnvironment()
            let config = try ConfigFile(yaml)
            // The binary next to the file, both reachable by nobody whatever the checkout's path
            // allows (a checkout under a root-only directory, say).
            chmod(config.directory, 0o755)
            let binary = config.directory + "/ganger"
            try run("/bin/cp", [gangerBinary, binary])
            defer { unlink(binary) }
            return try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "run", "-c", config.path],
                           timeout: .seconds(60))
        }
        let log = "--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains("no Docker daemon answers: \(DockerCLI.daemonURL) (") && stderr.contains("Permission denied"), "\(log)")
        #expect(stderr.contains("a member of the group that owns the socket (usually docker)"), "\(log)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened without a daemon\n\(log)")
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

    /// A takeover hands a fat stream's buffered bytes over in one pipe; without CAP_SYS_RESOURCE
    /// (as under Docker's default capabilities) a pipe stops at fs.pipe-max-size. Before the
    /// check, such a Ganger served and then refused every takeover that met a full buffer
    /// ("write(pipe): Resource temporarily unavailable"); now it refuses to start, naming the
    /// key and the size it may use.
    @Test func largeBuffersBiggerThanAPipeMayBe_withoutCapSysResource_exit2_namingTheSizeAllowed() async throws {
        let instance = uniqueInstance("bigbuffer")
        let pipeMax = try #require(Int(try readFile("/proc/sys/fs/pipe-max-size").filter(\.isNumber)))
        let size = 2 * pipeMax
        try #require(size <= 64 << 20, "fs.pipe-max-size \(pipeMax) leaves no larger buffer to configure")
        let yaml = gangerConfig(instance: instance, services: [.echo()],
                                extra: ["relay: {large_buffers: 2, large_buffer_size: \(size)b}"])
        let (status, stdout, stderr) = try await onThread { () throws -> (ExitStatus, String, String) in
            try DockerCLI.requireEnvironment()
            let config = try ConfigFile(yaml)
            return try run("/usr/bin/setpriv", ["--bounding-set", "-sys_resource", gangerBinary, "run", "-c", config.path],
                           timeout: .seconds(60))
        }
        let log = "--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
        #expect(status == .exited(2), "\(status)\n\(log)")
        #expect(stderr.contains("relay.large_buffer_size"), "stderr does not name the key\n\(log)")
        #expect(stderr.contains("the kernel granted \(pipeMax)b") || stderr.contains("the kernel granted \(pipeMax >> 10)k")
                    || stderr.contains("the kernel granted \(pipeMax >> 20)m"), "stderr does not say what was granted\n\(log)")
        #expect(GangerProcess.listenLines(stdout).isEmpty, "listened although its buffers cannot be handed over\n\(log)")
        let left = try await onThread { try DockerCLI.containers(instance: instance) }
        #expect(left.isEmpty, "a refused start created containers: \(left)")
    }
}
