import Glibc
import Testing
import TestSupport

/// `tcp://` daemons: Ganger places sessions on dockerds it reaches over TCP (loopback ports of
/// this suite's own daemons, `TCPDaemons`), publishes each container's service port on the
/// daemon's host (HostPort chosen by Docker, read back by inspect) and relays through
/// 127.0.0.1:<published>, never through the container's bridge address.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RemoteDaemonTests {
    @Test func tcpDaemons_oneByName_fourSessions_twoOnEach_publishedPorts_bytesIntact_noLeftovers() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let instance = uniqueInstance("tcp")
        let yaml = ([
            "instance: \(instance)",
            "daemons:",
            "  - url: \(try TCPDaemons.url(1))",
            "    max_containers: 2",
            // A host name: resolved once when the client is made (no DNS on the loop); the
            // published ports are then reached at that address.
            "  - url: tcp://localhost:\(try TCPDaemons.port(2))",
            "    max_containers: 2",
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
        try await withTCPGanger(instance: instance, yaml: yaml) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = HeldClients()
            defer { held.closeAll() }
            let (counts, ports) = try await onThread { () throws -> ([Int], [String]) in
                try held.openEchoing(4, address, tag: "tcp")
                // Bulk bytes through each session, checked byte for byte.
                for client in held.clients {
                    let payload = randomBytes(256 << 10)
                    try client.sendAll(payload)
                    let back = try client.receive(count: payload.count, timeout: .seconds(30))
                    guard back == payload else { throw HarnessError("256 KiB echo through a tcp:// daemon differs") }
                }
                let ids = try (1...2).map { try TCPDaemons.containers($0, instance: instance, all: false) }
                var ports: [String] = []
                for (k, list) in ids.enumerated() {
                    for id in list {
                        ports.append(try TCPDaemons.docker(k + 1, ["inspect", "-f",
                            "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{range $b}}{{.HostPort}} {{end}}{{end}}", id])
                            .trimmingSuffix("\n"))
                    }
                }
                // The relay goes through the published port on the daemon's host: one established
                // loopback connection to each published port (not to the bridge address).
                let established = try run("/usr/bin/ss", ["-Htn", "state", "established"], timeout: .seconds(10)).stdout
                for port in ports {
                    let published = String(port.dropFirst("12345/tcp=".count).split(separator: " ").first ?? "")
                    guard established.split(whereSeparator: \.isWhitespace).contains("127.0.0.1:\(published)"[...]) else {
                        throw HarnessError("no established connection to 127.0.0.1:\(published) (\(port)):\n\(established)")
                    }
                }
                return (ids.map(\.count), ports)
            }
            #expect(counts == [2, 2], "running containers per tcp daemon with 4 sessions open: \(counts)\n\(ganger.log)")
            #expect(ports.count == 4 && ports.allSatisfy { $0.hasPrefix("12345/tcp=") && $0.count > "12345/tcp=".count },
                    "published ports of the session containers: \(ports)")
            #expect(!ganger.log.contains("without TLS"), "a loopback tcp:// daemon must not warn\n\(ganger.log)")
            held.closeAll()
            let left = try await onThread { try TCPDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left after the sessions ended: \(left)\n\(ganger.log)")
        }
    }

    @Test func sshDaemon_sessionsThroughSshDialStdio_publishedPorts_bytesIntact_noLeftovers() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        // A real sshd on a loopback port whose sessions' docker reaches tcp daemon 1's socket.
        let sshd = try await onThread { try TestSSHD(dockerHost: "unix:///run/ganger-remote/dockerd-1.sock") }
        defer { sshd.stop() }
        let instance = uniqueInstance("ssh")
        let yaml = ([
            "instance: \(instance)",
            "daemons:",
            "  - url: ssh://root@127.0.0.1:\(sshd.port)",
            "    max_containers: 3",
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
        let path = "PATH=\(sshd.sshWrapperDirectory):" + String(cString: getenv("PATH"))
        try await withTCPGanger(instance: instance, yaml: yaml, environment: [path]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = HeldClients()
            defer { held.closeAll() }
            let (running, ports) = try await onThread { () throws -> (Int, [String]) in
                try held.openEchoing(3, address, tag: "ssh")
                try echoBulk(held.clients, bytes: 256 << 10, through: "an ssh:// daemon")
                let ids = try TCPDaemons.containers(1, instance: instance, all: false)
                let ports = try ids.map { id in
                    try TCPDaemons.docker(1, ["inspect", "-f", "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{range $b}}{{.HostPort}} {{end}}{{end}}", id])
                        .trimmingSuffix("\n")
                }
                return (ids.count, ports)
            }
            #expect(running == 3, "containers on the daemon behind sshd with 3 sessions open: \(running)\n\(ganger.log)")
            #expect(ports.allSatisfy { $0.hasPrefix("12345/tcp=") && $0.count > "12345/tcp=".count }, "published: \(ports)")
            #expect(sshd.log.contains("Accepted publickey for root"), "sshd saw no login:\n\(sshd.log)")
            held.closeAll()
            let left = try await onThread { try TCPDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left after the sessions ended: \(left)\n\(ganger.log)")
        }
    }

    @Test func tlsDaemon_mutualTLS_sessionsServed_bytesIntact_noLeftovers() async throws {
        try await onThread { try TLSDaemon.requireEnvironment() }
        let instance = uniqueInstance("tls")
        try await expectTwoSessionsThroughTLSDaemon(instance: instance, yaml: try TLSDaemon.yaml(instance: instance, client: "client"))
    }

    @Test func tlsDaemon_clientCertificateFromAnotherCA_isRefused_exit2() async throws {
        try await onThread { try TLSDaemon.requireEnvironment() }
        let instance = uniqueInstance("tlsbad")
        let config = try ConfigFile(try TLSDaemon.yaml(instance: instance, client: "other-client"))
        let url = try TLSDaemon.url
        let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(60)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains(url) && result.stderr.contains("TLS"), "\(result.stderr)")
    }

    @Test func tlsDaemon_missingCertificateFile_exit2_namingIt() async throws {
        let instance = uniqueInstance("tlsmissing")
        let yaml = ([
            "instance: \(instance)",
            "daemons:",
            // Never dialled: the missing certificate stops ganger first.
            "  - url: tcp://127.0.0.1:1",
            "    cert_path: /nonexistent-ganger-certs",
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}",
        ]).joined(separator: "\n") + "\n"
        let config = try ConfigFile(yaml)
        let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(30)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains("/nonexistent-ganger-certs/ca.pem"), "\(result.stderr)")
    }
}
