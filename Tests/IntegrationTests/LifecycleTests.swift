import GangerCore
import Glibc
import Synchronization
import Testing
import TestSupport

/// A connection's life as docs/operations.md promises it, judged from outside against the real
/// dockerd: the warm pool and reuse, session limits, the client's address inside the container,
/// SIGHUP reloads, Docker's events, and a long churn that must leave nothing behind.
///
/// Same rules as GangerRunTests: an instance name per test, loopback and kernel-chosen ports,
/// every wait bounded, teardown (SIGTERM, `docker rm -f` of the instance, none left) whatever
/// happens. Serialized: two cores, and the timings below must not measure other tests' load.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct LifecycleTests {
    // MARK: 1. Warm pool

    @Test func warmPool2_twoReadyAfterStartup_aClientIsServedByOne_itIsRemoved_andThePoolRefillsTo2() async throws {
        let instance = uniqueInstance("pool")
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                                                            extra: ["pool: {warm: 2}"])])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread {
                let pooled = try waitForFullPool(ganger, instance: instance, size: 2)
                let running = try runningContainers(instance: instance)
                guard Set(running) == Set(pooled) else { throw HarnessError("not all pooled containers run: \(running) of \(pooled)") }
                let labelled = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client"])
                guard labelled.isEmpty else { throw HarnessError("pooled containers carry a ganger.client label: \(labelled)") }

                let client = try Client(address)
                let payload = Array("warm \(instance)\n".utf8) + randomBytes(8 << 10)
                try client.sendAll(payload)
                guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }
                // While it is served: still no container of the instance has a client label.
                let labelledNow = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client"])
                guard labelledNow.isEmpty else { throw HarnessError("a container with a ganger.client label served a warm session: \(labelledNow)") }
                try client.shutdownWrite()
                let (rest, end) = try client.receiveAll(timeout: .seconds(10))
                guard rest.isEmpty, end == .eof else { throw HarnessError("after the half-close: \(rest.count) bytes, \(end)") }
                client.close()

                let (ended, recorded) = try ganger.waitForStatus(timeout: .seconds(10)) { $0.recentSessions.count == 1 }
                guard recorded else { throw HarnessError("no recent session 10 s after the session ended") }
                let record = ended.recentSessions[0]
                guard let served = pooled.first(where: { !record.container.isEmpty && $0.hasPrefix(record.container) }) else {
                    throw HarnessError("session served by \(record.container), not by a pooled container \(pooled)")
                }
                try check(record.reason == "client closed", "reason \(record.reason)")
                try check(record.bytesIn == UInt64(payload.count) && record.bytesOut == UInt64(payload.count), "bytes \(record.bytesIn)/\(record.bytesOut), sent \(payload.count)")

                // Its container removed; the pool back to 2 ready, the other one kept.
                var now: [String] = []
                var last = ended
                let refilled = try poll(timeout: .seconds(30), interval: .milliseconds(100)) {
                    now = try DockerCLI.containers(instance: instance)
                    last = try ganger.status()
                    return now.count == 2 && !now.contains(served) && last.services[0].poolReady == 2
                }
                try check(refilled, "30 s after the session: containers \(now) (served by \(served)), poolReady \(last.services[0].poolReady)")
                try check(now.contains { pooled.contains($0) && $0 != served }, "the unused pooled container was replaced too: \(now)")
                try check(last.services[0].ttfbWarm.count == 1, "ttfbWarm.count \(last.services[0].ttfbWarm.count) after one warm session")
                try check(last.services[0].ttfbCold.count == 0, "ttfbCold.count \(last.services[0].ttfbCold.count) after one warm session")
            }
        }
    }

    @Test func warmPool1Reuse3_threeSessionsOnOneContainer_theFourthOnANewOne() async throws {
        let instance = uniqueInstance("reuse")
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                                                            extra: ["pool: {warm: 1, reuse: 3}"])])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread {
                let initial = try waitForFullPool(ganger, instance: instance, size: 1)
                let first = initial[0]
                var seen: [[String]] = []
                for i in 0..<4 {
                    let client = try Client(address)
                    let payload = Array("reuse \(i)\n".utf8) + randomBytes(4096)
                    try client.sendAll(payload)
                    guard try client.receive(count: payload.count) == payload else { throw HarnessError("session \(i): echo differs") }
                    let during = try DockerCLI.containers(instance: instance)
                    seen.append(during)
                    if i < 2 {
                        // A container that will serve again is not replaced while it serves.
                        guard during == [first] else { throw HarnessError("session \(i): containers \(during), expected only \(first)") }
                    }
                    try client.shutdownWrite()
                    _ = try client.receiveAll(timeout: .seconds(10))
                    client.close()
                    let (after, recorded) = try ganger.waitForStatus(timeout: .seconds(10)) { $0.recentSessions.count == i + 1 }
                    guard recorded else { throw HarnessError("session \(i) not in recentSessions") }
                    let container = after.recentSessions[0].container
                    if i < 3 {
                        guard !container.isEmpty, first.hasPrefix(container) else {
                            throw HarnessError("session \(i) served by \(container), expected \(first) (seen: \(seen))")
                        }
                    } else {
                        try check(!first.hasPrefix(container), "the 4th session was served by the thrice-used \(first) too")
                    }
                    if i < 2 {
                        // Back in the pool, the one container, ready again.
                        var now: [String] = []
                        let back = try poll(timeout: .seconds(10), interval: .milliseconds(50)) {
                            now = try DockerCLI.containers(instance: instance)
                            return try ganger.status().services[0].poolReady == 1 && now == [first]
                        }
                        guard back else { throw HarnessError("after session \(i): containers \(now), expected \(first) ready again") }
                    } else if i == 2 {
                        // Served 3 times: removed, a fresh one takes its place.
                        var now: [String] = []
                        let replaced = try poll(timeout: .seconds(30), interval: .milliseconds(100)) {
                            now = try DockerCLI.containers(instance: instance)
                            return try now.count == 1 && now != [first] && ganger.status().services[0].poolReady == 1
                        }
                        guard replaced else { throw HarnessError("after the 3rd session: containers \(now), expected one new") }
                    }
                }
            }
        }
    }

    /// Two services share a daemon capped at one container; `pooled` keeps one warm. A client of
    /// `plain` must not wait behind that idle container: it is removed for the client, the
    /// client is served on a fresh container, and the pool refills once nobody waits.
    @Test func anIdleWarmContainerOfAnotherService_yieldsItsSlotToAWaitingClient() async throws {
        let instance = uniqueInstance("evict")
        let yaml = gangerConfig(instance: instance, services: [
            ServiceYAML(name: "pooled", image: "ganger-echo:latest", extra: ["pool: {warm: 1}"]),
            ServiceYAML(name: "plain", image: "ganger-echo:latest", extra: ["queue: {timeout: 0s}"]),
        ], maxContainers: 1)
        try await withGanger(instance: instance, yaml: yaml, services: ["pooled", "plain"]) { ganger, addresses in
            let address = try #require(addresses["plain"])
            try await onThread {
                let pooled = try waitForFullPool(ganger, instance: instance, size: 1)
                let client = try Client(address)
                defer { client.close() }
                let payload = Array("evict \(instance)\n".utf8) + randomBytes(4 << 10)
                try client.sendAll(payload)
                // Without the eviction this waits forever (queue timeout 0); 30 s is the bound.
                guard try client.receive(count: payload.count, timeout: .seconds(30)) == payload else { throw HarnessError("echo differs") }
                let serving = try DockerCLI.containers(instance: instance)
                try check(serving.count == 1 && !serving.contains(pooled[0]), "while plain is served: \(serving), pooled was \(pooled)")
                try client.shutdownWrite()
                let (rest, end) = try client.receiveAll(timeout: .seconds(10))
                try check(rest.isEmpty && end == .eof, "after the half-close: \(rest.count) bytes, \(end)")
                // Nobody waits now: the pool takes the slot back.
                let (refilled, ok) = try ganger.waitForStatus(timeout: .seconds(30)) { $0.services[0].poolReady == 1 }
                try check(ok, "poolReady \(refilled.services[0].poolReady) 30 s after the plain session ended")
                let now = try DockerCLI.containers(instance: instance)
                try check(now.count == 1 && !now.contains(pooled[0]), "after the refill: \(now)")
            }
        }
    }

    // MARK: 2. A pooled container dies

    @Test func pooledContainerKilled_isReplaced_poolFullAgainWithANewID() async throws {
        let instance = uniqueInstance("pooldies")
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                                                            extra: ["pool: {warm: 2}"])])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread {
                let pooled = try waitForFullPool(ganger, instance: instance, size: 2)
                let victim = pooled[0]
                try DockerCLI.docker(["kill", victim])
                var now: [String] = []
                var poolReady = -1
                let replaced = try poll(timeout: .seconds(30), interval: .milliseconds(100)) {
                    now = try DockerCLI.containers(instance: instance)
                    poolReady = try ganger.status().services[0].poolReady
                    return now.count == 2 && !now.contains(victim) && now.contains(pooled[1]) && poolReady == 2
                }
                try check(replaced, "30 s after docker kill \(victim): containers \(now), poolReady \(poolReady)")
                try check(ganger.stderr.contains("warm pool: container dropped"), "no log line about the dropped container")
                // And the pool still serves.
                try echoSession(address, payload: Array("after the kill\n".utf8))
            }
        }
    }

    // MARK: 3. Session limits

    @Test func maxDuration1s_andIdleTimeout500ms_closeASilentClient_andRemoveTheContainer() async throws {
        let instance = uniqueInstance("limits")
        let yaml = gangerConfig(instance: instance, services: [
            ServiceYAML(name: "maxdur", image: "ganger-echo:latest", extra: ["session: {max_duration: 1s}"]),
            ServiceYAML(name: "idle", image: "ganger-echo:latest", extra: ["session: {idle_timeout: 500ms}"]),
        ])
        try await withGanger(instance: instance, yaml: yaml, services: ["maxdur", "idle"]) { ganger, addresses in
            for (service, limit, reason, lower) in [("maxdur", 1.0, "max duration", 0.8), ("idle", 0.5, "idle timeout", 0.4)] {
                let address = try #require(addresses[service])
                let (local, bytes, end, elapsed) = try await onThread { try silentClient(address, timeout: .seconds(20)) }
                #expect(end != .timedOut, "\(service): a silent client still open after \(elapsed)")
                #expect(bytes.isEmpty, "\(service): \(bytes.count) bytes from an echo service that got none")
                #expect(elapsed.seconds >= lower && elapsed.seconds < 5, "\(service) (\(limit) s): closed after \(elapsed)")
                let (snapshot, found) = try await onThread {
                    try ganger.waitForStatus(timeout: .seconds(10)) { $0.recentSessions.contains { $0.client == local } }
                }
                let record = snapshot.recentSessions.first { $0.client == local }
                #expect(found && record?.reason == reason, "\(service): recent session \(String(describing: record)), expected \(reason)")
                if let record { #expect(record.durationSeconds >= limit, "\(service): duration \(record.durationSeconds) s < \(limit) s") }
                let left = try await onThread {
                    try waitForNoContainers(labels: ["ganger.instance=\(instance)", "ganger.service=\(service)"], timeout: .seconds(20))
                }
                #expect(left.isEmpty, "\(service): containers left 20 s after the limit closed the session: \(left)")
            }
        }
    }

    // MARK: 4. The client's address inside the container

    @Test func clientAddress_env_proxyV1_proxyV2_theContainerSeesTheClientsOwnAddress() async throws {
        let instance = uniqueInstance("clientaddr")
        func serving(_ script: String) -> String {
            "command: [\"/bin/nc\", \"-ll\", \"-p\", \"12345\", \"-e\", \"/bin/sh\", \"-c\", \"\(script)\"]"
        }
        let yaml = gangerConfig(instance: instance, services: [
            // busybox nc -e: everything after -e is the program and its arguments (it must come last).
            ServiceYAML(name: "env", image: "ganger-echo:latest", extra: ["client_address: env", serving("echo $GANGER_CLIENT_ADDR")]),
            // The first line the service receives: the PROXY v1 header.
            ServiceYAML(name: "v1", image: "ganger-echo:latest", extra: ["client_address: proxy-v1", serving("head -n 1")]),
            // The first 28 bytes (a v2 header for IPv4), decoded inside the container as hex.
            ServiceYAML(name: "v2", image: "ganger-echo:latest", extra: ["client_address: proxy-v2", serving("head -c 28 | od -An -v -tx1")]),
        ])
        try await withGanger(instance: instance, yaml: yaml, services: ["env", "v1", "v2"]) { ganger, addresses in
            let env = try #require(addresses["env"])
            let v1 = try #require(addresses["v1"])
            let v2 = try #require(addresses["v2"])

            let (envLocal, envBytes, envEnd, _) = try await onThread { try silentClient(env) }
            #expect(envEnd == .eof)
            #expect(String(decoding: envBytes, as: UTF8.self) == envLocal + "\n",
                    "GANGER_CLIENT_ADDR inside the container: \(String(decoding: envBytes, as: UTF8.self).debugDescription), client is \(envLocal)")

            let (v1Local, v1Bytes, v1End, _) = try await onThread { try silentClient(v1) }
            #expect(v1End == .eof)
            let v1Expected = "PROXY TCP4 127.0.0.1 127.0.0.1 \(port(of: v1Local)) \(port(of: v1))\r\n"
            #expect(String(decoding: v1Bytes, as: UTF8.self) == v1Expected,
                    "first line in the container: \(String(decoding: v1Bytes, as: UTF8.self).debugDescription), expected \(v1Expected.debugDescription)")

            let (v2Local, v2Bytes, v2End, _) = try await onThread { try silentClient(v2) }
            #expect(v2End == .eof)
            let seen = String(decoding: v2Bytes, as: UTF8.self).filter { !$0.isWhitespace }
            func be16(_ text: String) -> [UInt8] {
                let value = UInt16(text)!
                return [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
            let expected = signature + [0x21, 0x11, 0x00, 12] + [127, 0, 0, 1] + [127, 0, 0, 1] + be16(port(of: v2Local)) + be16(port(of: v2))
            #expect(seen == hex(expected), "v2 header as the container read it: \(seen), expected \(hex(expected))")
            // Field by field, so a failure says which one.
            if seen.count == 56 {
                let bytes = stride(from: 0, to: 56, by: 2).map { UInt8(seen.dropFirst($0).prefix(2), radix: 16) ?? 0 }
                #expect(Array(bytes[0..<12]) == signature, "signature")
                #expect(bytes[12] == 0x21 && bytes[13] == 0x11, "version/command \(bytes[12]), family \(bytes[13])")
                #expect(Int(bytes[14]) << 8 | Int(bytes[15]) == 12, "address length")
                #expect(Array(bytes[16..<24]) == [127, 0, 0, 1, 127, 0, 0, 1], "addresses")
                #expect(Array(bytes[24..<28]) == be16(port(of: v2Local)) + be16(port(of: v2)), "ports")
            }
            _ = ganger
        }
    }

    // MARK: 5. SIGHUP

    @Test func sighup_newSessionsUseTheNewImage_aHeldSessionIsUntouched_anInvalidFileKeepsTheLastGoodConfig() async throws {
        let instance = uniqueInstance("reload")
        let first = gangerConfig(instance: instance, services: [.echo()])
        let second = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-sink-reply:latest")])
        let invalid = second.replacing("port: 12345", with: "port: 70000")
        try await withGanger(instance: instance, yaml: first, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = try await onThread { () throws -> HeldSession in try HeldSession(address, instance: instance) }
            defer { held.client.close() }
            #expect(try await onThread { try DockerCLI.inspect(held.container, format: "{{.Config.Image}}") } == "ganger-echo:latest")

            try await onThread { try ganger.rewriteConfig(second) }
            ganger.process.send(SIGHUP)
            let reloaded = try await onThread { ganger.waitForLog("configuration reloaded") }
            #expect(reloaded, "no `configuration reloaded` line 10 s after SIGHUP")

            try await onThread { try held.echo("held across the reload\n") }
            let newImage = try await onThread { try imageOfANewSession(address, instance: instance) }
            #expect(newImage == "ganger-sink-reply:latest", "a session after the reload ran \(newImage)")

            try await onThread { try ganger.rewriteConfig(invalid) }
            ganger.process.send(SIGHUP)
            let refused = try await onThread { ganger.waitForLog("reload refused") }
            #expect(refused, "no `reload refused` line 10 s after SIGHUP with an invalid file")
            let refusal = ganger.stderr.split(separator: "\n").first { $0.contains("reload refused") }.map(String.init) ?? ""
            #expect(refusal.contains("services[0].port") && refusal.contains("70000"), "the refusal does not name the error: \(refusal)")
            #expect(!ganger.hasExited, "ganger exited on an invalid reload")

            let keptImage = try await onThread { try imageOfANewSession(address, instance: instance) }
            #expect(keptImage == "ganger-sink-reply:latest", "after an invalid reload a new session ran \(keptImage)")
            try await onThread { try held.echo("held after the invalid reload\n") }
        }
    }

    @Test func sighup_aPooledContainerOnLoanDuringTheReload_isNotReusedWithTheOldSettings() async throws {
        let instance = uniqueInstance("reload-loan")
        let pool = ["pool: {warm: 1, reuse: 3}"]
        let first = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: pool)])
        let second = gangerConfig(instance: instance, services: [ServiceYAML(name: "echo", image: "ganger-sink-reply:latest", extra: pool)])
        try await withGanger(instance: instance, yaml: first, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread {
                let loaned = try waitForFullPool(ganger, instance: instance, size: 1)
                // The pooled container serves this session and, with reuse 3, would come back.
                let held = try Client(address)
                let payload = Array("on loan\n".utf8)
                try held.sendAll(payload)
                guard try held.receive(count: payload.count) == payload else { throw HarnessError("held session: echo differs") }

                try ganger.rewriteConfig(second)
                ganger.process.send(SIGHUP)
                guard ganger.waitForLog("configuration reloaded") else { throw HarnessError("no reload 10 s after SIGHUP") }
                try held.shutdownWrite()
                _ = try held.receiveAll(timeout: .seconds(10))
                held.close()

                // It was made with the old image: removed, not put back in the pool.
                var now: [String] = []
                let gone = try poll(timeout: .seconds(15), interval: .milliseconds(50)) {
                    now = try DockerCLI.containers(instance: instance)
                    return !now.contains(loaned[0])
                }
                try check(gone, "the container lent before the reload is still there 15 s after its session: \(now)")
                let client = try Client(address)
                defer { client.close() }
                try client.sendAll(payload)
                // sink-reply answers at EOF: look at the containers while the session is open.
                var images: [String] = []
                _ = try poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                    images = try DockerCLI.containers(instance: instance).map { try DockerCLI.inspect($0, format: "{{.Config.Image}}") }
                    return !images.isEmpty
                }
                try check(!images.isEmpty && images.allSatisfy { $0 == "ganger-sink-reply:latest" },
                          "containers of the instance after the reload run \(images)")
                try client.shutdownWrite()
                let (back, end) = try client.receiveAll(timeout: .seconds(20))
                try check(back == payload && end == .eof, "new session: \(back.count) of \(payload.count) bytes back, \(end)")
            }
        }
    }

    // MARK: 6. Docker events

    @Test func containerKilledMidSession_theSessionEnds_andItsReasonCarriesTheExitCode() async throws {
        let instance = uniqueInstance("killed")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let (local, end, elapsed) = try await onThread { () throws -> (String, Client.End, Duration) in
                let held = try HeldSession(address, instance: instance)
                defer { held.client.close() }
                let start = ContinuousClock.now
                try DockerCLI.docker(["kill", held.container])
                let (_, end) = try held.client.receiveAll(timeout: .seconds(15))
                return (held.client.localAddress, end, ContinuousClock.now - start)
            }
            #expect(end != .timedOut, "the session outlived its container by 15 s")
            #expect(elapsed < .seconds(10), "session ended \(elapsed) after docker kill")
            let (snapshot, found) = try await onThread {
                try ganger.waitForStatus(timeout: .seconds(10)) { $0.recentSessions.contains { $0.client == local } }
            }
            let reason = snapshot.recentSessions.first { $0.client == local }?.reason ?? "(none)"
            #expect(found && reason.contains("(container: exit code 137)"), "end reason: \(reason)\n\(ganger.log)")
            let left = try await onThread { try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(20)) }
            #expect(left.isEmpty, "containers left: \(left)")
        }
    }

    // MARK: 7. Churn

    @Test(.timeLimit(.minutes(5)))
    func churn300Sessions8AtATime_nothingLeft_andGangersRSSFlatFromSession50To300() async throws {
        let instance = uniqueInstance("churn")
        let yaml = gangerConfig(instance: instance, services: [.echo()], maxContainers: 16)
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let next = Mutex<Int>(0)
            let started = ContinuousClock.now
            /// Sessions up to index `end` (exclusive), 8 clients at a time; returns failures.
            func sessions(upTo end: Int) async throws -> [String] {
                try await onThreads(8) { _ -> [String] in
                    var failures: [String] = []
                    while true {
                        let i = next.withLock { value -> Int in
                            defer { if value < end { value += 1 } }
                            return value
                        }
                        guard i < end else { return failures }
                        let payload = Array("churn \(i)\n".utf8) + randomBytes(8 << 10)
                        do { try echoSession(address, payload: payload, timeout: .seconds(30)) } catch { failures.append("session \(i): \(error)") }
                    }
                }.flatMap { $0 }
            }
            func settledRSS() async throws -> (Int, [String]) {
                try await onThread {
                    let left = try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(30))
                    usleep(500_000)
                    return (try ganger.residentKiB(), left)
                }
            }
            let early = try await sessions(upTo: 50)
            let (rss50, left50) = try await settledRSS()
            let late = try await sessions(upTo: 300)
            let (rss300, left300) = try await settledRSS()
            let elapsed = ContinuousClock.now - started
            let failures = early + late
            #expect(failures.isEmpty, "\(failures.count) of 300 failed:\n\(failures.prefix(10).joined(separator: "\n"))")
            #expect(left50.isEmpty && left300.isEmpty, "containers left after 50: \(left50), after 300: \(left300)")
            #expect(rss300 - rss50 <= 8 << 10, "ganger VmRSS \(rss50) KiB after 50 sessions, \(rss300) KiB after 300 (+\(rss300 - rss50) KiB)")
            let snapshot = try await onThread { try ganger.status() }
            #expect(snapshot.services[0].sessionsTotal == 300)
            #expect(snapshot.services[0].endReasons["client closed"] == 300, "end reasons: \(snapshot.services[0].endReasons)")
            print("churn: 300 sessions in \(elapsed); ganger VmRSS \(rss50) KiB after 50, \(rss300) KiB after 300")
        }
    }
}

