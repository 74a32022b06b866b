import Glibc

/// The `docker` command line against the default daemon: what the tests use to judge and to
/// clean up, independently of Ganger's own Docker client.
enum DockerCLI {
    /// Debian's client when present (it matches the daemon), else the first in PATH.
    static let path = access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "docker"
    static let daemonURL = "unix:///var/run/docker.sock"

    /// Runs `docker ARGS` (bounded); throws unless it exits 0.
    @discardableResult
    static func docker(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
        let result = try run(path, ["-H", daemonURL] + arguments, timeout: timeout)
        guard result.status == .exited(0) else {
            throw HarnessError("docker \(arguments.joined(separator: " ")): \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    /// Ids (full) of every container, running or not, carrying all of `labels` (`key=value`).
    static func containers(labels: [String]) throws -> [String] {
        let filters = labels.flatMap { ["--filter", "label=\($0)"] }
        return try docker(["ps", "-aq", "--no-trunc"] + filters).split(separator: "\n").map(String.init)
    }

    /// Every container of a Ganger instance.
    static func containers(instance: String) throws -> [String] {
        try containers(labels: ["ganger.instance=\(instance)"])
    }

    /// Force-removes every container of `instance`; returns how many there were. The instance's
    /// lease (left by a ganger killed with -9) goes too, uncounted.
    @discardableResult
    static func removeAll(instance: String) throws -> Int {
        let ids = try containers(instance: instance)
        let leases = try containers(labels: ["ganger.lease=\(instance)"])
        if !(ids + leases).isEmpty { try docker(["rm", "-f", "-v"] + ids + leases) }
        return ids.count
    }

    /// `docker inspect -f FORMAT ID`.
    static func inspect(_ id: String, format: String) throws -> String {
        try docker(["inspect", "-f", format, id]).trimmingSuffix("\n")
    }

    static func imageExists(_ image: String) -> Bool {
        (try? run(path, ["-H", daemonURL, "image", "inspect", image], timeout: .seconds(30)).status) == .exited(0)
    }

    /// Throws with what to do unless the daemon answers and the example images exist.
    static func requireEnvironment() throws {
        do { try docker(["version"], timeout: .seconds(20)) } catch {
            throw HarnessError("no Docker daemon at \(daemonURL) (run `make docker-up`): \(error)")
        }
        for image in ["ganger-echo:latest", "ganger-exit:latest", "ganger-sink-reply:latest"] where !imageExists(image) {
            throw HarnessError("image \(image) missing (run `make images`)")
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
