import Testing

/// Scenarios run in `eventloop-probe`, a process of their own (see its main.swift for why).
@Suite struct ProcessProbeTests {
    private func probe(_ scenario: String) throws -> [String: String] {
        let path = buildProductsDirectory() + "/eventloop-probe"
        let (status, output) = try runProcess(path, [scenario])
        #expect(status == 0, "eventloop-probe \(scenario) exited with \(status): \(output)")
        return keyValues(output)
    }

    @Test func everyWayARelayEnds_leavesNoDescriptorBehind() throws {
        let result = try probe("fdleak")
        #expect(result["fds_before"] != nil)
        #expect(result["fds_after"] == result["fds_before"])
        #expect(result["active"] == "0")
        // 50 connections: every fifth the client resets (10); the service answers and closes
        // or resets the other 40 in turn (about 20/20: which is which depends on the order the
        // service accepts in). 10 idle, 10 refused.
        var reasons: [String: Int] = [:]
        for pair in (result["reasons"] ?? "").split(separator: ",") {
            let parts = pair.split(separator: ":")
            reasons[String(parts[0])] = Int(parts[1])
        }
        #expect(reasons["client reset"] == 10)
        #expect(reasons["idle timeout"] == 10)
        #expect((reasons["client closed"] ?? 0) + (reasons["service reset"] ?? 0) == 40)
        #expect((reasons["client closed"] ?? 0) >= 15 && (reasons["service reset"] ?? 0) >= 15)
        #expect(reasons.count == 4)
        #expect(result["refused"] == "10")
        #expect((Int(result["received"] ?? "") ?? 0) == 4 * (reasons["client closed"] ?? -1))
    }

    @Test func acceptingWithoutDescriptors_pausesInsteadOfSpinning_thenResumes() throws {
        let result = try probe("emfile")
        let calls = Int(result["exhausted_calls"] ?? "") ?? .max
        let pauses = Int(result["exhausted_pauses"] ?? "") ?? 0
        // One second out of descriptors with a 100 ms pause: about ten retries. A busy loop
        // would make hundreds of thousands of accept4 calls.
        #expect(calls < 100, "accept4 calls while exhausted: \(calls)")
        #expect(pauses >= 5)
        #expect(Int(result["exhausted_accepted"] ?? "") ?? 0 < 100)
        #expect(result["final_accepted"] == "100")
    }

    @Test func httpServer_clientsEndingEveryWay_leaveNoDescriptorBehind() throws {
        let result = try probe("httpserver")
        #expect(result["open"] == "0")
        #expect(result["fds_served"] == result["fds_serving"])
        #expect(result["fds_after"] == result["fds_before"])
        // Answered: 2 per well-behaved client, 1 per malformed one; the reset clients' answers
        // may or may not have been made before the reset arrived.
        #expect((Int(result["responses"] ?? "") ?? 0) >= 20 * 2 + 20)
    }
}
