import Glibc

/// A podman of the tests' own serving Docker's API on `unix:///run/ganger-podman-test/podman.sock`
/// (`scripts/podman-service.sh`: its own containers.conf, storage, network files and events log;
/// ganger-echo built on it with `docker import`). Started and stopped by each test that uses it;
/// `down` also removes its storage and the iptables chains netavark leaves behind.
enum PodmanService {
    static let url = "unix:///run/ganger-podman-test/podman.sock"
    static let script = ExtraDaemons.packageRoot + "/scripts/podman-service.sh"

    /// podman is installed (Debian's package; `make test-deps` installs it).
    static var installed: Bool { access("/usr/bin/podman", X_OK) == 0 }

    static func up() throws {
        let result = try run(script, ["up"], timeout: .seconds(180))
        guard result.status == .exited(0) else { throw HarnessError("podman-service.sh up: \(result.status)\n\(result.stderr)") }
    }

    /// Stops it and removes everything it made; returns the script's log.
    @discardableResult
    static func down() throws -> String {
        let result = try run(script, ["down"], timeout: .seconds(120))
        guard result.status == .exited(0) else { throw HarnessError("podman-service.sh down: \(result.status)\n\(result.stderr)") }
        return result.stderr
    }

    /// `docker -H unix://…podman.sock ARGS` (bounded); throws unless it exits 0.
    @discardableResult
    static func docker(_ arguments: [String]) throws -> String {
        let result = try run(DockerCLI.path, ["-H", url] + arguments, timeout: .seconds(60))
        guard result.status == .exited(0) else { throw HarnessError("docker -H \(url) \(arguments.joined(separator: " ")): \(result.stderr)") }
        return result.stdout
    }

    static func containers(instance: String, all: Bool = true) throws -> [String] {
        try docker(["ps", "-q", "--no-trunc", "--filter", "label=ganger.instance=\(instance)"] + (all ? ["-a"] : []))
            .split(separator: "\n").map(String.init)
    }

    /// What the host's networking looks like to Docker: whether docker0 exists, and Docker's own
    /// lasting rules (its chains, the jumps into them, docker0's rules) in the filter and nat
    /// tables, compared before and after podman ran. Per-container port rules and user networks'
    /// bridges are left out: the default daemon is shared, and they come and go with others' work.
    static func dockerNetworking() throws -> (docker0: Bool, rules: [String]) {
        let link = try run("/usr/sbin/ip", ["link", "show", "docker0"], timeout: .seconds(10))
        var rules: [String] = []
        for table in ["filter", "nat"] {
            let listed = try run("/usr/sbin/iptables", ["-w", "5", "-t", table, "-S"], timeout: .seconds(20))
            rules += listed.stdout.split(separator: "\n").map(String.init).filter { rule in
                (rule.hasPrefix("-N DOCKER") || rule.contains("docker0") || rule.contains("-j DOCKER"))
                    && !rule.contains(" -p tcp") && !rule.contains(" -p udp") && !rule.contains("br-")
            }.map { "\(table): \($0)" }
        }
        return (link.status == .exited(0), rules)
    }

    /// netavark's chains and podman's bridges left on the host.
    static func podmanNetworking() throws -> [String] {
        var left: [String] = []
        for table in ["filter", "nat"] {
            let listed = try run("/usr/sbin/iptables", ["-w", "5", "-t", table, "-S"], timeout: .seconds(20))
            left += listed.stdout.split(separator: "\n").map(String.init).filter { $0.contains("NETAVARK") }
        }
        let links = try run("/usr/sbin/ip", ["-o", "link", "show"], timeout: .seconds(10)).stdout
        left += links.split(separator: "\n").map(String.init).filter { $0.contains(": podman") }
        return left
    }
}
