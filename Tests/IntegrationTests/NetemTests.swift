import Glibc
import Testing
import TestSupport

/// Loss and delay on a `tcp://` daemon's link (issue 16). The default dockerd is reached over
/// TCP through a network namespace this test makes: a veth pair, `socat` in the namespace
/// forwarding its TCP port to the daemon's unix socket, and a qdisc on both ends of the pair —
/// netem (delay 40 ms ± 10 ms, 3 % loss) where the kernel has it, else a shallow token bucket
/// (`LossyDaemonLink.impairment`) — so every Engine API call and its answer cross a slow link
/// that drops what overflows it.
/// Ports are published on the host end's address (`host_ip`), as for a remote daemon. Every
/// client must get its echo; once the sessions end, none of the instance's containers is left.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct NetemTests {
    @Test func lossAndDelayOnTheDaemonsLink_everyClientServed_nothingLeft() async throws {
        let link = try await onThread { try LossyDaemonLink() }
        defer { link.remove() }
        let instance = uniqueInstance("netem")
        let yaml = ([
            "instance: \(instance)",
            "daemons:",
            "  - url: tcp://\(link.namespaceAddress):2375",
            "    host_ip: \(link.hostAddress)",
            "    max_containers: 8",
            "services:",
            ServiceYAML.echo().yaml,
            "    per_source: {rate: 0}",
            "    ready: {timeout: 30s}",
            "status: {listen: 127.0.0.1:0}",
            "docker_timeout: 60s",
            "shutdown_grace: 2s",
            "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let outcomes = try await chaosClients(6, address, size: 64 << 10, timeout: .seconds(90))
            #expect(outcomes.allSatisfy { $0 == .echoed }, "\(outcomes)\n\(ganger.log)")
            let left = try await onThread {
                var now: [String] = []
                _ = try poll(timeout: .seconds(60), interval: .milliseconds(250)) {
                    now = try DockerCLI.containers(instance: instance)
                    return now.isEmpty
                }
                return now
            }
            #expect(left.isEmpty, "containers left after the sessions ended: \(left)\n\(ganger.log)")
            // The calls really crossed the impaired link: its counters on the host end moved.
            let counters = try await onThread { try link.qdiscCounters() }
            #expect(counters.sent > 50, "the qdisc on \(link.hostInterface): \(counters)")
            #expect(counters.dropped + counters.overlimits > 0, "nothing was held back or dropped: \(counters)")
        }
    }
}

/// The namespace, veth pair, netem and forwarder of one test; `remove()` undoes all of it (also
/// after a failure half-way through `init`).
final class LossyDaemonLink: Sendable {
    let namespace: String
    let hostInterface: String
    let hostAddress: String
    let namespaceAddress: String
    private let forwarder: SpawnedProcess

    init() throws {
        let tag = randomTag()
        let octet = Int.random(in: 1...250)
        namespace = "ganger-netem-\(tag)"
        hostInterface = "gnh\(tag.prefix(8))"
        let peer = "gnn\(tag.prefix(8))"
        hostAddress = "10.231.\(octet).1"
        namespaceAddress = "10.231.\(octet).2"
        do {
            forwarder = try Self.build(namespace: namespace, hostInterface: hostInterface, peer: peer,
                                       hostAddress: hostAddress, namespaceAddress: namespaceAddress)
        } catch {
            Self.remove(namespace: namespace, hostInterface: hostInterface, forwarder: nil)
            throw error
        }
    }