/// `#expect` for code on a thread of our own (`onThread`): Swift Testing attributes an issue
/// recorded there to no test, so a failed check throws instead, and the test fails with it.
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw HarnessError(message()) }
}

/// `docker ps -q` (running only) of an instance.
func runningContainers(instance: String) throws -> [String] {
    try DockerCLI.docker(["ps", "-q", "--no-trunc", "--filter", "label=ganger.instance=\(instance)"]).split(separator: "\n").map(String.init)
}

/// An open echo session and its container (found by its ganger.client label).
final class HeldSession: @unchecked Sendable {  // the client is used by one thread at a time
    let client: Client
    let container: String

    init(_ address: String, instance: String) throws {
        client = try Client(address)
        let payload = Array("hello\n".utf8)
        try client.sendAll(payload)
        guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }
        let mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
        guard mine.count == 1 else { throw HarnessError("\(mine.count) containers for \(client.localAddress): \(mine)") }
        container = mine[0]
    }

    /// One round trip on the held session.
    func echo(_ text: String) throws {
        let bytes = Array(text.utf8)
        try client.sendAll(bytes)
        let back = try client.receive(count: bytes.count, timeout: .seconds(10))
        guard back == bytes else { throw HarnessError("held session: sent \(text.debugDescription), got \(String(decoding: back, as: UTF8.self).debugDescription)") }
    }
}

