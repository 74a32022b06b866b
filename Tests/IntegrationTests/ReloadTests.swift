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
}

/// Waits (bounded) for the reload's log line, applied or refused, and returns it.
private func waitForReloadOutcome(_ ganger: GangerProcess, timeout: Duration = .seconds(10)) -> String {
    var line = ""
    _ = poll(timeout: timeout, interval: .milliseconds(20)) {
        line = ganger.stderr.split(separator: "\n").last {
            $0.contains("configuration reloaded") || $0.contains("reload refused")
        }.map(String.init) ?? ""
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
