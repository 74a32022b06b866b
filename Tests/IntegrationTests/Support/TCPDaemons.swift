import Glibc
import Testing
import TestSupport

/// Two dockerds of this suite's own that also listen on plain TCP on loopback, standing in for
/// remote daemons: daemon K on `unix:///run/ganger-remote/dockerd-K.sock` and
/// `tcp://127.0.0.1:(23750+K)`, with bridges ganger-rbK (10.223.K.1/24). A set apart from
/// `ExtraDaemons` (other dirs, bridges, subnets), so that `dockerd-multi.sh down` of one does
/// not stop the other. Brought up on first use (`scripts/dockerd-multi.sh up 2` with the
/// environment below), ganger-echo built on each; `scripts/test.sh` stops them at the end.
enum TCPDaemons {
    static let count = 2
    static let portBase = 23750
    static let environment = [
        "GANGER_RUN_DIR=/run/ganger-remote", "GANGER_STATE_DIR=/var/lib/ganger-remote",
        "GANGER_LOG_DIR=/var/log/ganger-remote", "GANGER_MULTI_NET=10.223", "GANGER_MULTI_BRIDGE=ganger-rb",
        "GANGER_MULTI_TCP=\(portBase)",
    ]

    static func url(_ k: Int) -> String { "tcp://127.0.0.1:\(portBase + k)" }

    /// `docker -H tcp://127.0.0.1:PORT ARGS` (bounded); throws unless it exits 0.
    @discardableResult
    static func docker(_ k: Int, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
        let result = try run(DockerCLI.path, ["-H", url(k)] + arguments, timeout: timeout)
        guard result.status == .exited(0) else {
            throw HarnessError("docker -H \(url(k)) \(arguments.joined(separator: " ")): \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    static func answers(_ k: Int) -> Bool {
        (try? run(DockerCLI.path, ["-H", url(k), "version", "--format", "{{.Server.Version}}"], timeout: .seconds(10)).status) == .exited(0)
    }

    /// Starts the daemons unless both answer, and builds ganger-echo where it is missing (bounded).
    static func requireEnvironment() throws {
        if !(1...count).allSatisfy(answers) {
            let result = try run("/usr/bin/env", environment + [ExtraDaemons.packageRoot + "/scripts/dockerd-multi.sh", "up", "\(count)"],
                                 timeout: .seconds(150))
            guard result.status == .exited(0) else { throw HarnessError("dockerd-multi.sh up \(count) (tcp set): \(result.status)\n\(result.stderr)") }
        }
        for k in 1...count {
            let build = try run("/usr/bin/env", ["DOCKER_HOST=\(url(k))", ExtraDaemons.packageRoot + "/Examples/echo/build.sh"],
                                timeout: .seconds(120))
            guard build.status == .exited(0) else { throw HarnessError("ganger-echo on \(url(k)): \(build.status)\n\(build.stderr)") }
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

/// `withGanger` over the tcp daemons: a bounded start; a teardown (also on failure) that stops
/// ganger, force-removes the instance's containers on both daemons and expects none left.
func withTCPGanger<T: Sendable>(instance: String, yaml: String, services: [String] = ["echo"], environment: [String] = [],
                                _ body: (GangerProcess, [String: String]) async throws -> T) async throws -> T {
    try await onThread { try TCPDaemons.requireEnvironment() }
    let ganger = try await onThread { try GangerProcess(instance: instance, yaml: yaml, environment: environment) }
    func stop() async {
        let outcome = await attempt { try await onThread { () throws -> [String] in
            if !ganger.hasExited { _ = try? ganger.terminate(signal: SIGTERM, timeout: .seconds(15)) }
            return try TCPDaemons.removeAll(instance: instance)
        } }
        switch outcome {
        case let .success(left): #expect(left.isEmpty, "teardown: containers of \(instance) still there: \(left)")
        case let .failure(error): Issue.record("teardown of \(instance): \(error)")
        }
    }
    do {
        let addresses = try await onThread { try ganger.waitUntilListening(services) }
        let result = try await body(ganger, addresses)
        await stop()
        return result
    } catch {
        await stop()
        if "\(error)".contains("--- stderr ---") { throw error }
        throw HarnessError("\(error)\n\(ganger.log)")
    }
}
