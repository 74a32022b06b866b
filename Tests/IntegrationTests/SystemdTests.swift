import GangerCore
import Glibc
import Testing
import TestSupport

/// `ganger run` under systemd's protocols without systemd as PID 1: Debian's
/// `systemd-socket-activate` hands it a listening socket, and a datagram socket of the test's
/// own stands in for `NOTIFY_SOCKET`. On the real dockerd with the echo image.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SystemdIntegrationTests {
    static let socketActivate = "/usr/bin/systemd-socket-activate"

    @Test func socketActivation_servesThroughThePassedSocket_andStillBindsTheServiceWithoutOne() async throws {
        let checks = Checks()
        defer { checks.report() }
        try #require(access(Self.socketActivate, X_OK) == 0, "\(Self.socketActivate) missing: scripts/test-deps.sh installs systemd")
        let instance = uniqueInstance("activation")
        // `echo` gets the passed socket (its configured listen is another port: the passed one
        // wins); `plain` has none and binds its own; the status listener gets the one named
        // `status` (its configured 127.0.0.1:0 is not bound).
        var passed = ServiceYAML.echo()
        passed.listen = "127.0.0.1:1"
        let yaml = gangerConfig(instance: instance, services: [passed, .echo("plain")])
        try await onThread {
            try DockerCLI.requireEnvironment()
            let config = try ConfigFile(yaml)
            let port = try freeLoopbackPort()
            let statusPort = try freeLoopbackPort()
            // Two sockets: the echo service's and the status listener's (named in order).
            let activator = try SpawnedProcess(Self.socketActivate, ["-l", "127.0.0.1:\(port)", "-l", "127.0.0.1:\(statusPort)",
                                                                     "--fdname=echo:status", gangerBinary, "run", "-c", config.path])
            defer {
                _ = try? activator.terminate(signal: SIGTERM, timeout: .seconds(15))
                _ = try? DockerCLI.removeAll(instance: instance)
            }
            // The first client connects before ganger runs: systemd-socket-activate starts it
            // on the first connection, and the client waits in the passed socket's backlog.
            var client: Client?
            _ = try poll(timeout: .seconds(10), interval: .milliseconds(50)) {
                client = try? Client(host: "127.0.0.1", port: port)
                if client == nil, let status = activator.poll() { throw HarnessError("activator ended (\(status))\n\(activator.log)") }
                return client != nil
            }
            guard let first = client else { throw HarnessError("nothing listens on the activation port \(port)\n\(activator.log)") }
            let payload = Array("through the passed socket\n".utf8) + randomBytes(16 << 10)
            try first.sendAll(payload)
            try first.shutdownWrite()
            let (bytes, end) = try first.receiveAll(timeout: .seconds(30))
            checks.expect(end == .eof && bytes == payload, "got \(bytes.count) of \(payload.count) bytes, \(end)\n\(activator.log)")
            first.close()

            var lines: [String: String] = [:]
            _ = try poll(timeout: .seconds(10), interval: .milliseconds(50)) {
                lines = GangerProcess.listenLines(activator.stdout)
                return lines.count == 2
            }
            checks.expect(lines["echo"] == "127.0.0.1:\(port)", "\(lines)\n\(activator.log)")
            guard let plain = lines["plain"] else { throw HarnessError("no listen line for plain\n\(activator.log)") }
            checks.expect(plain != "127.0.0.1:\(port)")
            try echoSession(plain, payload: Array("bound by ganger\n".utf8))
            checks.expect(activator.stderr.contains("socket activation"), "\(activator.log)")
            checks.expect(activator.stdout.contains("ganger: status on http://127.0.0.1:\(statusPort)/"), "\(activator.log)")
            checks.expect(StatusClient.isHealthy("http://127.0.0.1:\(statusPort)", timeout: .seconds(5)), "status not healthy\n\(activator.log)")

            checks.expect(try activator.terminate(signal: SIGTERM, timeout: .seconds(15)) == .exited(0), "\(activator.log)")
            checks.expect(try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(10)).isEmpty)
        }
    }

    @Test func notifySocket_getsReadyStatusReloadingReadyStopping_inOrder_andTheWatchdog() async throws {
        let checks = Checks()
        defer { checks.report() }
        let instance = uniqueInstance("notify")
        let receiver = try DatagramReceiver()
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGangerScenario(instance: instance, yaml: yaml, services: ["echo"],
                                     environment: ["NOTIFY_SOCKET=\(receiver.address)", "WATCHDOG_USEC=400000"],
                                     prepare: { try DockerCLI.requireEnvironment() },
                                     sweep: { instance in
                                         _ = try DockerCLI.removeAll(instance: instance)
                                         return try DockerCLI.containers(instance: instance)
                                     }) { ganger, addresses in
            try await onThread {
                var messages: [String] = []
                /// Collects datagrams until one has `line`, bounded.
                func waitFor(_ line: String) throws {
                    let deadline = ContinuousClock.now + .seconds(20)
                    while ContinuousClock.now < deadline {
                        guard let message = receiver.receive(timeout: .milliseconds(200)) else { continue }
                        messages.append(message)
                        if message.split(separator: "\n").contains(Substring(line)) { return }
                    }
                    throw HarnessError("no \(line) within 20 s; got \(messages)\n\(ganger.log)")
                }
                try waitFor("READY=1")
                try echoSession(addresses["echo"]!, payload: Array("notify\n".utf8))
                ganger.process.send(SIGHUP)
                try waitFor("RELOADING=1")
                try waitFor("READY=1")
                try waitFor("WATCHDOG=1")
                ganger.process.send(SIGTERM)
                try waitFor("STOPPING=1")
                checks.expect(ganger.waitForExit(timeout: .seconds(15)) == .exited(0), "\(ganger.log)")

                // In order, watchdog pets aside.
                let states = messages.flatMap { $0.split(separator: "\n").map(String.init) }
                    .filter { !$0.hasPrefix("WATCHDOG=") && !$0.hasPrefix("MONOTONIC_USEC=") }
                    .map { $0.hasPrefix("STATUS=") ? "STATUS" : $0 }
                var compact: [String] = []
                for state in states where compact.last != state { compact.append(state) }
                checks.expect(compact == ["READY=1", "STATUS", "RELOADING=1", "READY=1", "STATUS", "STOPPING=1", "STATUS"], "\(messages)")
                checks.expect(messages.contains { $0.hasPrefix("READY=1\nSTATUS=") && $0.contains("1/1 daemons up") }, "\(messages)")
                checks.expect(messages.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }, "\(messages)")
                // 400 ms watchdog: a pet every 200 ms over the seconds this ran.
                checks.expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 2, "\(messages)")
            }
        }
    }
}
