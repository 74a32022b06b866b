import Glibc
import Testing
import Synchronization
import TestSupport

/// The repository's root, from this file's path (Tests/IntegrationTests/Support/…).
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)
    return parts.joined(separator: "/")
}()

/// The image the container tests run: `scripts/build-image.sh` fed with the `ganger` binary
/// SwiftPM built next to this test bundle (a debug build: its Swift runtime libraries come
/// along by ldd), tagged `ganger:itest`. `make image` builds the release artifact,
/// `ganger:latest`, the same way from a static release binary: the tests need not wait minutes
/// for it. Rebuilt only when the binary changed (the script compares its SHA-256 label).
enum GangerImage {
    static let name = "ganger:itest"
    private static let built = Mutex<Result<Void, HarnessError>?>(nil)

    /// Builds the image once per test process (bounded); later calls return the first outcome.
    static func ensure() throws {
        let outcome = built.withLock { done -> Result<Void, HarnessError> in
            if let done { return done }
            let result: Result<Void, HarnessError>
            do {
                let r = try run("/usr/bin/env", ["GANGER_BIN=\(gangerBinary)", "IMAGE=\(name)", "IF_STALE=1",
                                                 "\(repositoryRoot)/scripts/build-image.sh"], timeout: .seconds(240))
                result = r.status == .exited(0) ? .success(())
                    : .failure(HarnessError("scripts/build-image.sh: \(r.status)\n\(r.stderr)"))
            } catch let error as HarnessError {
                result = .failure(error)
            } catch {
                result = .failure(HarnessError("\(error)"))
            }
            done = result
            return result
        }
        try outcome.get()
    }
}

/// A ganger container of `GangerImage` on the default daemon: the Docker socket mounted, the
/// test's config at /etc/ganger/ganger.yml, the echo port (5454) published on a kernel-chosen
/// loopback port. `remove()` (call it in every teardown) force-removes it.
final class GangerContainer: Sendable {
    let name: String
    let id: String
    let config: ConfigFile

    init(name: String, config: ConfigFile, extraRunArguments: [String] = []) throws {
        self.name = name
        self.config = config
        id = try DockerCLI.docker(["run", "-d", "--name", name,
                                   "-v", "/var/run/docker.sock:/var/run/docker.sock",
                                   "-v", "\(config.path):/etc/ganger/ganger.yml:ro",
                                   "-p", "127.0.0.1::5454"] + extraRunArguments + [GangerImage.name])
            .trimmingSuffix("\n")
    }

    /// stdout and stderr of the container (bounded).
    var logs: String {
        guard let r = try? run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "logs", name], timeout: .seconds(20)) else {
            return "(docker logs failed)"
        }
        return "--- docker logs \(name) (stdout) ---\n\(r.stdout)\n--- (stderr) ---\n\(r.stderr)"
    }

    /// Waits for ganger's `listening on` line in the container's stdout; throws with the logs
    /// if the container stops first or `timeout` passes.
    func waitUntilListening(timeout: Duration = .seconds(30)) throws {
        let ok = try poll(timeout: timeout, interval: .milliseconds(100)) {
            let r = try run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "logs", name], timeout: .seconds(20))
            if r.stdout.contains("ganger: service echo listening on 0.0.0.0:5454") { return true }
            if try inspect("{{.State.Running}}") == "false" {
                throw HarnessError("ganger container \(name) stopped before listening\n\(logs)")
            }
            return false
        }
        guard ok else { throw HarnessError("ganger container \(name): no listen line within \(timeout)\n\(logs)") }
    }

    /// The published echo port on the host: `127.0.0.1:PORT`.
    func publishedAddress() throws -> String {
        let out = try DockerCLI.docker(["port", name, "5454/tcp"])
        guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("127.0.0.1:") }) else {
            throw HarnessError("docker port \(name) 5454/tcp: \(out)")
        }
        return String(line)
    }

    func inspect(_ format: String) throws -> String { try DockerCLI.inspect(name, format: format) }

    /// `docker rm -f -v` (idempotent); never throws.
    func remove() {
        _ = try? run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "rm", "-f", "-v", name], timeout: .seconds(60))
    }
}

/// A config for ganger inside its container: one echo service on 0.0.0.0:5454 (published by the
/// test), status on the container's loopback 127.0.0.1:5480 (the image's HEALTHCHECK runs inside), the default
/// daemon (the mounted socket).
func containerConfig(instance: String, shutdownGrace: String = "3s") -> String {
    """
    instance: \(instance)
    services:
      - name: echo
        listen: 0.0.0.0:5454
        image: ganger-echo:latest
        port: 12345
        pull: never
    status: {listen: 127.0.0.1:5480}
    docker_timeout: 30s
    shutdown_grace: \(shutdownGrace)
    log: {level: debug, format: text}

    """
}

/// Children of host process `pid` as `(pid, state, command)`, from `ps`.
func childProcesses(of pid: String) throws -> [(pid: String, state: String, command: String)] {
    let r = try run("/usr/bin/ps", ["-o", "pid=,stat=,comm=", "--ppid", pid], timeout: .seconds(10))
    return r.stdout.split(separator: "\n").compactMap { line in
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count >= 3 else { return nil }
        return (String(words[0]), String(words[1]), words[2...].joined(separator: " "))
    }
}

/// The whole text of a file (bounded to 1 MiB), for reading the Examples' configs.
func readTextFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while bytes.count < 1 << 20 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Expectations checked on a plain thread (`onThread`), where Swift Testing's task-local test
/// context is absent: collected here, then judged in the test's task with `report()`.
final class Checks: Sendable {
    private let failures = Mutex<[String]>([])

    func expect(_ condition: Bool, _ message: @autoclosure () -> String = "check failed", line: Int = #line) {
        if !condition { failures.withLock { $0.append("line \(line): \(message())") } }
    }

    /// Records one issue per failed check in the calling test.
    func report(sourceLocation: SourceLocation = #_sourceLocation) {
        for failure in failures.withLock({ $0 }) { Issue.record("\(failure)", sourceLocation: sourceLocation) }
    }
}
