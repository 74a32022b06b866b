@testable import GangerCore
import Testing

@Suite struct PoolPolicyTests {
    @Test func wanted_countsReadyStartingAndLentEntries() {
        #expect(PoolPolicy.wanted(target: 3, ready: 0, starting: 0, onLoan: 0) == 3)
        #expect(PoolPolicy.wanted(target: 3, ready: 1, starting: 1, onLoan: 0) == 1)
        // Lent entries come back: none is started in their place.
        #expect(PoolPolicy.wanted(target: 3, ready: 0, starting: 0, onLoan: 3) == 0)
        // Above target (a smaller pool after a reload): nothing, never negative.
        #expect(PoolPolicy.wanted(target: 1, ready: 4, starting: 0, onLoan: 0) == 0)
        #expect(PoolPolicy.wanted(target: 0, ready: 0, starting: 0, onLoan: 0) == 0)
    }

    @Test func lends_whileSessionsAreLeftAfterThisOne() {
        #expect(!PoolPolicy.lends(served: 0, reuse: 1))
        #expect(PoolPolicy.lends(served: 0, reuse: 2))
        #expect(!PoolPolicy.lends(served: 1, reuse: 2))
        #expect(PoolPolicy.lends(served: 2, reuse: 4))
    }

    /// A launch waits for a holder only when one is owed to it: one on its way back first (the
    /// short wait), else one being started (the longer one); the ones left without (a holder
    /// came back retired, a start failed) go on at once; a zero wait turns its case off.
    @Test func holderWait_oneWaiterPerOwedHolder_returningBeforeStarting_excessGoesOn() {
        let back = Duration.milliseconds(150), start = Duration.seconds(1)
        func wait(_ returning: Int, _ starting: Int, _ waiting: Int, _ returnWait: Duration = back, _ startWait: Duration = start) -> Duration? {
            PoolPolicy.holderWait(returning: returning, starting: starting, waiting: waiting, returnWait: returnWait, startWait: startWait)
        }
        #expect(wait(0, 0, 0) == nil)
        #expect(wait(1, 0, 0) == back)
        #expect(wait(1, 0, 1) == nil)
        #expect(wait(2, 0, 1) == back)
        #expect(wait(0, 1, 0) == start)
        #expect(wait(1, 1, 1) == start)
        #expect(wait(1, 1, 2) == nil)
        // return_wait 0s: a returning holder is not waited for, a starting one still is.
        #expect(wait(3, 0, 0, .zero) == nil)
        #expect(wait(3, 1, 0, .zero) == start)
        #expect(wait(3, 1, 1, .zero) == nil)
        #expect(wait(0, 2, 0, back, .zero) == nil)
        #expect(PoolPolicy.owedHolders(returning: 1, starting: 2, returnWait: back, startWait: start) == 3)
        #expect(PoolPolicy.owedHolders(returning: 1, starting: 2, returnWait: back, startWait: .zero) == 1)
        #expect(PoolPolicy.owedHolders(returning: 1, starting: 2, returnWait: .zero, startWait: start) == 2)
        #expect(PoolPolicy.excessWaiters(owed: 2, waiting: 2) == 0)
        #expect(PoolPolicy.excessWaiters(owed: 1, waiting: 2) == 1)
        #expect(PoolPolicy.excessWaiters(owed: 0, waiting: 3) == 3)
        #expect(PoolPolicy.excessWaiters(owed: 4, waiting: 1) == 0)
    }

    /// A lent holder stops counting toward `netns.holders` at its second-to-last session, so its
    /// replacement starts then: with reuse 4, sessions 1 and 2 count, 3 and 4 do not; with
    /// reuse 1 or 2, none does (reuse 1 as before: a replacement at every session).
    @Test func holderCounts_untilItsSecondToLastSession() {
        #expect((0..<4).map { PoolPolicy.holderCounts(served: $0, reuse: 4) } == [true, true, false, false])
        #expect(!PoolPolicy.holderCounts(served: 0, reuse: 1))
        #expect(!PoolPolicy.holderCounts(served: 0, reuse: 2) && !PoolPolicy.holderCounts(served: 1, reuse: 2))
        #expect(PoolPolicy.holderCounts(served: 0, reuse: 3) && !PoolPolicy.holderCounts(served: 1, reuse: 3))
    }

