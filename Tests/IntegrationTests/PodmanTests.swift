import Glibc
import Testing
import TestSupport

/// Podman as a Docker daemon: Ganger against podman's Docker-compatible API (`podman system
/// service`) on a unix socket, a service of the tests' own (`PodmanService`). Per-container and
/// holder (pod-style) services, leftovers removed at startup and by `ganger cleanup`, events
/// followed, containers reached at their address on podman's bridge; and podman's netavark must
/// leave dockerd's docker0 and iptables rules as they were.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct PodmanTests {
    @Test(.enabled(if: PodmanService.installed, "podman is not installed here (make test-deps installs it with netavark and aardvark-dns)"))
    func podmanDaemon_sessionsAndHolders_leftoversAndCleanup_noContainersLeft_dockerNetworkingUntouched() async throws {
        let before = try await onThread { try PodmanService.dockerNetworking() }
        #expect(before.docker0, "docker0 is missing before the test (scripts/docker-up.sh repairs it)")
        do {
            try await onThread { try PodmanService.up() }
            try await servesThroughPodman()
        } catch {
            _ = try? await onThread { try PodmanService.down() }
            throw error
        }
        let log = try await onThread { try PodmanService.down() }
        let after = try await onThread { try PodmanService.dockerNetworking() }
        #expect(after.docker0, "docker0 is gone after podman ran:\n\(log)")
        #expect(after.rules == before.rules, "Docker's iptables rules changed:\nbefore \(before.rules)\nafter \(after.rules)")
        let left = try await onThread { try PodmanService.podmanNetworking() }
        #expect(left.isEmpty, "netavark's chains or podman's bridge left after podman-service.sh down: \(left)\n\(log)")
    }

    private func servesThroughPodman() async throws {
        let instance = uniqueInstance("podman")
        // A leftover of an earlier run of the instance: created, labelled, never started.
        let leftover = try await onThread {
            try PodmanService.docker(["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(instance)",
                                      "--label", "ganger.service=echo", "ganger-echo:latest"]).trimmingSuffix("\n")
        }
        let yaml = ([
            "instance: \(instance)",
            "daemons:",
            "  - url: \(PodmanService.url)",
            "    max_containers: 8",
            // `network: bridge` (the default) is podman's default network, `podman`, to its compat API.
            "services:", ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["pool: {warm: 1}"]).yaml,
            ServiceYAML(name: "held", image: "ganger-echo:latest", extra: ["netns: {mode: holder, holders: 1}"]).yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
        let process = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
        defer {
            _ = try? process.terminate(signal: SIGTERM, timeout: .seconds(15))
            let ids = (try? PodmanService.containers(instance: instance)) ?? []
            if !ids.isEmpty { _ = try? PodmanService.docker(["rm", "-f"] + ids) }
        }
        let addresses = try await onThread { try process.waitUntilListening(["echo", "held"]) }
        let echo = try #require(addresses["echo"])
        let held = try #require(addresses["held"])
        // The ready holder is killed: only podman's `die` event (Ganger's event stream) tells
        // Ganger, which removes it and starts another.
        let replaced = try await onThread { () throws -> String in
            let holders = { try PodmanService.docker(["ps", "-aq", "--no-trunc", "--filter", "label=ganger.instance=\(instance)",
                                                      "--filter", "label=ganger.role=holder"]).split(separator: "\n").map(String.init) }
            var first: [String] = []
            _ = try poll(timeout: .seconds(20), interval: .milliseconds(100)) { first = try holders(); return first.count == 1 }
            guard let killed = first.first else { throw HarnessError("no holder on podman: \(first)\n\(process.log)") }
            try PodmanService.docker(["kill", killed])
            var now: [String] = []
            let ok = try poll(timeout: .seconds(20), interval: .milliseconds(100)) {
                now = try holders()
                return !now.contains(killed) && now.count == 1
            }
            return ok ? "" : "killed holder \(killed); holders now \(now)"
        }
        #expect(replaced.isEmpty, "a holder killed on podman was not replaced (die event): \(replaced)\n\(process.log)")
        let clients = HeldClients()
        defer { clients.closeAll() }
        let (running, addressesSeen) = try await onThread { () throws -> (Int, [String]) in
            for i in 0..<3 { clients.clients.append(try openEchoingClient(echo, tag: "podman \(i)")) }
            for i in 0..<2 { clients.clients.append(try openEchoingClient(held, tag: "podman held \(i)")) }
            try echoBulk(clients.clients, bytes: 256 << 10, through: "podman")
            let ids = try PodmanService.containers(instance: instance, all: false)
            let ips = try ids.map { try PodmanService.docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", $0]) }
            return (ids.count, ips)
        }
        #expect(!process.log.contains("network holder failed to start"), "\(process.log)")
        // 3 + 2 sessions, the warm one, and the holders (one per session that joined one, plus
        // the one kept ready): at least the 5 session containers run.
        #expect(running >= 5, "containers of the instance running on podman: \(running)\n\(process.log)")
        #expect(addressesSeen.contains { $0.hasPrefix("10.88.") }, "no container on podman's 10.88.0.0/16: \(addressesSeen)")
        let gone = try await onThread { try PodmanService.containers(instance: instance).contains(leftover) }
        #expect(!gone, "the leftover \(leftover) is still there: startup must remove it\n\(process.log)")

        clients.closeAll()
        let status = try await onThread { try process.terminate(signal: SIGTERM, timeout: .seconds(20)) }
        #expect(status == .exited(0), "\(status)\n\(process.log)")
        let left = try await onThread { try PodmanService.containers(instance: instance) }
        #expect(left.isEmpty, "containers left on podman after ganger's shutdown: \(left)\n\(process.log)")

        // `ganger cleanup` finds leftovers on podman by their labels.
        let config = try ConfigFile(yaml)
        try await onThread {
            _ = try PodmanService.docker(["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(instance)", "ganger-echo:latest"])
        }
        let cleanup = try await onThread { try ganger(["cleanup", "-c", config.path], timeout: .seconds(60)) }
        #expect(cleanup.status == .exited(0) && cleanup.stdout.contains("removed 1 container(s) from 1 daemon(s)"), "\(cleanup)")
        let afterCleanup = try await onThread { try PodmanService.containers(instance: instance) }
        #expect(afterCleanup.isEmpty, "after ganger cleanup: \(afterCleanup)")
    }
}
