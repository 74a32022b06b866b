import Glibc
import Testing
import TestSupport

/// The extra dockerds of `scripts/dockerd-multi.sh up 2` (`make test` brings them up, with
/// ganger-echo built on each): daemon K on `unix:///run/ganger-test/dockerd-K.sock`.
enum ExtraDaemons {
    static let count = 2
    static let runDirectory = "/run/ganger-test"

    static func url(_ k: Int) -> String { "unix://\(runDirectory)/dockerd-\(k).sock" }

    /// The package root (for scripts/), from this file's place in it.
    static let packageRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)  // Tests/IntegrationTests/Support/ExtraDaemons.swift
        return parts.joined(separator: "/")
    }()

    /// `docker -H <daemon K> ARGS` (bounded); throws unless it exits 0.
    @discardableResult
    static func docker(_ k: Int, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
        let result = try run(DockerCLI.path, ["-H", url(k)] + arguments, timeout: timeout)
        guard result.status == .exited(0) else {
            throw HarnessError("docker -H \(url(k)) \(arguments.joined(separator: " ")): \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    /// Ids of the containers on daemon K carrying all `labels`; `all` includes stopped ones.
    static func containers(_ k: Int, labels: [String], all: Bool = true) throws -> [String] {
        let filters = labels.flatMap { ["--filter", "label=\($0)"] }
        return try docker(k, ["ps", "-q", "--no-trunc"] + (all ? ["-a"] : []) + filters)
            .split(separator: "\n").map(String.init)
    }

    static func containers(_ k: Int, instance: String, all: Bool = true) throws -> [String] {
        try containers(k, labels: ["ganger.instance=\(instance)"], all: all)
    }

    /// How many containers of `instance` run on daemon 1 and on daemon 2.
    static func running(instance: String) throws -> [Int] {
        try (1...2).map { try containers($0, instance: instance, all: false).count }
    }

    /// Whether daemon K answers `/_ping` (bounded by a short timeout).
    static func answers(_ k: Int) -> Bool {
        (try? run(DockerCLI.path, ["-H", url(k), "version", "--format", "{{.Server.Version}}"], timeout: .seconds(10)).status) == .exited(0)
    }

    /// Throws with what to do unless every extra daemon answers and has ganger-echo.
    static func requireEnvironment() throws {
        for k in 1...count {
            guard answers(k) else {
                throw HarnessError("extra dockerd \(k) does not answer on \(url(k)) (make test brings it up; by hand: "
                    + "scripts/dockerd-multi.sh up \(count) and Examples/echo/build.sh with DOCKER_HOST=\(url(k)))")
            }
            let image = try run(DockerCLI.path, ["-H", url(k), "image", "inspect", "ganger-echo:latest"], timeout: .seconds(30))
            guard image.status == .exited(0) else {
                throw HarnessError("ganger-echo:latest missing on \(url(k)) (DOCKER_HOST=\(url(k)) Examples/echo/build.sh)")
            }
        }
    }

    /// The dockerd pid of daemon K from its pidfile.
    static func pid(_ k: Int) throws -> pid_t {
        let path = "\(runDirectory)/dockerd-\(k).pid"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buffer, buffer.count)
        let text = String(decoding: buffer[0..<max(n, 0)], as: UTF8.self).trimmingSuffix("\n")
        guard let pid = pid_t(text), pid > 1 else { throw HarnessError("\(path) holds '\(text)'") }
        return pid
    }

    /// `scripts/dockerd-multi.sh up N`: starts the daemons that do not answer (bounded).
    static func up() throws {
        let result = try run(packageRoot + "/scripts/dockerd-multi.sh", ["up", "\(count)"], timeout: .seconds(120))
        guard result.status == .exited(0) else { throw HarnessError("dockerd-multi.sh up \(count): \(result.status)\n\(result.stderr)") }
        try ensureDefaultBridge()
    }

    /// The default daemon's docker0 has vanished under it on this workplace (docs/testing.md);
    /// every container start then fails. `scripts/docker-up.sh` restarts the dockerd it started,
    /// which recreates docker0 as its own (a bridge made by hand is not: dockerd lost it again
    /// under load when tried).
    static func ensureDefaultBridge() throws {
        guard try run("/sbin/ip", ["link", "show", "docker0"], timeout: .seconds(10)).status != .exited(0) else { return }
        print("ExtraDaemons: docker0 is missing; restarting the default dockerd (docs/testing.md)")
        let result = try run(packageRoot + "/scripts/docker-up.sh", [], timeout: .seconds(120))
        guard result.status == .exited(0) else { throw HarnessError("docker-up.sh: \(result.status)\n\(result.stderr)") }
    }

    /// Force-removes every container of `instance` on every extra daemon and the default one;
    /// returns what is still there afterwards (empty on success).
    static func removeAll(instance: String) throws -> [String] {
        var left: [String] = []
        for k in 1...count where answers(k) {
            let ids = try containers(k, instance: instance)
            if !ids.isEmpty { try docker(k, ["rm", "-f", "-v"] + ids) }
            left += try containers(k, instance: instance).map { "daemon \(k): \($0)" }
        }
        try DockerCLI.removeAll(instance: instance)
        left += try DockerCLI.containers(instance: instance).map { "default daemon: \($0)" }
        return left
    }

    /// Waits (bounded) until no daemon holds a container of `instance`; returns what is left.
    static func waitForNone(instance: String, timeout: Duration) throws -> [String] {
        var left: [String] = []
        _ = try poll(timeout: timeout, interval: .milliseconds(200)) {
            left = []
            for k in 1...count { left += try containers(k, instance: instance).map { "daemon \(k): \($0)" } }
            return left.isEmpty
        }
        return left
    }
}

/// A configuration over the extra daemons, `capacities[k-1]` for daemon K, loopback only.
func multiDaemonConfig(instance: String, capacities: [Int], service: ServiceYAML, shutdownGrace: String = "2s") -> String {
    (["instance: \(instance)", "daemons:"] + capacities.enumerated().flatMap { index, cap in
        ["  - url: \(ExtraDaemons.url(index + 1))", "    max_containers: \(cap)"]
    } + ["services:", service.yaml] + [
        "status: {listen: 127.0.0.1:0}",
        "docker_timeout: 30s",
        "shutdown_grace: \(shutdownGrace)",
        "log: {level: debug, format: text}",
    ]).joined(separator: "\n") + "\n"
}

/// `withGanger` over the extra daemons: the instance's containers are swept on every one.
func withMultiGanger<T: Sendable>(instance: String, yaml: String, services: [String] = ["echo"],
                                  _ body: (GangerProcess, [String: String]) async throws -> T) async throws -> T {
    try await withGangerScenario(instance: instance, yaml: yaml, services: services,
                                 prepare: { try ExtraDaemons.requireEnvironment() },
                                 sweep: { try ExtraDaemons.removeAll(instance: $0) }, body)
}

/// Clients held open across several `onThread` calls; touched by one thread at a time.
final class HeldClients: @unchecked Sendable {
    var clients: [Client] = []
    /// Opens `count` sessions through `address` one after another, each held once it echoed
    /// (`openEchoingClient`, tagged "`tag` i").
    func openEchoing(_ count: Int, _ address: String, tag: String) throws {
        for i in 0..<count { clients.append(try openEchoingClient(address, tag: "\(tag) \(i)")) }
    }
    func closeAll() {
        for client in clients { client.close() }
        clients.removeAll()
    }
}

/// Opens a session through `address` and waits for its echo: the container serves it now.
func openEchoingClient(_ address: String, tag: String, timeout: Duration = .seconds(30)) throws -> Client {
    let client = try Client(address)
    let line = Array("\(tag)\n".utf8)
    try client.sendAll(line)
    let back = try client.receive(count: line.count, timeout: timeout)
    guard back == line else { throw HarnessError("\(tag): echo differs") }
    return client
}

/// Sends `bytes` random bytes through each client and expects them back intact (bounded).
func echoBulk(_ clients: [Client], bytes: Int, through what: String) throws {
    for client in clients {
        let payload = randomBytes(bytes)
        try client.sendAll(payload)
        guard try client.receive(count: payload.count, timeout: .seconds(30)) == payload else {
            throw HarnessError("\(bytes >> 10) KiB echo through \(what) differs")
        }
    }
}

/// Reads until EOF, RST or `timeout`; how it ended and after how long.
func timeToClose(_ client: Client, timeout: Duration) throws -> (end: Client.End, after: Duration, bytes: Int) {
    let start = ContinuousClock.now
    let (bytes, end) = try client.receiveAll(timeout: timeout)
    return (end, ContinuousClock.now - start, bytes.count)
}
