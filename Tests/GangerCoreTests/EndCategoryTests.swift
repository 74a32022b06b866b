import Testing
@testable import GangerCore

@Suite struct EndCategoryTests {
    @Test func distinctFailureTexts_countAsOneSeries() {
        let texts = [
            "create failed: docker tcp://10.0.0.1:2376: create: 500 conflict on abc123",
            "create failed: docker tcp://10.0.0.2:2376: create: connect: Connection refused",
            "start failed: docker unix:///var/run/docker.sock: start: 500 OCI runtime error",
            "not ready after 50 attempts (connect 172.17.0.9:12345: Connection refused)",
            "not ready within 30s",
            "container 0123456789ab has no address on network bridge",
            "inspect failed: docker x: inspect: timeout",
            "create failed: x; no capacity to retry",
        ]
        #expect(Set(texts.map(EndCategory.of)) == [.launchFailed])
        #expect(EndCategory.of("client left (recv: Connection reset by peer)") == .clientLeft)
        #expect(EndCategory.of("client left while queued") == .clientLeft)
        #expect(EndCategory.of("client left (closed before sending a byte)") == .clientLeft)
        #expect(EndCategory.of("Docker did not start the container within the client's budget") == .launchFailed)
        #expect(Lifecycle.End(reason: "per-source rate", phase: .queued, kind: .refused(.sourceRate)).category == .perSourceRate)
        #expect(Lifecycle.End(reason: "accept rate", phase: .queued, kind: .refused(.acceptRate)).category == .acceptRate)
    }

    @Test func relayAndLimitReasons_keepTheirNames() {
        #expect(EndCategory.of("client closed") == .clientClosed)
        #expect(EndCategory.of("service closed") == .serviceClosed)
        #expect(EndCategory.of("client reset") == .clientReset)
        #expect(EndCategory.of("service reset") == .serviceReset)
        #expect(EndCategory.of("idle timeout") == .idleTimeout)
        #expect(EndCategory.of("max duration") == .maxDuration)
        #expect(EndCategory.of("shutdown") == .shuttingDown)
        #expect(EndCategory.of("client error: send: Broken pipe") == .clientReset)
        #expect(EndCategory.of("something new") == .other)
    }

    @Test func containerNote_onAServiceSideEnd_isContainerExited_theClientsOwnEndStays() {
        #expect(EndCategory.of("service closed (container: exit code 3)") == .containerExited)
        #expect(EndCategory.of("service reset (container: out of memory)") == .containerExited)
        #expect(EndCategory.of("client closed (container: exit code 0)") == .clientClosed)
    }

    @Test func endKind_decidesRefusalsAndTimeouts() {
        let end = { (kind: Lifecycle.EndKind, reason: String) in
            Lifecycle.End(reason: reason, phase: .queued, kind: kind).category
        }
        #expect(end(.refused(.perSource), "per-source limit") == .perSource)
        #expect(end(.refused(.queueFull), "queue full") == .queueFull)
        #expect(end(.refused(.draining), "shutting down") == .shuttingDown)
        #expect(end(.queueTimeout, "queue timeout") == .queueTimeout)
        #expect(end(.relayed, "service closed") == .serviceClosed)
    }

    @Test func everyCategory_isAMetricsLabelOfItsOwn() {
        #expect(Set(EndCategory.allCases.map(\.rawValue)).count == EndCategory.allCases.count)
        for category in EndCategory.allCases { #expect(EndCategory.of(category.rawValue) == category) }
    }
}
