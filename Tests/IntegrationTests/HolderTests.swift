import Glibc
import Testing
import TestSupport

/// `netns.mode: holder` against the real dockerd: session containers join pre-started network
/// holders (`NetworkMode: container:<holder>`), holders are replaced and cleaned up.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HolderTests {
    /// Holders of `instance` (label ganger.role=holder).
    private func holders(_ instance: String) throws -> [String] {
        try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.role=holder"])
    }

    /// Waits until ganger itself reports `count` holders ready (containers exist before they are
    /// started and ready, so `docker ps` alone would race the first session onto the normal path).
    private func waitHoldersReady(_ ganger: GangerProcess, _ count: Int) throws {
        guard let line = ganger.stdout.split(separator: "\n").first(where: { $0.hasPrefix("ganger: status on http://") }) else {
            throw HarnessError("no status line")
        }
        let address = String(line.dropFirst("ganger: status on http://".count).dropLast())
        let ok = try poll(timeout: .seconds(30)) {
            let client = try Client(address)
            defer { client.close() }
            try client.sendAll(Array("GET /status.json HTTP/1.0\r\n\r\n".utf8))
            return String(decoding: try client.receiveAll(timeout: .seconds(5)).bytes, as: UTF8.self).contains("\"holdersReady\":\(count)")
        }
        guard ok else { throw HarnessError("ganger never reported \(count) holders ready") }
    }

    /// `start_wait: 0s` by default: these tests count which path a session took when no holder
    /// is ready, which a wait for a holder being started would make a matter of timing.
    private func echoService(holders: Int, startWait: String = "0s") -> ServiceYAML {
        ServiceYAML(name: "echo", image: "ganger-echo:latest",
                    extra: ["netns: {mode: holder, holders: \(holders), reuse: 1, start_wait: \(startWait)}"])
    }

    /// Ganger with one service, its address, on a thread of its own once `holders` are ready.
    private func withHolders(_ name: String, _ service: ServiceYAML, holders: Int,
                             _ body: @escaping @Sendable (_ instance: String, GangerProcess, String) throws -> Void) async throws {
        let instance = uniqueInstance(name)
        let yaml = gangerConfig(instance: instance, services: [service])
        try await withGanger(instance: instance, yaml: yaml, services: [service.name]) { ganger, addresses in
            let address = try #require(addresses[service.name])
            try await onThread {
                try self.waitHoldersReady(ganger, holders)
                try body(instance, ganger, address)
            }
        }
    }

    private func shellService(reuse: Int, holders: Int = 2) -> ServiceYAML {
        ServiceYAML(name: "sh", image: "ganger-echo:latest", extra: [
            #"command: ["/bin/nc", "-ll", "-p", "12345", "-e", "/bin/sh"]"#,
            "netns: {mode: holder, holders: \(holders), reuse: \(reuse)}",
        ])
    }

    /// Runs `script` in a session's shell; returns what it printed, the session's container
    /// and its network mode (read while the session is open).
    private func shellSession(_ address: String, instance: String, _ script: String) throws -> (output: String, container: String, networkMode: String) {
        let client = try Client(address)
        defer { client.close() }
        try client.sendAll(Array((script + "\necho __mark__\n").utf8))
        var seen: [UInt8] = []
        while !String(decoding: seen, as: UTF8.self).contains("__mark__") {
            seen += try client.receive(count: 1, timeout: .seconds(20))
        }
        let mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
        guard mine.count == 1 else { throw HarnessError("\(mine.count) session containers for \(client.localAddress)") }
        let mode = try DockerCLI.inspect(mine[0], format: "{{.HostConfig.NetworkMode}}")
        try client.sendAll(Array("exit\n".utf8))
        _ = try? client.receiveAll(timeout: .seconds(10))
        return (String(decoding: seen, as: UTF8.self), mine[0], mode)
    }

    @Test func sessionsThroughHolders_carryBytesIntact_joinAHolder_andAreCountedByPath() async throws {
        try await withHolders("holders", echoService(holders: 2), holders: 2) { instance, ganger, address in
            let before = Set(try self.holders(instance))
            for i in 0..<3 {
                let client = try Client(address)
                let payload = Array("holder session \(i)\n".utf8) + randomBytes(32 << 10)
                try client.sendAll(payload)
                guard try client.receive(count: payload.count) == payload else { throw HarnessError("echo differs") }
            // Sessions come faster than holders are replaced: wait for a ready one each time.
                let mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
                let mode = try DockerCLI.inspect(try #require(mine.first), format: "{{.HostConfig.NetworkMode}}")
                guard mode.hasPrefix("container:") else { throw HarnessError("session \(i) not in a holder: \(mode)") }
                client.close()
                try self.waitHoldersReady(ganger, 2)
            }
            // reuse 1: every used holder is replaced; the pool is back to 2, with new ids.
            _ = try poll(timeout: .seconds(30)) { try self.holders(instance).count == 2 && Set(try self.holders(instance)) != before }
            #expect(try self.holders(instance).count == 2)

            // Ganger's own counters moved by exactly the 3 sessions, all on the fast path, and
            // each used holder was retired once its session's container was gone.
            let (sequential, retired) = try ganger.waitForStatus(timeout: .seconds(30)) { $0.services[0].holdersRetired == 3 }
            #expect(retired, "holdersRetired \(sequential.services[0].holdersRetired ?? -1), expected 3")
            let echo = sequential.services[0]
            #expect(echo.sessionsTotal == 3)
            #expect(echo.holderSessions == 3)
            #expect(echo.holderFallbackSessions == 0)
            #expect(echo.holdersDiscarded == 0)
            #expect(echo.holdersPerDaemon == 2)

            // Three clients at once with two holders ready: two take the fast path, the third
            // finds none (refills take a container start) and takes the normal path.
            try self.waitHoldersReady(ganger, 2)
            let burst = try (0..<3).map { _ in try Client(address) }
            for (i, client) in burst.enumerated() { try client.sendAll(Array("burst \(i)\n".utf8)) }
            for (i, client) in burst.enumerated() {
                guard try client.receive(count: "burst \(i)\n".utf8.count) == Array("burst \(i)\n".utf8) else {
                    throw HarnessError("burst echo \(i) differs")
                }
                client.close()
            }
            let (after, counted) = try ganger.waitForStatus(timeout: .seconds(30)) {
                ($0.services[0].holderSessions ?? 0) + ($0.services[0].holderFallbackSessions ?? 0) == 6
            }
            #expect(counted)
            #expect(after.services[0].sessionsTotal == 6)
            #expect(after.services[0].holderSessions == 5)
            #expect(after.services[0].holderFallbackSessions == 1)
            let metrics = try ganger.statusGet("/metrics").body
            #expect(metrics.contains("ganger_holder_sessions_total{service=\"echo\",path=\"holder\"} 5\n"))
            #expect(metrics.contains("ganger_holder_sessions_total{service=\"echo\",path=\"normal\"} 1\n"))
            #expect(metrics.contains("ganger_holders_per_daemon{service=\"echo\"} 2\n"))
            // 5 of 6 cold sessions through a holder.
            #expect(try ganger.statusGet("/").body.contains("<td class=\"n\">5</td><td class=\"n\">1</td><td class=\"n\">83.3 %</td>"))
        }
    }

    /// The replacement of a taken holder is created only once the session's container has
    /// started: its own start (a network setup) would otherwise slow the client's (bench (i)).
    @Test func replacementHolder_isCreatedAfterTheSessionsContainerStarted() async throws {
        try await withHolders("holder-order", echoService(holders: 1), holders: 1) { instance, ganger, address in
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let nanos = String(now.tv_nsec)
            let since = "\(now.tv_sec)." + String(repeating: "0", count: 9 - nanos.count) + nanos
            let client = try Client(address)
            try client.sendAll(Array("order\n".utf8))
            #expect(try client.receive(count: 6) == Array("order\n".utf8))
            client.close()
            try self.waitHoldersReady(ganger, 1)
            clock_gettime(CLOCK_REALTIME, &now)
            let events = try DockerCLI.docker([
                "events", "--since", since, "--until", "\(now.tv_sec + 1)",
                "--filter", "label=ganger.instance=\(instance)", "--filter", "type=container",
                "--format", #"{{.Action}} {{index .Actor.Attributes "ganger.role"}}"#,
            ]).split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
            let sessionStart = try #require(events.firstIndex(of: "start"), "no session start in \(events)")
            let holderCreate = try #require(events.firstIndex(of: "create holder"), "no replacement in \(events)")
            #expect(events.firstIndex(of: "create") ?? .max < sessionStart)
            #expect(sessionStart < holderCreate, "\(events)")
        }
    }

    /// The isolation argument of `netns.reuse > 1` (docs/operations.md, "Network holders";
    /// `Supervisor.stopThenRemove`), tried the way a hostile session would: the first session
    /// leaves a file, a background process, a listener and an open connection in the shared
    /// namespace, and tries to rewrite /etc/hosts, /etc/resolv.conf and /etc/hostname (files
    /// Docker shares with every container joining the holder, writable unless Ganger binds them
    /// read-only: before that, the next session resolved by the planted line). The second
    /// session, in the same holder, finds none of it; and it was created only after the first
    /// container died (the holder goes back once the container stopped, before its removal).
    @Test func reusedNamespace_secondSessionSeesNoFilesProcessesListenersOrConnections_andBindsItsPort() async throws {
        let instance = uniqueInstance("holder-reuse")
        // reuse 3: the first session keeps the holder counted, so no replacement starts beside
        // it (one would from the second-to-last session on) and the second client must reuse it.
        let yaml = gangerConfig(instance: instance, services: [shellService(reuse: 3, holders: 1)])
        try await withGanger(instance: instance, yaml: yaml, services: ["sh"]) { ganger, addresses in
            let address = try #require(addresses["sh"])
            try await onThread {
                try self.waitHoldersReady(ganger, 1)
                let since = Self.now()
                // Port 7777 is 1E61 in /proc/net/tcp; states 01 established, 08 close-wait, 0A listen.
                // The first session waits (≤ 10 s each, a loaded CI machine) for its listener and
                // its connection to show before it reports them.
                let sockets = #"cat /proc/net/tcp /proc/net/tcp6 | awk '$2 ~ /:1E61$/ || $3 ~ /:1E61$/ { print "sock=" $4 }'"#
                let first = try self.shellSession(address, instance: instance, """
                    echo secret > /tmp/left-behind; sleep 300 </dev/null >/dev/null 2>&1 &
                    nc -ll -p 7777 -e /bin/cat </dev/null >/dev/null 2>&1 &
                    i=0; while [ $i -lt 100 ] && ! \(sockets) | grep -q sock=0A; do sleep 0.1; i=$((i+1)); done
                    sleep 300 | nc 127.0.0.1 7777 >/dev/null 2>&1 &
                    i=0; while [ $i -lt 100 ] && ! \(sockets) | grep -q sock=01; do sleep 0.1; i=$((i+1)); done
                    \(sockets)
                    echo "6.6.6.6 bank.example" >> /etc/hosts; echo hosts=$?
                    echo "nameserver 6.6.6.6" >> /etc/resolv.conf; echo resolv=$?
                    echo planted > /etc/hostname; echo hostname=$?
                    """)
                // The setup worked: a listener and both ends of a connection on 7777; and the
                // shared files refused the writes.
                #expect(first.output.contains("sock=0A") && first.output.contains("sock=01"), "\(first.output)")
                for file in ["hosts", "resolv", "hostname"] {
                    #expect(first.output.contains("\(file)=1"), "/etc/\(file) took a write: \(first.output)")
                }
                try self.waitHoldersReady(ganger, 1)
                let second = try self.shellSession(address, instance: instance, """
                    ls /tmp; ps; echo files=$(ls /tmp | wc -l)
                    \(sockets)
                    echo planted=$(cat /etc/hosts /etc/resolv.conf /etc/hostname | grep -c -e 6.6.6.6 -e planted)
                    """)
                // Same namespace (the holder was reused), fresh filesystem and processes.
                #expect(first.networkMode.hasPrefix("container:"))
                #expect(second.networkMode == first.networkMode)
                #expect(!second.output.contains("left-behind"))
                #expect(!second.output.contains("sleep 300"))
                #expect(!second.output.contains("nc -ll -p 7777"))
                #expect(second.output.contains("files=0"))
                // Nothing listens on or holds 7777 any more (a TIME_WAIT remnant may show: the
                // kernel's, without a reader or data).
                #expect(!["sock=01", "sock=08", "sock=0A"].contains { second.output.contains($0) }, "\(second.output)")
                #expect(second.output.contains("planted=0"), "\(second.output)")
                // The second container was created only after the first one died.
                let events = try DockerCLI.docker([
                    "events", "--since", since, "--until", Self.now(),
                    "--filter", "label=ganger.instance=\(instance)", "--filter", "type=container", "--format", "{{.ID}} {{.Action}}",
                ]).split(separator: "\n").map(String.init)
                let died = try #require(events.firstIndex(of: "\(first.container) die"), "\(events)")
                let created = try #require(events.firstIndex(of: "\(second.container) create"), "\(events)")
                #expect(died < created, "\(events)")
            }
        }
    }

    /// A cold client that arrives while the only holder is on its way back (its previous
    /// session's container being stopped: the fault proxy holds Docker's answer to the kill for
    /// 2 s) waits for it (`netns.return_wait`) instead of taking the normal path: both sessions
    /// go through the holder, none on the normal path, and the second joins the same namespace.
    @Test func aClientArrivingWhileTheHolderIsBeingStopped_waitsForIt_andJoinsIt() async throws {
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                  extra: ["netns: {mode: holder, holders: 1, reuse: 3, return_wait: 10s}"])
        try await withHolderBehindProxy("holder-wait", service, .init("POST", "/containers/*/kill", .delay(.seconds(2)))) { instance, ganger, address, proxy in
            let (firstClient, first) = try self.echoInHolder(address, instance: instance, "first\n")
            firstClient.close()
            // The first session is over in Ganger; its container's kill is held at the proxy.
            try check(poll(timeout: .seconds(10)) { try ganger.status().services[0].sessionsCurrent == 0 },
                      "the first session did not end")
            try check(poll(timeout: .seconds(5)) { proxy.calls("POST", "/containers/*/kill") == 1 },
                      "no kill reached the proxy:\n\(proxy.history)")
            let (secondClient, second) = try self.echoInHolder(address, instance: instance, "second\n")
            secondClient.close()
            #expect(first.hasPrefix("container:") && second == first, "\(first) then \(second)")
            let status = try ganger.status().services[0]
            #expect(status.holderSessions == 2 && status.holderFallbackSessions == 0,
                    "through a holder \(String(describing: status.holderSessions)), normal path \(String(describing: status.holderFallbackSessions))")
        }
    }

    /// A cold client that finds the only holder taken and its replacement still starting (the
    /// fault proxy holds every container start for 2 s) waits for the replacement
    /// (`netns.start_wait`) instead of setting up a namespace of its own beside it: both sessions
    /// go through a holder, each its own, none on the normal path. With `start_wait: 0s` the
    /// second takes the normal path (checked by hand: fallback 1).
    @Test func aClientFindingTheReplacementStarting_waitsForIt_andJoinsIt() async throws {
        let service = echoService(holders: 1, startWait: "10s")
        try await withHolderBehindProxy("holder-startwait", service, .init("POST", "/containers/*/start", .delay(.seconds(2)))) { instance, ganger, address, _ in
            // The first session has started (its echo came back), so its holder's replacement
            // is being started, held at the proxy.
            let (first, firstMode) = try self.echoInHolder(address, instance: instance, "first\n")
            defer { first.close() }
            let (second, secondMode) = try self.echoInHolder(address, instance: instance, "second\n")
            second.close()
            #expect(firstMode.hasPrefix("container:") && secondMode.hasPrefix("container:") && secondMode != firstMode,
                    "\(firstMode) then \(secondMode)")
            let status = try ganger.status().services[0]
            #expect(status.holderSessions == 2 && status.holderFallbackSessions == 0,
                    "through a holder \(String(describing: status.holderSessions)), normal path \(String(describing: status.holderFallbackSessions))")
        }
    }

    /// A holder with its last session left whose replacement has started
    /// (`PoolPolicy.holderIsSpare`) is used up by the next client of a steady stream, but an idle
    /// pool does not keep it: unused for `PoolPolicy.spareIdle` it is retired, and the pool is
    /// back to `netns.holders`. Before, the pool stayed a holder over its size for as long as no
    /// client came (the bench's quiet check caught it: `holders: 4` kept 5 after a round).
    @Test func aSpareHolderLeftIdle_isRetired_andThePoolIsBackToItsSize() async throws {
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest",
                                  extra: ["netns: {mode: holder, holders: 1, reuse: 3}"])
        try await withHolders("holder-spare", service, holders: 1) { instance, ganger, address in
            // reuse 3: the second session's take starts the replacement, and the holder comes
            // back from that session with one left: a spare.
            var modes: [String] = []
            for text in ["first\n", "second\n"] {
                let (client, mode) = try self.echoInHolder(address, instance: instance, text)
                client.close()
                modes.append(mode)
                try check(poll(timeout: .seconds(10)) { try ganger.status().services[0].sessionsCurrent == 0 },
                          "the \(text.dropLast()) session did not end")
            }
            #expect(modes[0].hasPrefix("container:") && modes[1] == modes[0], "\(modes)")
            let spare = String(modes[0].dropFirst("container:".count))
            try check(poll(timeout: .seconds(10)) { try self.holders(instance).count == 2 },
                      "no replacement beside the spare: \((try? self.holders(instance)) ?? [])")
            let trimmed = try poll(timeout: .seconds(20)) {
                let now = try self.holders(instance)
                return now.count == 1 && now[0] != spare
            }
            #expect(trimmed, "the idle spare \(spare.prefix(12)) was not retired: \((try? self.holders(instance)) ?? [])")
            try self.waitHoldersReady(ganger, 1)
            #expect(try ganger.status().services[0].holdersRetired == 1)
        }
    }

    /// Ganger with `service` on a daemon behind a `FaultProxy`; `rule` applies once one holder is
    /// ready, until `body` returns.
    private func withHolderBehindProxy(_ name: String, _ service: ServiceYAML, _ rule: FaultProxy.Rule,
                                       _ body: @escaping @Sendable (_ instance: String, GangerProcess, String, FaultProxy) throws -> Void) async throws {
        let proxy = try FaultProxy()
        defer { proxy.stop() }
        let instance = uniqueInstance(name)
        let yaml = gangerConfig(instance: instance, services: [service], daemonURL: proxy.url)
        try await withGanger(instance: instance, yaml: yaml, services: [service.name]) { ganger, addresses in
            let address = try #require(addresses[service.name])
            try await onThread {
                try self.waitHoldersReady(ganger, 1)
                proxy.setRules([rule])
                defer { proxy.setRules([]) }
                try body(instance, ganger, address, proxy)
            }
        }
    }

    /// A session that sends `text` and gets it back, still open, and its container's network
    /// mode (`container:<holder>` through a holder).
    private func echoInHolder(_ address: String, instance: String, _ text: String) throws -> (Client, String) {
        let client = try Client(address)
        try client.sendAll(Array(text.utf8))
        let echoed = try client.receive(count: text.utf8.count, timeout: .seconds(30))
        #expect(echoed == Array(text.utf8))
        let container = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"])
        guard container.count == 1 else { throw HarnessError("\(container.count) containers for \(client.localAddress)") }
        return (client, try DockerCLI.inspect(container[0], format: "{{.HostConfig.NetworkMode}}"))
    }

    /// Now as `docker events --since` takes it (seconds.nanoseconds).
    private static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nanos = String(now.tv_nsec)
        return "\(now.tv_sec)." + String(repeating: "0", count: 9 - nanos.count) + nanos
    }

    @Test func aKilledHolder_isReplaced() async throws {
        let instance = uniqueInstance("holder-kill")
        let yaml = gangerConfig(instance: instance, services: [shellService(reuse: 1, holders: 2)])
        try await withGanger(instance: instance, yaml: yaml, services: ["sh"]) { _, _ in
            try await onThread {
                _ = try poll(timeout: .seconds(30)) { try self.holders(instance).count == 2 }
                let victim = try self.holders(instance)[0]
                _ = try DockerCLI.docker(["kill", victim])
                let replaced = try poll(timeout: .seconds(30)) {
                    let now = try self.holders(instance)
                    return now.count == 2 && !now.contains(victim)
                }
                #expect(replaced, "the killed holder \(victim) was not replaced")
            }
        }
    }

    @Test func kill9_thenRestart_removesTheOldHolders() async throws {
        let instance = uniqueInstance("holder-crash")
        let yaml = gangerConfig(instance: instance, services: [shellService(reuse: 1, holders: 2)])
        let first = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
        _ = try await onThread { try first.waitUntilListening(["sh"]) }
        let old = try await onThread { () throws -> Set<String> in
            _ = try poll(timeout: .seconds(30)) { try self.holders(instance).count == 2 }
            return Set(try self.holders(instance))
        }
        first.kill9()
        try await withGanger(instance: instance, yaml: yaml, services: ["sh"]) { _, _ in
            try await onThread {
                let cleaned = try poll(timeout: .seconds(30)) { Set(try self.holders(instance)).isDisjoint(with: old) }
                #expect(cleaned, "holders of the killed ganger remain")
            }
        }
    }
}
