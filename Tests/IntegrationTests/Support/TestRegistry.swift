import Glibc
import TestSupport

/// A real image registry (Debian's docker-registry, the Distribution project's `registry`) of
/// the test's own on a loopback port, storing in a directory of its own: what `pull` fetches
/// from, with no network. Docker trusts plain HTTP to 127.0.0.0/8 without configuration.
final class TestRegistry: Sendable {
    private let storage: TemporaryDirectory
    var directory: String { storage.path }
    let port: UInt16
    let process: SpawnedProcess

    /// `127.0.0.1:PORT`, the prefix of this registry's image references.
    var host: String { "127.0.0.1:\(port)" }

    init() throws {
        guard access("/usr/bin/docker-registry", X_OK) == 0 else {
            throw HarnessError("docker-registry missing: make test-deps (or apt-get install docker-registry)")
        }
        storage = try TemporaryDirectory()
        let dir = storage.path
        port = try freeLoopbackPort()
        try writeFile("\(dir)/config.yml", """
            version: 0.1
            log: {level: warn}
            storage:
              filesystem: {rootdirectory: \(dir)/data}
              delete: {enabled: true}
            http:
              addr: 127.0.0.1:\(port)

            """)
        process = try SpawnedProcess("/usr/bin/docker-registry", ["serve", "\(dir)/config.yml"])
        let port = port
        let up = poll(timeout: .seconds(10), interval: .milliseconds(50)) { (try? Client(host: "127.0.0.1", port: port))?.close() != nil }
        guard up else {
            _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(5))
            throw HarnessError("docker-registry did not listen on 127.0.0.1:\(port)\n\(process.log)")
        }
    }

    /// Pushes `image` of the default daemon here as `repository:tag` and drops that tag from the
    /// daemon again (the image keeps its own): a daemon must pull it to have it. Returns the
    /// reference to pull.
    func push(_ image: String, as repository: String, tag: String = "latest") throws -> String {
        let reference = "\(host)/\(repository):\(tag)"
        try DockerCLI.docker(["tag", image, reference])
        defer { _ = try? DockerCLI.docker(["rmi", reference]) }
        try DockerCLI.docker(["push", reference], timeout: .seconds(60))
        return reference
    }

    /// Stops the registry (SIGTERM to our own child); what it stored goes with the value.
    func stop() {
        _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(10))
    }
}
