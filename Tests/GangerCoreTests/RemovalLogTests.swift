@testable import EventLoop
@testable import GangerCore
import Glibc
import Testing
import TestSupport

/// Removals that fail because the daemon is gone (the fixture's daemon is a socket path where
/// nothing listens): each is given up after five attempts and kept for a retry, and the log
/// says so in a few lines, not five error lines per container.
@Suite struct RemovalLogTests {
    @Test func twentyRemovalsGivenUp_oneLineAtOnce_andOneSum_noLinePerAttempt() async throws {
        let fixture = try await SupervisorFixture(SupervisorReloadTests.service("a"))
        let supervisor = fixture.supervisor
        let ids = (0..<20).map { index in
            let hex = String(index, radix: 16)
            return String(repeating: "c", count: 64 - hex.count) + hex
        }
        try await fixture.loop.run { _ in
            let running = supervisor.value!
            running.digestWindow = .milliseconds(300)
            for id in ids { running.removeContainer(id, on: 0) {} }
        }
        // Five attempts each, 200 + 400 + 600 + 800 ms apart: given up after about 2 s.
        let givenUp = try await fixture.loop.wait(timeout: .seconds(10)) { _ in
            supervisor.value!.daemons[0].unremoved.count == 20 && supervisor.value!.removalsInFlight == 0
        }
        #expect(givenUp, "removals still under way: \(fixture.logs.all.suffix(5))")
        let summed = try await fixture.loop.wait(timeout: .seconds(5)) { _ in
            !fixture.logs.matching("containers not removed").isEmpty
        }
        #expect(summed, "\(fixture.logs.all.suffix(5))")
        let first = fixture.logs.matching("cannot remove container: given up for now")
        #expect(first.count == 1 && first[0].hasPrefix("warning") && first[0].contains("attempts=5"), "\(first)")
        let sums = fixture.logs.matching("containers not removed")
        let total = sums.compactMap { line in line.split(separator: " ").first { $0.hasPrefix("count=") }.flatMap { Int($0.dropFirst(6)) } }
        #expect(sums.allSatisfy { $0.hasPrefix("warning") } && total.reduce(0, +) == 19, "\(sums)")
        // Every attempt is still there for whoever debugs, at debug only.
        let attempts = fixture.logs.matching("cannot remove container ")
        #expect(attempts.count == 100 && attempts.allSatisfy { $0.hasPrefix("debug") }, "\(attempts.count) attempt lines")
        #expect(fixture.logs.all.filter { $0.hasPrefix("error") }.isEmpty, "\(fixture.logs.all.filter { $0.hasPrefix("error") })")
        try await fixture.tearDown()
    }
}