    /// Namespace, pair, addresses, netem on both ends, the forwarder; returns once dockerd
    /// answers `/_ping` through it (the forwarder is killed if it never does).
    private static func build(namespace: String, hostInterface: String, peer: String, hostAddress: String,
                              namespaceAddress: String) throws -> SpawnedProcess {
        try ip(["netns", "add", namespace])
        try ip(["link", "add", hostInterface, "type", "veth", "peer", "name", peer])
        try ip(["link", "set", peer, "netns", namespace])
        try ip(["addr", "add", "\(hostAddress)/30", "dev", hostInterface])
        try ip(["link", "set", hostInterface, "up"])
        try ip(["netns", "exec", namespace, "ip", "addr", "add", "\(namespaceAddress)/30", "dev", peer])
        try ip(["netns", "exec", namespace, "ip", "link", "set", peer, "up"])
        try ip(["netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        let shaping = impairment
        try tc(["qdisc", "add", "dev", hostInterface, "root"] + shaping)
        try ip(["netns", "exec", namespace, "tc", "qdisc", "add", "dev", peer, "root"] + shaping)
        let forwarder = try SpawnedProcess("/usr/sbin/ip", ["netns", "exec", namespace, "socat",
                                                            "TCP-LISTEN:2375,bind=\(namespaceAddress),reuseaddr,fork",
                                                            "UNIX-CONNECT:/var/run/docker.sock"])
        let answers = try poll(timeout: .seconds(20), interval: .milliseconds(200)) {
            (try? run("/usr/bin/curl", ["-s", "-m", "5", "http://\(namespaceAddress):2375/_ping"]).stdout) == "OK"
        }
        guard answers else {
            _ = try? forwarder.terminate(signal: SIGKILL, timeout: .seconds(5))
            throw HarnessError("dockerd does not answer through \(namespace)\n\(forwarder.log)")
        }
        return forwarder
    }

    /// netem's delay and loss where the kernel has it (`CONFIG_NET_SCH_NETEM`); this workplace's
    /// kernel does not, so a token bucket stands in: 256 kbit/s with a 2 KiB burst and at most
    /// 20 ms of queue, so a burst of Engine API traffic waits in the queue (delay) and what
    /// overflows it is dropped (loss), both of which TCP then hides at the cost of time.
    static var impairment: [String] {
        let config = (try? run("/bin/sh", ["-c", "zcat /proc/config.gz 2>/dev/null | grep -c '^CONFIG_NET_SCH_NETEM=[ym]'"]).stdout) ?? ""
        if config.hasPrefix("1") { return ["netem", "delay", "40ms", "10ms", "loss", "3%"] }
        return ["tbf", "rate", "256kbit", "burst", "2kb", "latency", "20ms"]
    }

    /// The host end's qdisc counters (`tc -s qdisc show`): packets sent, dropped, and held back
    /// over the rate (overlimits).
    func qdiscCounters() throws -> (sent: Int, dropped: Int, overlimits: Int) {
        // "Sent 123456 bytes 789 pkt (dropped 12, overlimits 34 requeues 0)"
        let shown = try run("/usr/sbin/tc", ["-s", "qdisc", "show", "dev", hostInterface]).stdout
        let words = shown.split(whereSeparator: { " \n(),".contains($0) })
        func after(_ word: String, _ offset: Int = 1) -> Int {
            guard let at = words.firstIndex(of: Substring(word)), words.count > at + offset else { return 0 }
            return Int(words[at + offset]) ?? 0
        }
        return (after("Sent", 3), after("dropped"), after("overlimits"))
    }

    func remove() { Self.remove(namespace: namespace, hostInterface: hostInterface, forwarder: forwarder) }

    private static func remove(namespace: String, hostInterface: String, forwarder: SpawnedProcess?) {
        if let forwarder { _ = try? forwarder.terminate(signal: SIGKILL, timeout: .seconds(5)) }
        // Deleting either end of the pair deletes both; the namespace goes last.
        _ = try? run("/usr/sbin/ip", ["link", "del", hostInterface])
        _ = try? run("/usr/sbin/ip", ["netns", "del", namespace])
    }

    private static func ip(_ arguments: [String]) throws { try checked("/usr/sbin/ip", arguments) }
    private static func tc(_ arguments: [String]) throws { try checked("/usr/sbin/tc", arguments) }

    private static func checked(_ path: String, _ arguments: [String]) throws {
        let result = try run(path, arguments, timeout: .seconds(20))
        guard result.status == .exited(0) else {
            throw HarnessError("\(path) \(arguments.joined(separator: " ")): \(result.status) \(result.stderr)")
        }
    }
}
