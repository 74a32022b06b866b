import Glibc
import Synchronization
import Testing
@testable import EventLoop
import TestSupport

@Suite struct ReactorTests {
    /// `ganger run` reports a startup failure found before the loop runs by stopping the loop
    /// it has not run yet; `run()` used to clear that request and wait forever.
    @Test(.timeLimit(.minutes(1)))
    func stopBeforeRun_endsRunAfterOneRound_andTheLoopRunsAgainAfterwards() throws {
        let reactor = try Reactor()
        var log: [String] = []
        reactor.soon { log.append("soon") }
        // Where the stop is lost, run() waits for this instead of forever: the failure shows.
        let bound = reactor.schedule(after: .seconds(3)) {
            log.append("still running after 3 s")
            reactor.stop()
        }
        reactor.stop()
        try reactor.run()
        #expect(log == ["soon"])
        reactor.cancel(bound)
        reactor.schedule(after: .milliseconds(5)) {
            log.append("timer")
            reactor.stop()
        }
        try reactor.run()
        #expect(log == ["soon", "timer"])
    }

    @Test func timers_fireInDeadlineOrder_andCancelledOnesNever() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let fired = LoopBox<[Int]>([])
        try await loop.run { reactor in
            for (i, ms) in [30, 10, 20, 10, 0].enumerated() {
                let id = reactor.schedule(after: .milliseconds(ms)) { fired.value.append(i) }
                if i == 2 { reactor.cancel(id) }
            }
        }
        #expect(try await loop.wait { _ in fired.value.count == 4 })
        try await Task.sleep(for: .milliseconds(50))
        // Equal deadlines keep scheduling order (1 before 3); the cancelled timer (2) never runs.
        #expect(try await loop.run { _ in fired.value } == [4, 1, 3, 0])
    }

    @Test func timers_cancelInsideACallback_stopsALaterTimer() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let fired = LoopBox<[String]>([])
        try await loop.run { reactor in
            let box = LoopBox<TimerID?>(nil)
            reactor.schedule(after: .milliseconds(5)) {
                fired.value.append("first")
                reactor.cancel(box.value!)
            }
            box.value = reactor.schedule(after: .milliseconds(5)) { fired.value.append("second") }
            reactor.schedule(after: .milliseconds(30)) { fired.value.append("third") }
        }
        #expect(try await loop.wait { _ in fired.value.count == 2 })
        #expect(try await loop.run { _ in fired.value } == ["first", "third"])
    }

    @Test func timers_100kPending_scheduleAndCancelStayCheap() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let count = 100_000
        let fired = LoopBox(0)
        let pending = try await loop.run { reactor in
            var ids: [TimerID] = []
            ids.reserveCapacity(count)
            for i in 0..<count { ids.append(reactor.schedule(after: .milliseconds(50 + i % 100)) { fired.value += 1 }) }
            for id in ids[..<(count / 2)] { reactor.cancel(id) }
            return reactor.pendingTimerCount
        }
        #expect(pending == count / 2)
        #expect(try await loop.wait { _ in fired.value == count / 2 })
        #expect(try await loop.run { reactor in reactor.pendingTimerCount } == 0)
    }

    @Test func wakeup_tasksFromManyThreads_allRunOnTheLoopThread() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let loopThread = try await loop.run { _ in pthread_self() }
        let counters = Counters()
        let threads = 8, perThread = 1000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<threads {
                group.addTask {
                    try await onThread {
                        for _ in 0..<perThread {
                            loop.handle.execute {
                                if pthread_equal(pthread_self(), loopThread) == 0 { counters.offLoop.add(1, ordering: .relaxed) }
                                counters.ran.add(1, ordering: .relaxed)
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while counters.ran.load(ordering: .relaxed) < threads * perThread && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(counters.ran.load(ordering: .relaxed) == threads * perThread)
        #expect(counters.offLoop.load(ordering: .relaxed) == 0)
    }

    /// NIO's testWeDoNotDeliverEventsForPreviouslyClosedChannels, in our terms: an event already
    /// fetched for an fd that an earlier handler of the same round closed, and whose number a
    /// new registration took, must not reach the new handler.
    @Test func staleEvent_afterFdReuseInTheSameRound_isDropped() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let log = LoopBox<[String]>([])
        try await loop.run { reactor in
            let p = try socketPair(), q = try socketPair()
            let qNumber = q.0
            let qRegistration = LoopBox<Registration?>(nil)
            _ = try reactor.register(p.0, interest: .readable) { _ in
                guard log.value.isEmpty else { return }
                log.value.append("p")
                // Put a fresh socket under q.0's number (dup2 closes the old one atomically, so
                // no other thread can take the number in between), and register it anew.
                guard let r = try? socketPair() else { return }
                reactor.deregister(qRegistration.value!)
                dup2(r.0, qNumber)
                close(r.0)
                _ = try? reactor.register(qNumber, interest: .readable) { _ in log.value.append("new-q") }
            }
            qRegistration.value = try reactor.register(q.0, interest: .readable) { _ in log.value.append("old-q") }
            // Both readable before the next epoll_wait, p first: one round carries both events.
            _ = write(p.1, "x", 1)
            _ = write(q.1, "x", 1)
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await loop.run { _ in log.value } == ["p"])
    }

    @Test func deregister_isIdempotent_andStaleRegistrationsAreIgnored() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let counts = try await loop.run { reactor in
            let before = reactor.registrationCount
            var fds: [CInt] = [0, 0]
            _ = pipe(&fds)
            let registration = try reactor.register(fds[0], interest: .readable) { _ in }
            let during = reactor.registrationCount
            reactor.deregister(registration)
            reactor.deregister(registration)
            close(fds[0])
            close(fds[1])
            return (before, during, reactor.registrationCount)
        }
        #expect(counts.1 == counts.0 + 1)
        #expect(counts.2 == counts.0)
    }

    /// `forget` and `park` drop the registration without EPOLL_CTL_DEL (a parked descriptor stays
    /// in the set for a next owner); closing the descriptor takes it out of the epoll set, its
    /// number can be registered again (after a park, the MOD finds nothing and the ADD follows),
    /// and only the new handler hears; stopping twice is a no-op.
    @Test(arguments: ["forget", "park"])
    func stopWatching_thenClose_numberRegistersAgain_andOnlyTheNewHandlerHears(how: String) async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let log = LoopBox<[String]>([])
        let writers = try await loop.run { reactor in
            let before = reactor.registrationCount
            let old = try socketPair()
            let registration = try reactor.register(old.0, interest: .readable) { _ in log.value.append("old") }
            for _ in 0..<2 {
                if how == "park" { reactor.park(registration) } else { reactor.forget(registration) }
            }
            #expect(reactor.registrationCount == before)
            // dup2 closes the old socket (its only descriptor, so it leaves the epoll set) and
            // puts a new one under the same number; a slot left behind would trip register's
            // "registered twice" check.
            let number = old.0
            let fresh = try socketPair()
            dup2(fresh.0, number)
            close(fresh.0)
            let again = try reactor.register(number, interest: .readable) { _ in log.value.append("new") }
            _ = write(old.1, "x", 1)
            _ = write(fresh.1, "x", 1)
            return (old.1, fresh.1, again)
        }
        #expect(try await loop.wait { _ in !log.value.isEmpty })
        try await Task.sleep(for: .milliseconds(30))
        #expect(try await loop.run { _ in log.value } == ["new"])
        try await loop.run { reactor in
            reactor.deregister(writers.2)
            close(writers.2.fd)
        }
        close(writers.0)
        close(writers.1)
    }

    /// A parked descriptor stays in the epoll set (an ADD of it would fail with EEXIST): its
    /// next registration re-arms it with one MOD, which reports the bytes that came while it
    /// was parked to the new handler only.
    @Test func park_thenRegister_reArmsTheSameDescriptor_andOnlyTheNewHandlerHears() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let log = LoopBox<[String]>([])
        let pair = try await loop.run { reactor in
            let pair = try socketPair()
            let registration = try reactor.register(pair.0, interest: .readable) { _ in log.value.append("parked") }
            reactor.park(registration)
            reactor.park(registration)
            _ = write(pair.1, "x", 1)
            return pair
        }
        try await Task.sleep(for: .milliseconds(30))
        #expect(try await loop.run { _ in log.value }.isEmpty)
        let again = try await loop.run { reactor in
            try reactor.register(pair.0, interest: .readable) { _ in log.value.append("new") }
        }
        #expect(try await loop.wait { _ in !log.value.isEmpty })
        #expect(try await loop.run { _ in log.value } == ["new"])
        try await loop.run { reactor in reactor.deregister(again) }
        close(pair.0)
        close(pair.1)
    }

    @Test func signals_arriveThroughTheSignalfd() async throws {
        let got = LoopBox<[Int32]>([])
        let loop = try ReactorThread { reactor in
            // Thread-directed and blocked on this thread only: nothing else in the test process
            // can take it, and raise() below targets exactly this thread.
            Signals.block([SIGUSR2])
            let source = try! SignalSource(reactor: reactor, signals: [SIGUSR2]) { got.value.append($0) }
            reactor.schedule(after: .seconds(3600)) { source.close() }  // keeps the source alive
        }
        defer { loop.stop() }
        try await loop.run { _ in
            raise(SIGUSR2)
            raise(SIGUSR2)
        }
        #expect(try await loop.wait { _ in !got.value.isEmpty })
        // Standard signals coalesce while pending: one or two deliveries, each SIGUSR2.
        #expect(try await loop.run { _ in got.value.allSatisfy { $0 == SIGUSR2 } })
    }
}

private final class Counters: Sendable {
    let ran = Atomic<Int>(0)
    let offLoop = Atomic<Int>(0)
}

