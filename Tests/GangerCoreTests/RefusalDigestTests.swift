@testable import GangerCore
import Testing

/// `RefusalDigest`: one line at once per kind, then a sum per window while refusals go on, and
/// nothing once they stopped.
@Suite struct RefusalDigestTests {
    let rate = RefusalDigest.Kind(service: "echo", reason: "per-source rate")
    let full = RefusalDigest.Kind(service: "echo", reason: "queue full")

    @Test func theFirstIsLoggedAtOnce_theRestSummedPerWindow_untilAWindowPassesWithNone() {
        var digest = RefusalDigest()
        #expect(!digest.needsTick)
        var logNow = digest.refused(rate)
        #expect(logNow && digest.needsTick)
        var loggedLater = 0
        for _ in 0..<999 where digest.refused(rate) { loggedLater += 1 }
        #expect(loggedLater == 0)
        logNow = digest.refused(full)  // another kind opens its own window
        #expect(logNow)
        let first = digest.tick()
        #expect(first.map(\.kind) == [rate] && first.map(\.count) == [999])
        #expect(digest.needsTick)  // `rate` stays open: a flood goes on being summed
        logNow = digest.refused(rate)
        #expect(!logNow)
        let second = digest.tick()
        #expect(second.map(\.kind) == [rate] && second.map(\.count) == [1])
        let third = digest.tick()
        #expect(third.isEmpty)  // a window with none closes it
        #expect(!digest.needsTick)
        logNow = digest.refused(rate)
        #expect(logNow)  // and the next one is logged at once again
    }

    @Test func aFloodOfOneKind_writesOneLinePerWindow() {
        var digest = RefusalDigest()
        var lines = 0
        for window in 0..<10 {
            for _ in 0..<10_000 where digest.refused(rate) { lines += 1 }
            lines += digest.tick().count
            #expect(lines == window + 2, "window \(window)")
        }
    }
}
