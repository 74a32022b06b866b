import Glibc
import Testing
import TestSupport

/// Two dockerds of this suite's own that also listen on plain TCP on loopback, standing in for
/// remote daemons: daemon K on `unix:///run/ganger-remote/dockerd-K.sock` and on a loopback port
/// chosen free when it starts (`GANGER_MULTI_TCP=auto`; recorded in
/// /run/ganger-remote/dockerd-K.tcp, read by `port(_:)`), with bridges ganger-rbK (10.223.K.1/24).
/// A set apart from `ExtraDaemons` (other dirs, bridges, subnets), so that `dockerd-multi.sh down`
/// of one does not stop the other. Brought up on first use (`scripts/dockerd-multi.sh up 2` with
/// the environment below), ganger-echo built on each; `scripts/test.sh` stops them at the end.
enum TCPDaemons {
    static let count = 2
    static let runDirectory = "/run/ganger-remote"
    static let environment = [
        "GANGER_RUN_DIR=\(runDirectory)", "GANGER_STATE_DIR=/var/lib/ganger-remote",
        "GANGER_LOG_DIR=/var/log/ganger-remote", "GANGER_MULTI_NET=10.223", "GANGER_MULTI_BRIDGE=ganger-rb",
        "GANGER_MULTI_TCP=auto",
    ]

    /// Daemon K's loopback TCP port, as `dockerd-multi.sh` recorded it when it started the daemon
    /// (a fixed port would collide with whatever else holds it on the machine). Throws when none is
    /// recorded: `requireEnvironment()` first.
    static func port(_ k: Int) throws -> Int {
        let path = "\(runDirectory)/dockerd-\(k).tcp"
        guard access(path, R_OK) == 0 else {
            throw HarnessError("tcp daemon \(k) has no recorded port (\(path)): not started (TCPDaemons.requireEnvironment)")
        }
        let text = try readFile(path)
        let prefix = "tcp://127.0.0.1:"
        guard text.hasPrefix(prefix), let port = Int(text.trimmingSuffix("\n").dropFirst(prefix.count)), (1...65535).contains(port) else {
            throw HarnessError("\(path): expected \(prefix)PORT, got '\(text)'")
        }
        return port
    }

    static func url(_ k: Int) throws -> String { "tcp://127.0.0.1:\(try port(k))" }

    /// `docker -H tcp://127.0.0.1:PORT ARGS` (bounded); throws unless it exits 0.
    @discardableResult
    static func docker(_ k: Int, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
        let url = try url(k)
        let result = try run(DockerCLI.path, ["-H", url] + arguments, timeout: timeout)
        guard result.status == .exited(0) else {
            throw HarnessError("docker -H \(url) \(arguments.joined(separator: " ")): \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    static func answers(_ k: Int) -> Bool {
        guard let url = try? url(k) else { return false }
        return (try? run(DockerCLI.path, ["-H", url, "version", "--format", "{{.Server.Version}}"], timeout: .seconds(10)).status) == .exited(0)
    }

    /// Starts the daemons unless both answer, and builds ganger-echo where it is missing (bounded).
    static func requireEnvironment() throws {
        if !(1...count).allSatisfy(answers) {
            let result = try run("/usr/bin/env", environment + [ExtraDaemons.packageRoot + "/scripts/dockerd-multi.sh", "up", "\(count)"],
                                 timeout: .seconds(150))
            guard result.status == .exited(0) else { throw HarnessError("dockerd-multi.sh up \(count) (tcp set): \(result.status)\n\(result.stderr)") }
        }
        for k in 1...count {
            let url = try url(k)
            let build = try run("/usr/bin/env", ["DOCKER_HOST=\(url)", ExtraDaemons.packageRoot + "/Examples/echo/build.sh"],
                                timeout: .seconds(120))
            guard build.status == .exited(0) else { throw HarnessError("ganger-echo on \(url): \(build.status)\n\(build.stderr)") }
        }
    }

    /// Ids of the containers of `instance` on daemon K; `all` includes stopped ones.
    static func containers(_ k: Int, instance: String, all: Bool = true) throws -> [String] {
        try docker(k, ["ps", "-q", "--no-trunc", "--filter", "label=ganger.instance=\(instance)"] + (all ? ["-a"] : []))
            .split(separator: "\n").map(String.init)
    }

    /// Force-removes the instance's containers on both daemons; returns what is left after.
    static func removeAll(instance: String) throws -> [String] {
        var left: [String] = []
        for k in 1...count where answers(k) {
            let ids = try containers(k, instance: instance)
            if !ids.isEmpty { try docker(k, ["rm", "-f", "-v"] + ids) }
            left += try containers(k, instance: instance).map { "tcp daemon \(k): \($0)" }
        }
        return left
    }

    /// Waits (bounded) until neither daemon holds a container of `instance`; returns what is left.
    static func waitForNone(instance: String, timeout: Duration) throws -> [String] {
        var left: [String] = []
        _ = try poll(timeout: timeout, interval: .milliseconds(200)) {
            left = try (1...count).flatMap { k in try containers(k, instance: instance).map { "tcp daemon \(k): \($0)" } }
            return left.isEmpty
        }
        return left
    }
}

/// `withGanger` over the tcp daemons: the instance's containers are swept on both.
func withTCPGanger<T: Sendable>(instance: String, yaml: String, services: [String] = ["echo"], environment: [String] = [],
                                _ body: (GangerProcess, [String: String]) async throws -> T) async throws -> T {
    try await withGangerScenario(instance: instance, yaml: yaml, services: services, environment: environment,
                                 prepare: { try TCPDaemons.requireEnvironment() },
                                 sweep: { try TCPDaemons.removeAll(instance: $0) }, body)
}
