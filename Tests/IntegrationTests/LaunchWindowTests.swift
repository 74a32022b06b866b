import Glibc
import Testing
import TestSupport

/// A burst of clients on one real dockerd. dockerd's start rate does not grow with concurrency,
/// so before the launch window every launch went to Docker at once, every start slowed down
/// together and clients ran out of budget together (measured: 73/100 and 0/200 echoed). With the
/// window, the burst waits in the queue and Docker works at its own pace.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct LaunchWindowTests {
    @Test func burstOf200_atOneDaemon_all200AreEchoed_andTheWindowIsShown() async throws {
        let instance = uniqueInstance("burst")
        // The queue's budget is generous for a loaded test machine (2 cores, other suites'
        // leftovers being removed); the claim is that nobody fails, not how fast they are served.
        // 200 connections at once from one address are past the default per-source rate.
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["queue: {max: 1000, timeout: 240s}",
                                                                                          "per_source: {rate: 0}"])
        let yaml = gangerConfig(instance: instance, services: [service], maxContainers: 250)
        let count = 200
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let (echoed, failures, peakLaunching, window) = try await onThread { () throws -> (Int, [String], Int, Int?) in
                var clients: [Client] = []
                defer { for client in clients { client.close() } }
                for i in 0..<count {
                    let client = try Client(address)
                    try client.sendAll(Array("burst \(i)\n".utf8))
                    clients.append(client)
                }
                var peak = 0
                var window: Int?
                var echoed = 0
                var failures: [String] = []
                for (i, client) in clients.enumerated() {
                    if i % 20 == 0, let daemon = try? ganger.status().daemons.first {
                        peak = max(peak, daemon.launching)
                        window = daemon.launchWindow ?? window
                    }
                    let line = Array("burst \(i)\n".utf8)
                    do {
                        if try client.receive(count: line.count, timeout: .seconds(240)) == line { echoed += 1 } else { failures.append("client \(i): wrong bytes") }
                    } catch {
                        failures.append("client \(i): \(error)")
                    }
                }
                return (echoed, failures, peak, window)
            }
            // 200 removals take dockerd a while: wait for them here, not in the teardown's bounded
            // SIGTERM (whose grace would cut them short).
            let gone = try await onThread { try poll(timeout: .seconds(240), interval: .milliseconds(500)) { try DockerCLI.containers(instance: instance).isEmpty } }
            #expect(gone, "the burst's containers were not all removed after their sessions ended")
            #expect(echoed == count, "\(echoed)/\(count) echoed; first failures: \(failures.prefix(5))\n\(ganger.log.suffix(3000))")
            let shown = try #require(window, "the status JSON shows no launch window")
            #expect(shown >= 2 && shown <= 32, "window \(shown) outside its default bounds")
            #expect(peakLaunching <= 32, "\(peakLaunching) launches in flight at once: the window did not bound them")
        }
    }
}
