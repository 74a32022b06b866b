@testable import GangerCore
import Testing

/// `LogDigest`: one line at once per kind, then a sum per window while events go on, and
/// nothing once they stopped.
@Suite struct LogDigestTests {
    let rate = LogDigest.Kind(subject: "echo", reason: "per-source rate")
    let full = LogDigest.Kind(subject: "echo", reason: "queue full")

    @Test func theFirstIsLoggedAtOnce_theRestSummedPerWindow_untilAWindowPassesWithNone() {
        var digest = LogDigest()
        #expect(!digest.needsTick)
        var logNow = digest.counted(rate)
        #expect(logNow && digest.needsTick)
        var loggedLater = 0
        for _ in 0..<999 where digest.counted(rate) { loggedLater += 1 }
        #expect(loggedLater == 0)
        logNow = digest.counted(full)  // another kind opens its own window
        #expect(logNow)
        let first = digest.tick()
        #expect(first.map(\.kind) == [rate] && first.map(\.count) == [999])
        #expect(digest.needsTick)  // `rate` stays open: a flood goes on being summed
        logNow = digest.counted(rate)
        #expect(!logNow)
        let second = digest.tick()
        #expect(second.map(\.kind) == [rate] && second.map(\.count) == [1])
        let third = digest.tick()
        #expect(third.isEmpty)  // a window with none closes it
        #expect(!digest.needsTick)
        logNow = digest.counted(rate)
        #expect(logNow)  // and the next one is logged at once again
    }

    @Test func aFloodOfOneKind_writesOneLinePerWindow() {
        var digest = LogDigest()
        var lines = 0
        for window in 0..<10 {
            for _ in 0..<10_000 where digest.counted(rate) { lines += 1 }
            lines += digest.tick().count
            #expect(lines == window + 2, "window \(window)")
        }
    }
}
