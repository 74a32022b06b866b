import Glibc
import Testing
import TestSupport

/// Docker API faults on the real path (issue 16): `ganger run` on a `FaultProxy` in front of the
/// real dockerd, one fault per scenario. Every client gets its echo or a clean close, never a
/// hang; then, settled, the instance's containers are exactly Ganger's, its descriptors are back
/// to the baseline and the daemon's slot count equals its live containers
/// (`ProxiedGanger.checkSettled`, run by `withProxiedGanger`).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ChaosTests {
    @Test func everyCreateDelayed_everyClientServed() async throws {
        let delay = Duration.milliseconds(1500)
        try await withProxiedGanger("delay", rules: [.init("POST", "/containers/create", .delay(delay))]) { chaos in
            let start = ContinuousClock.now
            let outcomes = try await chaosClients(6, chaos.address)
            let elapsed = ContinuousClock.now - start
            #expect(outcomes.allSatisfy { $0 == .echoed }, "\(outcomes)\n\(chaos.ganger.log)")
            #expect(elapsed >= delay, "six sessions in \(elapsed), each create held \(delay)")
            #expect(chaos.proxy.calls("POST", "/containers/create") >= 7, "the creates did not go through the proxy")
        }
    }

    @Test func errorAnswersOnStartAndCreate_theDaemonHeldOff_theClientServedByATrial() async throws {
        // The first start after the baseline answers 500, the second create 503: the first
        // client's container is created and never started; the daemon refused it, so the
        // service is held off it for 1 s (`LaunchBreaker`) and the client waits in the queue
        // (there is no other daemon). The trial after the hold is the second create: refused
        // too, held off 2 s more; the next trial starts, and the client is served. Before, both
        // refusals closed a client with no byte.
        let rules: [FaultProxy.Rule] = [
            .init("POST", "/containers/*/start", calls: [1], .status(500)),
            .init("POST", "/containers/create", calls: [2], .status(503)),
        ]
        try await withProxiedGanger("status5xx", rules: rules) { chaos in
            let (outcomes, first) = try await onThread { () -> ([ChaosOutcome], Duration) in
                let start = ContinuousClock.now
                let first = chaosClient(chaos.address, payload: Array("client 0\n".utf8) + randomBytes(2048))
                let waited = ContinuousClock.now - start
                return ([first] + (1..<3).map { i in chaosClient(chaos.address, payload: Array("client \(i)\n".utf8) + randomBytes(2048)) }, waited)
            }
            #expect(outcomes == [.echoed, .echoed, .echoed], "\(outcomes)\n\(chaos.ganger.log)")
            // Two holds (1 s, then 2 s) before the trial that starts.
            #expect(first >= .seconds(3), "the first client was served after \(first)")
            let ends = try await onThread { try chaos.ganger.status().services[0].endReasons }
            #expect(ends["launch failed"] == nil, "\(ends)")
            #expect(chaos.ganger.stderr.contains("start failed: fault proxy: injected 500"), "\(chaos.ganger.stderr.suffix(3000))")
            #expect(chaos.ganger.stderr.contains("create failed: fault proxy: injected 503"), "\(chaos.ganger.stderr.suffix(3000))")
            #expect(chaos.ganger.stderr.contains("Docker refused the trial launch too: held off longer"), "\(chaos.ganger.stderr.suffix(3000))")
            #expect(chaos.ganger.stderr.contains("launches no longer held off"), "\(chaos.ganger.stderr.suffix(3000))")
        }
    }

    @Test func inspectAnswerTruncated_theClientClosedOrServed_theNextServed() async throws {
        try await withProxiedGanger("truncate", rules: [.init("GET", "/containers/*/json", calls: [1], .truncateBody)]) { chaos in
            let first = try await onThread { chaosClient(chaos.address, payload: Array("first\n".utf8) + randomBytes(2048)) }
            let after = try await chaosClients(3, chaos.address)
            #expect(first.isClean, "\(first)")
            #expect(after.allSatisfy { $0 == .echoed }, "\(after)\n\(chaos.ganger.log)")
            #expect(chaos.proxy.history.contains("→ truncate"), "the fault never hit")
        }
    }

    @Test func resetMidResponse_onRemoveAndOnCreate_nothingLeft() async throws {
        // A reset in the middle of a remove's answer (the container may be gone or not) and of a
        // create's answer (the container exists; Ganger never learns its id).
        let rules: [FaultProxy.Rule] = [
            .init("DELETE", "/containers/*", calls: [1], .resetMidResponse),
            .init("POST", "/containers/create", calls: [2], .resetMidResponse),
        ]
        try await withProxiedGanger("reset", rules: rules) { chaos in
            let outcomes = try await onThread { () -> [ChaosOutcome] in
                (0..<4).map { i in chaosClient(chaos.address, payload: Array("client \(i)\n".utf8) + randomBytes(2048)) }
            }
            try requireClean(outcomes, "resets")
            #expect(outcomes[0] == .echoed && outcomes[2] == .echoed && outcomes[3] == .echoed, "\(outcomes)\n\(chaos.ganger.log)")
            #expect(chaos.proxy.history.ranges(of: "→ reset").count == 2, "both faults hit")
        }
    }

    @Test func removalRefusedFiveTimes_givenUp_retriedWhileTheDaemonAnswers() async throws {
        // The make-soak finding: a wedged dockerd failed every attempt of some removals; the
        // daemon still answered pings (busy, not down), so it was never reconciled and those
        // containers stayed until the shutdown. Five refusals use up one removal's attempts.
        try await withProxiedGanger("unremoved", rules: [.init("DELETE", "/containers/*", calls: [1, 2, 3, 4, 5], .status(500))]) { chaos in
            let outcome = try await onThread { chaosClient(chaos.address, payload: Array("removal refused\n".utf8) + randomBytes(2048)) }
            #expect(outcome == .echoed, "\(outcome)")
            let givenUp = try await onThread { chaos.ganger.waitForLog("attempt=5", timeout: .seconds(15)) }
            #expect(givenUp, "the removal was not given up after five attempts\n\(chaos.ganger.stderr.suffix(3000))")
            // The settled check after this body needs the container gone, with no daemon outage.
        }
    }

    @Test func createAnswerLostAfterTheContainerExists_theOrphanIsRemoved() async throws {
        try await withProxiedGanger("lost", rules: [.init("POST", "/containers/create", calls: [1], .loseResponse)]) { chaos in
            let first = try await onThread { chaosClient(chaos.address, payload: Array("first\n".utf8) + randomBytes(2048)) }
            let after = try await chaosClients(2, chaos.address)
            #expect(first.isClean, "\(first)")
            #expect(after.allSatisfy { $0 == .echoed }, "\(after)\n\(chaos.ganger.log)")
            #expect(chaos.proxy.history.contains("→ lose"), "the fault never hit")
            // The lost create's container really exists (Ganger never had its id): the settled
            // check after this body proves it was removed.
        }
    }

    // A create held 6 s by the proxy, then delivered to dockerd (as a frozen or overloaded
    // dockerd works through its backlog), with `docker_timeout: 2s`: Ganger gives up on it at
    // 2 s and removes its name, which finds nothing yet (404). At 6 s dockerd makes the
    // container; before, nothing counted or owned it and it stayed until a shutdown sweep
    // (found by the simulation with another base seed). Now its create event names it, and it
    // is removed; the settled check after the body proves none is left.
    @Test func createThatLandsAfterItsRemovalByName_isRemovedWhenItsEventComes() async throws {
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["queue: {timeout: 20s}"])
        try await withProxiedGanger("latecreate", services: [service], dockerTimeout: "2s",
                                    rules: [.init("POST", "/containers/create", calls: [1], .delay(.seconds(6)))]) { chaos in
            let first = try await onThread { chaosClient(chaos.address, payload: Array("held\n".utf8) + randomBytes(2048)) }
            #expect(first.isClean, "\(first)")
            let removed = try await onThread {
                poll(timeout: .seconds(30), interval: .milliseconds(200)) {
                    chaos.ganger.log.contains("removing a container created after its launch gave it up")
                }
            }
            #expect(removed, "\(chaos.ganger.log.suffix(6000))\n--- proxy ---\n\(chaos.proxy.history)")
            let after = try await chaosClients(2, chaos.address)
            #expect(after.allSatisfy { $0 == .echoed }, "\(after)")
        }
    }

    @Test func daemonThatAnswersPingsButStallsOnCreate_clientClosedWithinItsBudget_daemonDegraded() async throws {
        // Issue 15: queue.timeout is the client's budget (4 s); ready.timeout is lower, so the
        // budget is what bounds Docker's part.
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                  extra: ["queue: {timeout: 4s}", "ready: {timeout: 2s}"])
        let budget = Duration.seconds(4)
        let margin = Duration.seconds(3)
        try await withProxiedGanger("stall", services: [service], rules: [.init("POST", "/containers/create", .hang)]) { chaos in
            let (outcome, elapsed) = try await onThread { () -> (ChaosOutcome, Duration) in
                let start = ContinuousClock.now
                let outcome = chaosClient(chaos.address, payload: Array("stalled\n".utf8), timeout: budget + margin + .seconds(10))
                return (outcome, ContinuousClock.now - start)
            }
            #expect(outcome == .closed(bytes: 0), "\(outcome)")
            #expect(elapsed < budget + margin, "closed after \(elapsed), budget \(budget) + \(margin)\n\(chaos.ganger.log)")
            let (status, degraded) = try await onThread {
                try chaos.ganger.waitForStatus(timeout: .seconds(5)) { $0.daemons.first?.degraded == true }
            }
            #expect(degraded, "the daemon is not marked degraded: \(status.daemons)")
            #expect(status.daemons.first?.state == .up, "answers pings: not down \(status.daemons)")
            #expect(status.daemons.first?.lastError?.contains("no complete response") == true, "\(String(describing: status.daemons.first?.lastError))")
            #expect(status.services[0].endReasons["launch failed"] == 1, "\(status.services[0].endReasons)")
            #expect(chaos.ganger.stderr.contains("within the client's budget"), "\(chaos.ganger.stderr.suffix(3000))")

            // Creates answer again: served, and no longer degraded.
            chaos.proxy.setRules([])
            let next = try await onThread { chaosClient(chaos.address, payload: Array("next\n".utf8) + randomBytes(2048)) }
            #expect(next == .echoed, "\(next)\n\(chaos.ganger.log)")
            let (_, healed) = try await onThread {
                try chaos.ganger.waitForStatus(timeout: .seconds(5)) { $0.daemons.first?.degraded == false && $0.daemons.first?.state == .up }
            }
            #expect(healed, "still degraded after a container started")
        }
    }

    /// SIGTERM while the only daemon has stopped answering (every call hangs): sessions end after
    /// the grace (2 s), their removals get no answer, and after 10 s of that silence the daemon
    /// is given up and ganger exits 2, saying so. Before, it waited `docker_timeout` (30 s here,
    /// five minutes by default) for each of five attempts of every removal.
    @Test func sigtermWhileTheDaemonAnswersNothing_exits2AfterItsSilence_theNextStartRemovesWhatItLeft() async throws {
        try await withProxiedGanger("frozenstop", rules: []) { chaos in
            let held = HeldClients()
            defer { held.closeAll() }
            try await onThread {
                for i in 0..<2 { held.clients.append(try openEchoingClient(chaos.address, tag: "frozen stop \(i)")) }
            }
            chaos.proxy.setRules([.everyCall(.hang)])
            let (status, elapsed) = try await onThread { () throws -> (ExitStatus?, Duration) in
                let start = ContinuousClock.now
                chaos.ganger.process.send(SIGTERM)
                return (chaos.ganger.waitForExit(timeout: .seconds(60)), ContinuousClock.now - start)
            }
            #expect(status == .exited(2), "\(String(describing: status)) after \(elapsed)\n\(chaos.ganger.log.suffix(4000))")
            #expect(elapsed < .seconds(40), "exited after \(elapsed)")
            #expect(chaos.ganger.stderr.contains("shut down without removing everything"), "\(chaos.ganger.stderr.suffix(2000))")
            #expect(chaos.ganger.stderr.contains("answered none: given up"), "\(chaos.ganger.stderr.suffix(2000))")
            // The daemon answers again: the stop left the two sessions' containers (their removals
            // never reached dockerd); the next start of the instance removes them.
            chaos.proxy.setRules([])
            let left = try await onThread { try DockerCLI.containers(instance: chaos.instance) }
            #expect(left.count >= 2, "containers of the instance after the stop: \(left)")
            let yaml = gangerConfig(instance: chaos.instance, services: [.echo()], maxContainers: 16, daemonURL: chaos.proxy.url)
            let next = try await onThread { try GangerProcess(instance: chaos.instance, yaml: yaml) }
            _ = try await onThread { try next.waitUntilListening(["echo"]) }
            let after = try await onThread { try waitForNoContainers(labels: ["ganger.instance=\(chaos.instance)"], timeout: .seconds(20)) }
            #expect(after.isEmpty, "left after the next start: \(after)\n\(next.log.suffix(3000))")
            let stopped = try await onThread { try next.terminate(signal: SIGTERM, timeout: .seconds(20)) }
            #expect(stopped == .exited(0), "the next one's stop: \(stopped)")
        }
    }

    @Test func eventStreamCutMidChunk_reconnected_aKilledContainersExitCodeStillSeen() async throws {
        // The first /events stream is cut in the middle of its first event (the first session's
        // create); the stream Ganger opens again must carry the `die` of a container killed
        // mid-session, whose exit code lands in the session's end reason.
        try await withProxiedGanger("events", startRules: [.init("GET", "/events", calls: [1], .cutMidChunk)], rules: []) { chaos in
            let reconnected = try await onThread {
                poll(timeout: .seconds(10), interval: .milliseconds(100)) { chaos.proxy.calls("GET", "/events") >= 2 }
            }
            #expect(reconnected, "no second /events call\n\(chaos.proxy.history)")
            #expect(chaos.proxy.history.contains("→ cut mid-chunk"), "the fault never hit")
            let (end, reasons) = try await onThread { () throws -> (Client.End, [String]) in
                let client = try Client(chaos.address)
                defer { client.close() }
                let payload = Array("before the kill\n".utf8)
                try client.sendAll(payload)
                guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }
                let mine = try DockerCLI.containers(labels: ["ganger.instance=\(chaos.instance)", "ganger.client=\(client.localAddress)"])
                guard mine.count == 1 else { throw HarnessError("\(mine.count) containers for the session") }
                try DockerCLI.docker(["kill", mine[0]])
                let (_, end) = try client.receiveAll(timeout: .seconds(15))
                // The service's end reached the client as EOF; the session ends with the client's
                // close, its reason carrying what the `die` event said.
                client.close()
                var reasons: [String] = []
                _ = try poll(timeout: .seconds(10), interval: .milliseconds(100)) {
                    reasons = try chaos.ganger.status().recentSessions.map(\.reason)
                    return reasons.contains { $0.contains("exit code 137") }
                }
                return (end, reasons)
            }
            #expect(end != .timedOut, "the killed session's client was not closed")
            #expect(reasons.contains { $0.contains("exit code 137") }, "no exit code from the events after the cut: \(reasons)\n\(chaos.ganger.log)\n--- proxy ---\n\(chaos.proxy.history)")
            let after = try await chaosClients(2, chaos.address)
            #expect(after.allSatisfy { $0 == .echoed }, "\(after)")
        }
    }
}