    /// A ready holder is a spare once its replacement has started and it has one session left:
    /// with reuse 4, back from its third session; with reuse 2, from its first; never with
    /// reuse 1 (it does not come back) nor a fresh one.
    @Test func holderIsSpare_withItsLastSessionLeftAndItsReplacementStarted() {
        #expect((0..<4).map { PoolPolicy.holderIsSpare(served: $0, reuse: 4) } == [false, false, false, true])
        #expect((0..<3).map { PoolPolicy.holderIsSpare(served: $0, reuse: 3) } == [false, false, true])
        #expect(!PoolPolicy.holderIsSpare(served: 0, reuse: 2) && PoolPolicy.holderIsSpare(served: 1, reuse: 2))
        #expect(!PoolPolicy.holderIsSpare(served: 0, reuse: 1))
        #expect(!PoolPolicy.holderIsSpare(served: 4, reuse: 4))
    }

    /// Only holders beyond `netns.holders`, counting those starting and on loan, are surplus: a
    /// spare whose replacement has not started yet (the launch window held it) is the pool's
    /// only holder for that place and stays.
    @Test func surplus_isWhatTheDaemonHoldsBeyondTheTarget() {
        #expect(PoolPolicy.surplus(target: 4, ready: 5, starting: 0, onLoan: 0) == 1)
        #expect(PoolPolicy.surplus(target: 4, ready: 3, starting: 1, onLoan: 1) == 1)
        #expect(PoolPolicy.surplus(target: 4, ready: 2, starting: 1, onLoan: 1) == 0)
        #expect(PoolPolicy.surplus(target: 1, ready: 1, starting: 0, onLoan: 0) == 0)
        #expect(PoolPolicy.surplus(target: 2, ready: 0, starting: 0, onLoan: 0) == 0)
        #expect(PoolPolicy.spareIdle > .zero)
    }

    /// A pool of 2 with reuse 4, both lent for their third session: one replacement each starts
    /// (the pool holds 4 for a while), and none once the old ones retire.
    @Test func aReusedHolderPool_startsReplacementsOneSessionEarly() {
        let reuse = 4
        var onLoan = 0
        for _ in 0..<2 where PoolPolicy.holderCounts(served: 2, reuse: reuse) { onLoan += 1 }
        #expect(PoolPolicy.wanted(target: 2, ready: 0, starting: 0, onLoan: onLoan) == 2)
        // Back for their last session: ready again beside the two replacements.
        #expect(PoolPolicy.afterSession(served: 3, reuse: reuse, clean: true, current: true) == .serveAgain)
        #expect(PoolPolicy.wanted(target: 2, ready: 4, starting: 0, onLoan: 0) == 0)
        // Their last sessions: retired, nothing to start.
        #expect(PoolPolicy.afterSession(served: 4, reuse: reuse, clean: true, current: true) == .retire)
        #expect(PoolPolicy.wanted(target: 2, ready: 2, starting: 0, onLoan: 0) == 0)
    }

    @Test func afterSession_servesAgainOnlyCleanCurrentAndWithReuseLeft() {
        #expect(PoolPolicy.afterSession(served: 1, reuse: 4, clean: true, current: true) == .serveAgain)
        #expect(PoolPolicy.afterSession(served: 4, reuse: 4, clean: true, current: true) == .retire)
        #expect(PoolPolicy.afterSession(served: 1, reuse: 1, clean: true, current: false) == .retire)
        #expect(PoolPolicy.afterSession(served: 1, reuse: 4, clean: true, current: false) == .discard)
        #expect(PoolPolicy.afterSession(served: 1, reuse: 4, clean: false, current: true) == .discard)
        #expect(PoolPolicy.afterSession(served: 4, reuse: 4, clean: false, current: true) == .discard)
    }

    /// A lent entry stays counted until it is back: a pool of 2 with reuse 3 never starts a
    /// third container while both serve, and starts none when they come back.
    @Test func aReusedPool_keepsItsSize() {
        let reuse = 3
        var served = [0, 0]
        var onLoan = 0
        for _ in 0..<2 where PoolPolicy.lends(served: 0, reuse: reuse) { onLoan += 1 }
        #expect(PoolPolicy.wanted(target: 2, ready: 0, starting: 0, onLoan: onLoan) == 0)
        for index in served.indices {
            served[index] += 1
            onLoan -= 1
            #expect(PoolPolicy.afterSession(served: served[index], reuse: reuse, clean: true, current: true) == .serveAgain)
        }
        #expect(PoolPolicy.wanted(target: 2, ready: 2, starting: 0, onLoan: onLoan) == 0)
    }
}
