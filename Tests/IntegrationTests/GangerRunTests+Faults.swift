import Glibc
import Testing
import TestSupport

/// `ganger run` when clients, containers or ganger itself misbehave.
extension GangerRunTests {
    @Test func clientLeavesWhileItsContainerStarts_noContainerOfTheInstanceRemains() async throws {
        let instance = uniqueInstance("leaves")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread {
                // From "gone before accept" to "gone mid-start" (a start takes ~0.3-1 s here).
                for delay in [0, 20, 100, 250, 500] {
                    let client = try Client(address)
                    usleep(UInt32(delay) * 1000)
                    client.close()
                }
            }
            // Bounded, and stable: none for 3 s in a row, so a late create is not missed.
            let left = try await onThread { try waitForNoContainersStably(instance: instance, timeout: .seconds(30), stable: .seconds(3)) }
            #expect(left.isEmpty, "containers left after 5 clients left early: \(left)\n\(ganger.log)")
            // And ganger still serves.
            try await onThread { try echoSession(address, payload: Array("still there\n".utf8)) }
        }
    }

    @Test func imageThatExitsAtOnce_clientClosedWithinTheReadyBudget_andTheNextClientIsServed() async throws {
        let instance = uniqueInstance("exits")
        let budget = Duration.seconds(3)
        let margin = Duration.seconds(4)
        let dies = ServiceYAML(name: "dies", image: "ganger-exit:latest",
                               extra: ["ready: {attempts: 5, interval: 100ms, timeout: 3s}"])
        let yaml = gangerConfig(instance: instance, services: [dies, .echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["dies", "echo"]) { ganger, addresses in
            let diesAddress = try #require(addresses["dies"])
            let echoAddress = try #require(addresses["echo"])
            let (bytes, end, elapsed) = try await onThread { () throws -> (Int, Client.End, Duration) in
                let start = ContinuousClock.now
                let client = try Client(diesAddress)
                let (bytes, end) = try client.receiveAll(timeout: budget + margin + .seconds(10))
                return (bytes.count, end, ContinuousClock.now - start)
            }
            #expect(end != .timedOut, "client still open after \(elapsed)\n\(ganger.log)")
            #expect(bytes == 0, "\(bytes) bytes from a service that never served")
            #expect(elapsed < budget + margin, "closed after \(elapsed); budget \(budget) + \(margin)\n\(ganger.log)")

            try await onThread { try echoSession(echoAddress, payload: Array("next client\n".utf8) + randomBytes(4096)) }
            let left = try await onThread {
                try waitForNoContainers(labels: ["ganger.instance=\(instance)", "ganger.service=dies"], timeout: .seconds(20))
            }
            #expect(left.isEmpty, "containers of the dying service left: \(left)\n\(ganger.log)")
        }
    }

    @Test func kill9WhileASessionHoldsAContainer_aRestartWithTheSameInstanceRemovesTheOrphan() async throws {
        let instance = uniqueInstance("orphan")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await onThread { try DockerCLI.requireEnvironment() }
        let first = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
        do {
            let address = try #require(try await onThread { try first.waitUntilListening(["echo"]) }["echo"])
            let (orphan, end) = try await onThread { () throws -> (String, Client.End) in
                let client = try Client(address)
                let payload = Array("before the crash\n".utf8)
                try client.sendAll(payload)
                guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }
                let mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
                guard mine.count == 1 else { throw HarnessError("\(mine.count) containers for the session: \(mine)") }
                first.kill9()
                // The kernel closes a dead process's sockets: the client hears it.
                let (_, end) = try client.receiveAll(timeout: .seconds(5))
                return (mine[0], end)
            }
            #expect(end != .timedOut, "the client's connection outlived ganger's SIGKILL")
            let stillThere = try await onThread { try DockerCLI.containers(instance: instance) }
            #expect(stillThere.contains(orphan), "the orphan \(orphan) is already gone before any restart: \(stillThere)")

            try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { second, addresses in
                let echo = try #require(addresses["echo"])
                let gone = try await onThread {
                    try poll(timeout: .seconds(15), interval: .milliseconds(200)) {
                        !(try DockerCLI.containers(instance: instance).contains(orphan))
                    }
                }
                #expect(gone, "orphan \(orphan) still there 15 s after the restart listened\n\(second.log)")
                try await onThread { try echoSession(echo, payload: Array("after the restart\n".utf8) + randomBytes(8192)) }
            }
        } catch {
            await teardown(first)
            throw HarnessError("\(error)\n--- first ganger ---\n\(first.log)")
        }
        await teardown(first)
    }

    /// A Ganger killed with SIGKILL and not yet reaped (a zombie: kill(pid, 0) still answers)
    /// holds its instance no more: a restart at once, well within the dead one's 10 s lease,
    /// starts and serves instead of exiting 2 with "held by another Ganger (pid N)". Before, it
    /// was refused until the lease ran out, and for good under a parent that never reaps.
    @Test func kill9NotYetReaped_aRestartAtOnceTakesTheInstance() async throws {
        let instance = uniqueInstance("zombie")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await onThread { try DockerCLI.requireEnvironment() }
        let first = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
        do {
            _ = try await onThread { try first.waitUntilListening(["echo"]) }
            let pid = first.pid
            first.kill9LeavingAZombie()
            let zombie = try await onThread {
                try poll(timeout: .seconds(5), interval: .milliseconds(20)) { ProcessStateProbe.isZombie(pid) }
            }
            try #require(zombie, "the killed ganger did not become a zombie")
            try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { second, addresses in
                let echo = try #require(addresses["echo"])
                #expect(ProcessStateProbe.isZombie(pid), "the first ganger was reaped before the restart: the test proves nothing")
                #expect(!second.log.contains("held on daemon"), "\(second.log)")
                try await onThread { try echoSession(echo, payload: Array("after the crash\n".utf8)) }
            }
        } catch {
            _ = first.waitForExit(timeout: .seconds(10))
            throw HarnessError("\(error)\n--- first ganger ---\n\(first.log)")
        }
        _ = first.waitForExit(timeout: .seconds(10))
    }

    @Test func sigtermWithASessionOpen_exits0WithinShutdownGrace_andNoContainerIsLeft() async throws {
        let instance = uniqueInstance("sigterm")
        let grace = Duration.seconds(2)
        let margin = Duration.seconds(5)
        let yaml = gangerConfig(instance: instance, services: [.echo()], shutdownGrace: "2s")
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let outcome = try await onThread { () throws -> (status: ExitStatus?, elapsed: Duration, refused: Bool, end: Client.End, left: [String]) in
                let client = try Client(address)
                let payload = Array("open session\n".utf8)
                try client.sendAll(payload)
                guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }

                let start = ContinuousClock.now
                ganger.process.send(SIGTERM)
                // "Stop accepting": a new connection is refused while the open session winds down.
                let refused = poll(timeout: .milliseconds(1500), interval: .milliseconds(100)) {
                    (try? Client(address, timeout: .milliseconds(500))) == nil
                }
                let status = ganger.waitForExit(timeout: grace + margin + .seconds(10))
                let elapsed = ContinuousClock.now - start
                // Right at the exit, before anything else could clean up.
                let left = try DockerCLI.containers(instance: instance)
                let (_, end) = try client.receiveAll(timeout: .seconds(5))
                return (status, elapsed, refused, end, left)
            }
            #expect(outcome.status == .exited(0), "ganger ended with \(outcome.status.map { "\($0)" } ?? "no exit")\n\(ganger.log)")
            #expect(outcome.elapsed < grace + margin, "exit after \(outcome.elapsed); shutdown_grace \(grace) + \(margin)")
            #expect(outcome.left.isEmpty, "containers still there when ganger exited: \(outcome.left)\n\(ganger.log)")
            #expect(outcome.end != .timedOut, "the open session was not closed by the shutdown")
            #expect(outcome.refused, "new connections were still accepted after SIGTERM")
        }
    }
}

/// Waits (blocking, bounded by `timeout`) until the instance has had no container for `stable`
/// in a row; returns what is there at the end (empty on success).
func waitForNoContainersStably(instance: String, timeout: Duration, stable: Duration) throws -> [String] {
    var emptySince: ContinuousClock.Instant?
    var left: [String] = []
    _ = try poll(timeout: timeout, interval: .milliseconds(200)) {
        left = try DockerCLI.containers(instance: instance)
        if !left.isEmpty {
            emptySince = nil
            return false
        }
        let since = emptySince ?? ContinuousClock.now
        emptySince = since
        return ContinuousClock.now - since >= stable
    }
    return left
}
