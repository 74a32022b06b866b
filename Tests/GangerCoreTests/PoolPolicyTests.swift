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

    /// A launch waits for a returning holder only when one is owed to it; the ones left without
    /// (a holder came back retired) go on at once; a zero `return_wait` never waits.
    @Test func waitsForReturning_oneWaiterPerReturningHolder_excessGoesOn() {
        let wait = Duration.milliseconds(150)
        #expect(!PoolPolicy.waitsForReturning(returning: 0, waiting: 0, wait: wait))
        #expect(PoolPolicy.waitsForReturning(returning: 1, waiting: 0, wait: wait))
        #expect(!PoolPolicy.waitsForReturning(returning: 1, waiting: 1, wait: wait))
        #expect(PoolPolicy.waitsForReturning(returning: 2, waiting: 1, wait: wait))
        #expect(!PoolPolicy.waitsForReturning(returning: 3, waiting: 0, wait: .zero))
        #expect(PoolPolicy.excessWaiters(returning: 2, waiting: 2) == 0)
        #expect(PoolPolicy.excessWaiters(returning: 1, waiting: 2) == 1)
        #expect(PoolPolicy.excessWaiters(returning: 0, waiting: 3) == 3)
        #expect(PoolPolicy.excessWaiters(returning: 4, waiting: 1) == 0)
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
