@testable import EventLoop
import Glibc
import GangerCore
import Testing
import TestSupport

/// Consul as a trust boundary (issue 15 item 4), against `FixtureConsul` and the default dockerd
/// reached over loopback TCP through `socat` (discovered daemons are `tcp://`; no shared daemon
/// is started). Every other registration points at loopback addresses where nothing listens.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ConsulTrustTests {
    /// `socat` forwarding a loopback port to the default daemon's socket, for the test's life.
    final class Forwarder: Sendable {
        let port: UInt16
        let process: SpawnedProcess
        init() throws {
            port = try freeLoopbackPort()
            process = try SpawnedProcess("/usr/bin/socat", [
                "TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork", "UNIX-CONNECT:/var/run/docker.sock",
            ])
            guard poll(timeout: .seconds(10), interval: .milliseconds(20), until: { Self.accepts(port) }) else {
                _ = try? process.terminate(timeout: .seconds(5))
                throw HarnessError("socat on 127.0.0.1:\(port) does not accept")
            }
        }

        static func accepts(_ port: UInt16) -> Bool {
            guard let address = try? SocketAddress(host: "127.0.0.1", port: port) else { return false }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            defer { close(fd) }
            return (try? address.withSockAddr { connect(fd, $0, $1) }) == 0
        }

        func stop() { _ = try? process.terminate(timeout: .seconds(5)) }
    }

    static func entry(_ id: String, _ address: String, port: Int, tags: [String] = []) -> FixtureConsul.Instance {
        FixtureConsul.Instance(node: "node-\(id)", nodeAddress: address, datacenter: "dc1", serviceID: id,
                               serviceAddress: address, port: port, tags: tags)
    }

    /// `hosts`: where ganger asks (the fixture itself unless given).
    static func yaml(instance: String, consul: FixtureConsul, hosts: String? = nil, extra: [String]) -> String {
        ([
            "instance: \(instance)", "consul:", "  hosts: [\(hosts ?? consul.address)]", "  datacenters: [dc1]",
        ] + extra + [
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: info, format: text}",
        ]).joined(separator: "\n") + "\n"
    }

    /// Writes `text` to a new file under /tmp; the caller unlinks it.
    static func secretFile(_ text: String) throws -> String {
        let path = "/tmp/ganger-itest-token-\(randomTag())"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { throw HarnessError("write \(path)") }
        return path
    }

    /// 1,000 registrations that come and go (50 at a time, 20 rounds) beside one real daemon:
    /// each newcomer joins, each leaver is forgotten (its index reused), the daemon list and
    /// ganger's memory stay bounded; refused registrations are never used and logged once; the
    /// token from `token_file` goes with every query; a `max_containers:-1` tag is clamped.
    @Test func thousandChangingRegistrations_daemonListAndMemoryBounded_refusalsLoggedOnce_tokenSent() async throws {
        let forwarder = try await onThread { try Forwarder() }
        defer { forwarder.stop() }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        let token = "itest-\(randomTag())"
        let tokenFile = try Self.secretFile(token + "\n")
        defer { unlink(tokenFile) }
        // Loopback ports where nothing listens: every dial is refused at once.
        let deadPort = Int(try freeLoopbackPort())
        let real = Self.entry("docker-real", "127.0.0.1", port: Int(forwarder.port), tags: ["max_containers:-1"])
        let refused = [Self.entry("metadata", "169.254.169.254", port: 80), Self.entry("everything", "0.0.0.0", port: deadPort)]
        @Sendable func churn(_ round: Int) -> [FixtureConsul.Instance] {
            (0..<50).map { Self.entry("churn-\(round)-\($0)", "127.77.\(round).\($0 + 1)", port: deadPort) }
        }
        consul.set([real] + refused)
        let instance = uniqueInstance("consulchurn")
        let yaml = Self.yaml(instance: instance, consul: consul, extra: [
            "  token_file: \(tokenFile)", "  allow_addresses: [loopback]", "  insecure: true", "  max_containers_limit: 8",
        ])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, _ in
            try await onThread {
                let first = try ganger.status()
                guard first.daemons.map(\.url) == ["tcp://127.0.0.1:\(forwarder.port)"] else {
                    throw HarnessError("daemons at start: \(first.daemons.map(\.url))")
                }
                try check(first.daemons[0].maxContainers == 8, "max_containers:-1 clamped to max_containers_limit")
                var baseline = 0
                var most = 0
                for round in 0..<20 {
                    consul.set([real] + refused + churn(round))
                    // Each round is seen (the watch is held and woken by the change).
                    guard ganger.waitForLog("127.77.\(round).50", timeout: .seconds(10)) else {
                        throw HarnessError("round \(round) not seen")
                    }
                    usleep(1_100_000)
                    let listed = try ganger.status().daemons
                    most = max(most, listed.count)
                    if round == 2 { baseline = try ganger.residentKiB() }
                }
                consul.set([real] + refused)
                let (last, settled) = try ganger.waitForStatus(timeout: .seconds(15)) { $0.daemons.count == 1 }
                try check(settled, "daemons after the churn: \(last.daemons.map(\.url))")
                try check(most <= 51, "the status page listed \(most) daemons at once (50 churning + 1 real)")
                let grown = try ganger.residentKiB() - baseline
                print("consul churn: at most \(most) daemons listed at once; VmRSS \(baseline) KiB after round 2, +\(grown) KiB at the end")
                // Measured: +84 KiB; +2.3 MiB when leavers were never forgotten.
                try check(grown < 1536, "RSS grew by \(grown) KiB over 1,000 registrations")
                let log = ganger.log
                let joined = log.ranges(of: "daemon joined the catalog: preparing it").count
                let forgotten = log.ranges(of: "daemon forgotten").count
                try check(joined == 1000 && forgotten == 1000, "joined \(joined), forgotten \(forgotten)")
                for address in ["tcp://169.254.169.254:80", "tcp://0.0.0.0:\(deadPort)"] {
                    try check(log.ranges(of: "registration refused: \(address)").count == 1, "refusal of \(address) logged once")
                    try check(!log.contains("daemon joined the catalog: preparing it daemon=\(address)"), "\(address) was used")
                }
                let tokens = consul.tokens
                try check(!tokens.isEmpty && tokens.allSatisfy { $0 == token }, "tokens sent: \(Set(tokens))")
                try check(!(try ganger.statusGet("/metrics").body.contains("127.77.")), "a forgotten daemon is not in /metrics")
            }
        }
    }

    /// A Consul that answers blocking queries at once (it ignores `index`) gets at most about
    /// one query a second per datacenter, not a busy loop.
    @Test func answersAtOnce_queriesAtLeastASecondApart() async throws {
        let forwarder = try await onThread { try Forwarder() }
        defer { forwarder.stop() }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([Self.entry("docker-real", "127.0.0.1", port: Int(forwarder.port))])
        let instance = uniqueInstance("consulspin")
        let yaml = Self.yaml(instance: instance, consul: consul, extra: ["  allow_addresses: [loopback]", "  insecure: true"])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { _, _ in
            try await onThread {
                consul.ignoreIndex(true)
                // A change wakes the query held now; from then on every answer comes at once.
                consul.update { $0[0].tags = ["max_containers:3"] }
                usleep(200_000)
                let before = consul.requests.count
                usleep(4_000_000)
                let asked = consul.requests.count - before
                try check(asked >= 2 && asked <= 6, "\(asked) queries in 4 s")
            }
        }
    }

    /// Defaults refuse: a loopback registration without `allow_addresses`, and a plain-TCP one
    /// without `insecure`, leave nothing usable: exit 2 naming why, the refusal in the log.
    @Test func loopbackOrPlainTCP_refusedByDefault_exit2() async throws {
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        let port = Int(try freeLoopbackPort())
        consul.set([Self.entry("docker-loop", "127.0.0.1", port: port)])
        for (extra, why) in [([String](), "loopback address"), (["  allow_addresses: [loopback]"], "plain TCP")] {
            let config = try ConfigFile(Self.yaml(instance: uniqueInstance("consulrefuse"), consul: consul, extra: extra))
            let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(30)) }
            #expect(result.status == .exited(2), "\(result)")
            #expect(result.stderr.contains("that Ganger accepts") && result.stderr.contains(why), "\(result.stderr)")
        }
    }

    /// `scheme: https` with `ca_file`: the queries go over TLS (socat terminating it in front of
    /// the fixture, with the test CA's certificate for 127.0.0.1); a CA that did not sign the
    /// server's certificate fails the startup (exit 2), the fixture never asked.
    @Test func httpsToConsul_withCA_verified_wrongCA_exit2() async throws {
        let tls = TLSDaemon.directory
        guard access("\(tls)/server-cert.pem", R_OK) == 0, access("\(tls)/other-ca.pem", R_OK) == 0 else {
            Issue.record("no test certificates in \(tls) (made by TLSDaemon.requireEnvironment)")
            return
        }
        let forwarder = try await onThread { try Forwarder() }
        defer { forwarder.stop() }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([Self.entry("docker-real", "127.0.0.1", port: Int(forwarder.port))])
        let port = try freeLoopbackPort()
        let terminator = try SpawnedProcess("/usr/bin/socat", [
            "OPENSSL-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork,verify=0,cert=\(tls)/server-cert.pem,key=\(tls)/server-key.pem",
            "TCP:\(consul.address)",
        ])
        defer { _ = try? terminator.terminate(timeout: .seconds(5)) }
        guard await (try? onThread { poll(timeout: .seconds(10), interval: .milliseconds(20)) { Forwarder.accepts(port) } }) == true else {
            throw HarnessError("socat TLS on 127.0.0.1:\(port) does not accept")
        }
        func yaml(_ instance: String, ca: String) -> String {
            Self.yaml(instance: instance, consul: consul, hosts: "127.0.0.1:\(port)", extra: [
                "  scheme: https", "  ca_file: \(ca)", "  allow_addresses: [loopback]", "  insecure: true",
            ])
        }
        let wrong = try ConfigFile(yaml(uniqueInstance("consulwrongca"), ca: "\(tls)/other-ca.pem"))
        let refused = try await onThread { try ganger(["run", "-c", wrong.path], timeout: .seconds(30)) }
        #expect(refused.status == .exited(2), "\(refused)")
        #expect(refused.stderr.contains("consul: cannot list service docker"), "\(refused.stderr)")
        #expect(consul.requests.isEmpty, "a query reached Consul past a certificate the CA did not sign")
        let instance = uniqueInstance("consulhttps")
        try await withGanger(instance: instance, yaml: yaml(instance, ca: "\(tls)/ca.pem"), services: ["echo"]) { ganger, _ in
            try await onThread {
                let status = try ganger.status()
                try check(status.daemons.map(\.url) == ["tcp://127.0.0.1:\(forwarder.port)"], "\(status.daemons)")
                try check(!consul.requests.isEmpty, "no query reached Consul")
            }
        }
    }

    /// `token_file` that cannot be read: exit 2 naming the key and the file, Consul never asked.
    @Test func unreadableTokenFile_exit2_namingIt() async throws {
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        let config = try ConfigFile(Self.yaml(instance: uniqueInstance("consultoken"), consul: consul,
                                              extra: ["  token_file: /nonexistent-ganger-token"]))
        let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(30)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains("consul.token_file: /nonexistent-ganger-token"), "\(result.stderr)")
        #expect(consul.requests.isEmpty)
    }
}
