import Glibc
import Testing
import TestSupport

/// A daemon that refuses a service's launches (its image removed under Ganger, a full disk): in
/// `SchedulerTests` (serialized) because it shares the extra daemons with them.
extension SchedulerTests {
    /// The service's image is a tag of its own on both daemons; the tag is removed on daemon 1
    /// while Ganger runs (`docker rmi`, as a cleanup job would), so every create there is
    /// answered 404 "No such image". Before, that daemon freed its slot at once and stayed the
    /// least loaded: found by hand, 10 clients at once lost 6, and one at a time lost every
    /// other one. Now the first refusal holds the service off daemon 1 (`LaunchBreaker`), the
    /// client is placed again on daemon 2, and one trial goes to daemon 1 after each hold; once
    /// the tag is back, a trial starts there and daemon 1 takes sessions again.
    @Test func aDaemonWhoseImageIsRemoved_isHeldOff_everyClientServedOnTheOther_andItComesBack() async throws {
        let instance = uniqueInstance("refusing")
        let image = "ganger-echo:\(instance)"
        for k in 1...2 { _ = try ExtraDaemons.docker(k, ["tag", "ganger-echo:latest", image]) }
        defer { for k in 1...2 { _ = try? ExtraDaemons.docker(k, ["rmi", image]) } }
        let yaml = multiDaemonConfig(instance: instance, capacities: [10, 10], service: ServiceYAML(name: "echo", image: image))
        try await withMultiGanger(instance: instance, yaml: yaml) { ganger, addresses in
            let address = try #require(addresses["echo"])
            _ = try ExtraDaemons.docker(1, ["rmi", image])

            // One client at a time: each would find daemon 1 the emptier.
            try await onThread {
                for i in 0..<8 { try echoSession(address, payload: Array("one at a time \(i)\n".utf8) + randomBytes(1024)) }
            }
            // Then ten at once.
            let outcomes = try await chaosClients(10, address)
            #expect(outcomes.allSatisfy { $0 == .echoed }, "\(outcomes)\n\(ganger.log.suffix(6000))")
            #expect(ganger.log.contains("Docker refused a launch: the service's launches held off the daemon"), "\(ganger.log.suffix(6000))")
            #expect(ganger.log.contains("No such image"), "\(ganger.log.suffix(6000))")
            #expect(ganger.log.contains("Docker refused the launch: placed again"), "\(ganger.log.suffix(6000))")

            // The tag is back: a trial starts there, and daemon 1 serves the service again.
            _ = try ExtraDaemons.docker(1, ["tag", "ganger-echo:latest", image])
            let back = try await onThread { () -> Bool in
                try poll(timeout: .seconds(60), interval: .milliseconds(300)) {
                    try echoSession(address, payload: Array("after the tag is back\n".utf8))
                    return ganger.log.contains("the service answered in a container there: launches no longer held off")
                }
            }
            #expect(back, "daemon 1 still held off 60 s after its image was back\n\(ganger.log.suffix(6000))")
            let status = try await onThread { try ganger.status() }
            #expect(status.daemons.map(\.heldOff) == [[], []], "\(status.daemons)")
            let held = HeldClients()
            defer { held.closeAll() }
            try await onThread { try held.openEchoing(2, address, tag: "spread") }
            let running = try await onThread { try ExtraDaemons.running(instance: instance) }
            #expect(running == [1, 1], "two sessions at once once daemon 1 is back: \(running)\n\(ganger.placementSummary())")
            held.closeAll()
            let left = try await onThread { try ExtraDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left after the sessions ended: \(left)")
        }
    }
}
