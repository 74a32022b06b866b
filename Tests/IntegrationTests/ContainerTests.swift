import Glibc
import Testing
import TestSupport

/// Ganger in its own container (the image of `scripts/build-image.sh`, see `GangerImage`) as
/// PID 1 on the real dockerd: the Docker socket mounted, its sessions' containers siblings on
/// the default bridge, the client through a published loopback port.
///
/// Each test names its ganger container and instance `itest-ct-<test>-<random>`, and removes
/// the container(s) and every container of the instance in its teardown, also on failure.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ContainerTests {
    /// Runs `body` with a started, listening ganger container; removes it and its instance's
    /// containers afterwards whatever happened.
    private func withGangerContainer<T: Sendable>(_ test: String, shutdownGrace: String = "3s", runArguments: [String] = [],
                                                  _ body: @escaping @Sendable (GangerContainer, String, Checks) throws -> T) async throws -> T {
        let tag = "itest-ct-\(test)-\(randomTag())"
        let checks = Checks()
        defer { checks.report() }
        return try await onThread {
            try DockerCLI.requireEnvironment()
            try GangerImage.ensure()
            let config = try ConfigFile(containerConfig(instance: tag, shutdownGrace: shutdownGrace))
            var container: GangerContainer?
            defer {
                container?.remove()
                _ = try? DockerCLI.removeAll(instance: tag)
            }
            container = try GangerContainer(name: tag, config: config, extraRunArguments: runArguments)
            do {
                try container!.waitUntilListening()
                return try body(container!, tag, checks)
            } catch let error as HarnessError where "\(error)".contains("--- docker logs") {
                throw error
            } catch {
                throw HarnessError("\(error)\n\(container!.logs)")
            }
        }
    }

    @Test func pid1_echoesThroughThePublishedPort_siblingsOnTheDefaultBridge_andHealthy() async throws {
        try await withGangerContainer("echo", runArguments: ["--health-interval", "1s"]) { ganger, instance, checks in
            // PID 1 in its own pid namespace.
            let hostPid = try ganger.inspect("{{.State.Pid}}")
            let status = try readTextFile("/proc/\(hostPid)/status")
            let nspid = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") } ?? ""
            checks.expect(nspid.split(separator: "\t").last == "1", "ganger is not PID 1 in its container: \(nspid)")

            let address = try ganger.publishedAddress()
            for i in 0..<5 {
                try echoSession(address, payload: Array("container session \(i)\n".utf8) + randomBytes(32 << 10))
            }
            // One session held open: its container is a sibling on the bridge ganger is on.
            let client = try Client(address)
            try client.sendAll(Array("held\n".utf8))
            checks.expect(try client.receive(count: 5) == Array("held\n".utf8))
            let sessions = try DockerCLI.containers(instance: instance)
            checks.expect(sessions.count == 1, "session containers: \(sessions)")
            if let session = sessions.first {
                let networks = try DockerCLI.inspect(session, format: "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}")
                checks.expect(networks == "bridge ", "session container networks: \(networks)")
                checks.expect(try ganger.inspect("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}") == "bridge ")
            }
            try client.shutdownWrite()
            let (_, end) = try client.receiveAll(timeout: .seconds(10))
            checks.expect(end == .eof)
            client.close()
            checks.expect(try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(20)).isEmpty)

            // The image's HEALTHCHECK (`ganger status --health`, run every 1 s here).
            var health = ""
            _ = try poll(timeout: .seconds(30), interval: .milliseconds(250)) {
                health = try ganger.inspect("{{.State.Health.Status}}")
                return health == "healthy"
            }
            checks.expect(health == "healthy", "health: \(health)\n\(ganger.logs)")
        }
    }

    @Test func dockerStop_exits0WithinShutdownGrace_andLeavesNoSessionContainer() async throws {
        try await withGangerContainer("stop", shutdownGrace: "3s") { ganger, instance, checks in
            let address = try ganger.publishedAddress()
            // Two sessions that never end on their own: only the grace ends them.
            let clients = try (0..<2).map { i -> Client in
                let client = try Client(address)
                let line = Array("open \(i)\n".utf8)
                try client.sendAll(line)
                guard try client.receive(count: line.count) == line else { throw HarnessError("no echo") }
                return client
            }
            checks.expect(try DockerCLI.containers(instance: instance).count == 2)
            let start = ContinuousClock.now
            try DockerCLI.docker(["stop", "-t", "20", ganger.name], timeout: .seconds(40))
            let took = ContinuousClock.now - start
            // SIGTERM -> grace (3 s) -> sessions ended -> containers removed -> exit 0; the 20 s
            // docker stop timeout (SIGKILL) is never reached.
            checks.expect(took < .seconds(12), "docker stop took \(took)")
            checks.expect(took >= .seconds(2), "docker stop took \(took): the sessions got no grace")
            checks.expect(try ganger.inspect("{{.State.ExitCode}}") == "0", ganger.logs)
            checks.expect(try ganger.inspect("{{.State.OOMKilled}}") == "false")
            checks.expect(try DockerCLI.containers(instance: instance).isEmpty, "session containers left after docker stop")
            for client in clients {
                let (_, end) = try client.receiveAll(timeout: .seconds(5))
                checks.expect(end != .timedOut, "a client was not closed by the shutdown")
                client.close()
            }
            checks.expect(ganger.logs.contains("ganger"), "no log on stdout/stderr")
        }
    }

    @Test func dockerKill_leavesOrphans_aNewGangerOfTheSameInstanceRemovesThem() async throws {
        let tag = "itest-ct-kill-\(randomTag())"
        let checks = Checks()
        defer { checks.report() }
        try await onThread {
            try DockerCLI.requireEnvironment()
            try GangerImage.ensure()
            let config = try ConfigFile(containerConfig(instance: tag))
            var containers: [GangerContainer] = []
            defer {
                for c in containers { c.remove() }
                _ = try? DockerCLI.removeAll(instance: tag)
            }
            let first = try GangerContainer(name: tag + "-1", config: config)
            containers.append(first)
            try first.waitUntilListening()
            let client = try Client(first.publishedAddress())
            try client.sendAll(Array("orphan\n".utf8))
            guard try client.receive(count: 7) == Array("orphan\n".utf8) else { throw HarnessError("no echo") }
            let orphans = try DockerCLI.containers(instance: tag)
            checks.expect(orphans.count == 1)

            try DockerCLI.docker(["kill", first.name])  // SIGKILL: no cleanup at all
            client.close()
            checks.expect(try first.inspect("{{.State.ExitCode}}") == "137")
            // Still there: nobody removed it.
            checks.expect(try DockerCLI.containers(instance: tag) == orphans, "the orphan vanished before the restart")

            let second = try GangerContainer(name: tag + "-2", config: config)
            containers.append(second)
            try second.waitUntilListening()
            // It removed its predecessor's container before serving (or right after).
            var left: [String] = []
            _ = try poll(timeout: .seconds(20), interval: .milliseconds(200)) {
                left = try DockerCLI.containers(instance: tag).filter { orphans.contains($0) }
                return left.isEmpty
            }
            checks.expect(left.isEmpty, "orphans of the killed ganger still there: \(left)\n\(second.logs)")
            try echoSession(second.publishedAddress(), payload: Array("after the restart\n".utf8))
        }
    }

    @Test func asPID1_reapsOrphansReparentedToIt() async throws {
        // The image has no shell: copy the host's static busybox in to make an orphan. `sh` exits
        // at once; its background `sleep 1` is reparented to PID 1 (ganger) and must not stay a
        // zombie after it exits.
        try await withGangerContainer("reap") { ganger, _, checks in
            try DockerCLI.docker(["cp", "/bin/busybox", "\(ganger.name):/busybox"])
            let hostPid = try ganger.inspect("{{.State.Pid}}")
            try DockerCLI.docker(["exec", ganger.name, "/busybox", "sh", "-c",
                                  "/busybox sleep 2 </dev/null >/dev/null 2>&1 & exit 0"])
            var adopted: [(pid: String, state: String, command: String)] = []
            _ = try poll(timeout: .seconds(1), interval: .milliseconds(50)) {
                adopted = try childProcesses(of: hostPid)
                return !adopted.isEmpty
            }
            checks.expect(adopted.contains { $0.command.contains("busybox") || $0.command.contains("sleep") },
                    "the orphan was not reparented to ganger: \(adopted)")
            var zombies: [(pid: String, state: String, command: String)] = []
            _ = try poll(timeout: .seconds(6), interval: .milliseconds(200)) {
                let children = try childProcesses(of: hostPid)
                zombies = children.filter { $0.state.hasPrefix("Z") }
                return children.isEmpty
            }
            checks.expect(zombies.isEmpty, "zombies under ganger: \(zombies)")
            checks.expect(try childProcesses(of: hostPid).isEmpty)
        }
    }
}
