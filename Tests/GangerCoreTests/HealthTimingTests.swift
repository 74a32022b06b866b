@testable import GangerCore
import Testing

/// How often a down daemon is pinged (docs/scheduling.md, "Back-off").
@Suite struct HealthTimingTests {
    @Test func aDownDaemon_isPingedAfter1s_thenDoubling_atMostEvery5s() {
        var waits: [Duration] = []
        var previous: Duration?
        for _ in 0..<8 {
            let next = HealthTiming.backoff(after: previous)
            waits.append(next)
            previous = next
        }
        #expect(waits == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5), .seconds(5), .seconds(5), .seconds(5)])
        // Found within 5 s of coming back, whenever that is: the longest gap between two pings.
        #expect(waits.max() == HealthTiming.maxBackoff && HealthTiming.maxBackoff <= .seconds(5))
    }
}
