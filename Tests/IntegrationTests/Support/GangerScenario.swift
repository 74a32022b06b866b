import Glibc
import Testing
import TestSupport

/// Starts `ganger run` for `instance` with `yaml`, waits for `services` to listen, runs `body`
/// with the listen addresses, and tears down whatever happened (the async form of `defer`):
/// SIGTERM (SIGKILL if it hangs), force-removal of every container of the instance, and then
/// the expectation that none is left. A thrown error carries ganger's log.
func withGanger<T: Sendable>(instance: String, yaml: String, services: [String],
                             _ body: (GangerProcess, [String: String]) async throws -> T) async throws -> T {
    try await onThread {
        try DockerCLI.requireEnvironment()
        // docker0 has vanished under the running default daemon on this workplace
        // (docs/testing.md); without it no container starts, and the test would measure that.
        try ExtraDaemons.ensureDefaultBridge()
    }
    let ganger = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
    do {
        let addresses = try await onThread { try ganger.waitUntilListening(services) }
        let result = try await body(ganger, addresses)
        await teardown(ganger)
        return result
    } catch {
        await teardown(ganger)
        if error is HarnessError, "\(error)".contains("--- stderr ---") { throw error }
        throw HarnessError("\(error)\n\(ganger.log)")
    }
}

/// Stops `ganger` if it still runs, removes its instance's containers, expects none left.
func teardown(_ ganger: GangerProcess) async {
    let instance = ganger.instance
    let outcome = await attempt { try await onThread { () throws -> (removed: Int, left: [String]) in
        if !ganger.hasExited { _ = try? ganger.terminate(signal: SIGTERM, timeout: .seconds(15)) }
        let removed = try DockerCLI.removeAll(instance: instance)
        return (removed, try DockerCLI.containers(instance: instance))
    } }
    switch outcome {
    case let .success((_, left)):
        #expect(left.isEmpty, "teardown: containers of \(instance) still there after docker rm -f: \(left)")
    case let .failure(error):
        Issue.record("teardown of \(instance): \(error)")
    }
}

/// Force-removes the instance's containers and expects none left; for tests without a ganger.
func removeContainers(instance: String) async {
    let outcome = await attempt { try await onThread { () throws -> [String] in
        try DockerCLI.removeAll(instance: instance)
        return try DockerCLI.containers(instance: instance)
    } }
    switch outcome {
    case let .success(left): #expect(left.isEmpty, "cleanup: containers of \(instance) left: \(left)")
    case let .failure(error): Issue.record("cleanup of \(instance): \(error)")
    }
}

/// `body`'s value or error, as a Result.
func attempt<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Waits (blocking, bounded) until the containers with `labels` are exactly none; returns what
/// is still there at the end (empty on success).
func waitForNoContainers(labels: [String], timeout: Duration) throws -> [String] {
    var left: [String] = []
    _ = try poll(timeout: timeout, interval: .milliseconds(200)) {
        left = try DockerCLI.containers(labels: labels)
        return left.isEmpty
    }
    return left
}
