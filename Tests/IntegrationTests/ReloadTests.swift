import Glibc
import Testing
import TestSupport

/// SIGHUP reloads that move listen addresses (docs/operations.md, "Signals"): a reload applies
/// whole or not at all. Two services that answer differently (echo and sink-reply images) show
/// from outside which one serves an address; `/status.json` shows each one's address and image.
///
/// Same rules as GangerRunTests: an instance name per test, loopback ports, bounded waits,
/// teardown whatever happens.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReloadTests {
    static let echoImage = "ganger-echo:latest"
    static let sinkImage = "ganger-sink-reply:latest"

    @Test func sighup_twoServicesSwapTheirPorts_eachAddressThenServesTheOtherService() async throws {
        let instance = uniqueInstance("reload-swap")
        let first = [ServiceYAML(name: "a", image: Self.echoImage), ServiceYAML(name: "b", image: Self.sinkImage)]
        try await withGanger(instance: instance, yaml: gangerConfig(instance: instance, services: first), services: ["a", "b"]) { ganger, addresses in
            let a = try #require(addresses["a"])
            let b = try #require(addresses["b"])
            try await onThread {
                try check(try imageOfANewSession(a, instance: instance) == Self.echoImage, "before the reload, \(a) does not run service a")
                var swapped = first
                swapped[0].listen = b
                swapped[1].listen = a
                try ganger.rewriteConfig(gangerConfig(instance: instance, services: swapped))
                ganger.process.send(SIGHUP)
                let outcome = waitForReloadOutcome(ganger)
                try check(outcome.contains("configuration reloaded"), "the port swap was not applied: \(outcome)")

                let onA = try imageOfANewSession(a, instance: instance)
                let onB = try imageOfANewSession(b, instance: instance)
                try check(onA == Self.sinkImage && onB == Self.echoImage, "after the swap \(a) runs \(onA), \(b) runs \(onB)")
                let services = try ganger.status().services
                let listens = Dictionary(uniqueKeysWithValues: services.map { ($0.name, $0.listen) })
                try check(listens == ["a": b, "b": a], "status after the swap: \(listens)")
            }
        }
    }

    /// The second service's new port is taken: the first one's change (a new port and a new
    /// image) must not be applied either.
    @Test func sighup_aNewPortAlreadyHeld_refusesTheWholeReload_andEveryServiceServesAsBefore() async throws {
        let instance = uniqueInstance("reload-held")
        let first = [ServiceYAML(name: "a", image: Self.echoImage), ServiceYAML(name: "b", image: Self.sinkImage)]
        try await withGanger(instance: instance, yaml: gangerConfig(instance: instance, services: first), services: ["a", "b"]) { ganger, addresses in
            let a = try #require(addresses["a"])
            let b = try #require(addresses["b"])
            try await onThread {
                let held = try HeldPort()
                defer { held.close() }
                // A port free now (nothing listens after the probe closes): where `a` would move.
                let free = try HeldPort()
                let freeAddress = free.address
                free.close()
                var second = first
                second[0].listen = freeAddress
                second[0].image = Self.sinkImage
                second[1].listen = held.address
                try ganger.rewriteConfig(gangerConfig(instance: instance, services: second))
                ganger.process.send(SIGHUP)
                let outcome = waitForReloadOutcome(ganger)
                try check(outcome.contains("reload refused: nothing changed"), "a reload onto a held port was not refused: \(outcome)")
                try check(outcome.contains(held.address) && outcome.contains("service b") && outcome.contains("Address already in use"),
                          "the refusal does not name the address, the service and the error: \(outcome)")
                try check(!ganger.hasExited, "ganger exited on a refused reload")

                let onA = try imageOfANewSession(a, instance: instance)
                let onB = try imageOfANewSession(b, instance: instance)
                try check(onA == Self.echoImage && onB == Self.sinkImage, "after the refused reload \(a) runs \(onA), \(b) runs \(onB)")
                let services = try ganger.status().services
                let shown = Dictionary(uniqueKeysWithValues: services.map { ($0.name, "\($0.listen) \($0.image)") })
                try check(shown == ["a": "\(a) \(Self.echoImage)", "b": "\(b) \(Self.sinkImage)"], "status after the refused reload: \(shown)")
                let refused = (try? Client(freeAddress, timeout: .seconds(2))).map { $0.close(); return false } ?? true
                try check(refused, "\(freeAddress), bound only for the refused reload, still accepts connections")
            }
        }
    }

    /// A reload to an image the daemon does not have, from a registry of the test's own
    /// (`pull: missing`). Before, the reload applied at once and every session was refused
    /// `No such image` (by hand, two daemons: 4 of 4 clients got nothing in 40 s). Now the
    /// image is pulled while the old one serves, then the reload applies; an image the
    /// registry does not have refuses the reload, and the service keeps its image.
    @Test func sighup_toAnImageTheDaemonLacks_pullsItFirst_andOneThatCannotBeHadIsRefused() async throws {
        let instance = uniqueInstance("reload-pull")
        let registry = try await onThread { try TestRegistry() }
        defer { registry.stop() }
        let reference = try await onThread { try registry.push(Self.echoImage, as: instance) }
        defer { _ = try? DockerCLI.docker(["rmi", reference]) }
        try await onThread { try check(!DockerCLI.imageExists(reference), "the daemon has \(reference) before any pull") }
        let first = [ServiceYAML(name: "a", image: Self.echoImage)]
        try await withGanger(instance: instance, yaml: gangerConfig(instance: instance, services: first), services: ["a"]) { ganger, addresses in
            let a = try #require(addresses["a"])
            try await onThread {
                var second = first
                second[0].image = reference
                second[0].pull = "missing"
                try ganger.rewriteConfig(gangerConfig(instance: instance, services: second))
                ganger.process.send(SIGHUP)
                let pulled = waitForReloadOutcome(ganger, timeout: .seconds(60))
                try check(pulled.contains("configuration reloaded"), "the reload to \(reference) was not applied: \(pulled)\n\(ganger.stderr.suffix(3000))")
                try check(DockerCLI.imageExists(reference), "\(reference) not pulled")
                let onA = try imageOfANewSession(a, instance: instance)
                try check(onA == reference, "after the reload \(a) runs \(onA)")
                try check(ganger.stderr.contains("reload: making images present before applying"), "no pull logged before the reload")

                var third = second
                third[0].image = "\(registry.host)/\(instance)-absent:1"
                try ganger.rewriteConfig(gangerConfig(instance: instance, services: third))
                ganger.process.send(SIGHUP)
                let refused = waitForReloadOutcome(ganger, skipping: 1, timeout: .seconds(60))
                try check(refused.contains("reload refused: nothing changed") && refused.contains("cannot pull image \(third[0].image)"),
                          "a reload to an image no registry has was not refused with the pull's reason: \(refused)")
                let still = try imageOfANewSession(a, instance: instance)
                try check(still == reference, "after the refused reload \(a) runs \(still)")
                try check(try ganger.status().services.map(\.image) == [reference], "status after the refused reload")
            }
        }
    }

    /// SIGHUP to a network the daemon lacks: refused, naming it, and the service serves on as
    /// before; once the network exists, the same file applies and new sessions run on it.
    /// Before, the reload applied and every create failed (`network … not found`).
    @Test func sighup_toANetworkTheDaemonLacks_isRefused_untilItExists() async throws {
        let instance = uniqueInstance("reload-net")
        let network = "itest-reload-\(randomTag())"
        defer { _ = try? run(DockerCLI.path, ["-H", DockerCLI.daemonURL, "network", "rm", network], timeout: .seconds(30)) }
        let first = [ServiceYAML(name: "a", image: Self.echoImage)]
        try await withGanger(instance: instance, yaml: gangerConfig(instance: instance, services: first), services: ["a"]) { ganger, addresses in
            let a = try #require(addresses["a"])
            try await onThread {
                var second = first
                second[0].extra = ["network: \(network)"]
                try ganger.rewriteConfig(gangerConfig(instance: instance, services: second))
                ganger.process.send(SIGHUP)
                let refused = waitForReloadOutcome(ganger, timeout: .seconds(30))
                try check(refused.contains("reload refused: nothing changed") && refused.contains("network \(network) (service a) not found"),
                          "a reload to a missing network was not refused naming it: \(refused)")
                _ = try echoSession(a, payload: Array("still served\n".utf8))

                _ = try DockerCLI.docker(["network", "create", network])
                ganger.process.send(SIGHUP)
                let applied = waitForReloadOutcome(ganger, skipping: 1, timeout: .seconds(30))
                try check(applied.contains("configuration reloaded"), "the reload once \(network) exists: \(applied)")
                let client = try Client(a)
                defer { client.close() }
                let payload = Array("on the new network\n".utf8)
                try client.sendAll(payload)
                try check(try client.receive(count: payload.count) == payload, "no echo on \(network)")
                let ids = try DockerCLI.containers(instance: instance)
                try check(ids.count == 1, "containers of \(instance): \(ids)")
                try check(try DockerCLI.inspect(ids[0], format: "{{.HostConfig.NetworkMode}}") == network, "the session is not on \(network)")
            }
        }
    }
}

/// Waits (bounded) for the reload's log line, applied or refused, after `skipping` earlier
/// ones, and returns it.
private func waitForReloadOutcome(_ ganger: GangerProcess, skipping: Int = 0, timeout: Duration = .seconds(10)) -> String {
    var line = ""
    _ = poll(timeout: timeout, interval: .milliseconds(20)) {
        let outcomes = ganger.stderr.split(separator: "\n").filter {
            $0.contains("configuration reloaded") || $0.contains("reload refused")
        }
        line = outcomes.count > skipping ? String(outcomes[skipping]) : ""
        return !line.isEmpty
    }
    return line.isEmpty ? "no reload line \(timeout) after SIGHUP" : line
}

/// A listening socket of the test's own on 127.0.0.1 with a kernel-chosen port: a port that
/// ganger cannot bind while it is open.
private final class HeldPort {
    private var fd: CInt
    let address: String

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        var bound = sockaddr_in()
        bound.sin_family = sa_family_t(AF_INET)
        bound.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let failure = HarnessError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))")
            Glibc.close(fd)
            throw failure
        }
        self.fd = fd
        address = "127.0.0.1:\(UInt16(bigEndian: bound.sin_port))"
    }

    /// Idempotent.
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