/// Waits (30 s) until the service's warm pool reports `size` ready containers, and returns the
/// instance's containers, which must be exactly those `size`.
func waitForFullPool(_ ganger: GangerProcess, instance: String, size: Int) throws -> [String] {
    let (ready, ok) = try ganger.waitForStatus(timeout: .seconds(30)) { $0.services[0].poolReady == size }
    guard ok else { throw HarnessError("poolReady \(ready.services[0].poolReady) 30 s after startup, expected \(size)") }
    let pooled = try DockerCLI.containers(instance: instance)
    guard pooled.count == size else { throw HarnessError("poolReady \(size) but \(pooled.count) containers: \(pooled)") }
    return pooled
}

/// Opens a session, sends a payload (not yet EOF: the container is still up), reads the image
/// of the session's container, then half-closes and expects the payload back (echo and
/// sink-reply both return it after EOF).
func imageOfANewSession(_ address: String, instance: String) throws -> String {
    let client = try Client(address)
    defer { client.close() }
    let payload = Array("which image\n".utf8) + randomBytes(1024)
    try client.sendAll(payload)
    var mine: [String] = []
    _ = try poll(timeout: .seconds(20), interval: .milliseconds(50)) {
        mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
        return !mine.isEmpty
    }
    guard mine.count == 1 else { throw HarnessError("\(mine.count) containers for \(client.localAddress): \(mine)") }
    let image = try DockerCLI.inspect(mine[0], format: "{{.Config.Image}}")
    try client.shutdownWrite()
    let (back, end) = try client.receiveAll(timeout: .seconds(20))
    guard back == payload, end == .eof else { throw HarnessError("session on \(image): \(back.count) of \(payload.count) bytes back, \(end)") }
    return image
}
