import EventLoop
import GangerCore
import Testing

/// A daemon that answers pings but does no launch work (`StallWatch`), driven through
/// `Lifecycle` with a manual clock: the case of dockerd's libnetwork deadlock, where creates
/// answered and every start hung.
@Suite struct StallWatchTests {
    static let ms: UInt64 = 1_000_000
    static let sec: UInt64 = 1_000_000_000
    typealias B = LaunchBreakerTests

    static func starts(_ actions: [Lifecycle.Action]) -> [(UInt64, Int, Int)] {
        actions.compactMap { if case let .launch(id, generation, .start(daemon, _, _)) = $0 { (id, generation, daemon) } else { nil } }
    }

    @Test func theWatchAlone_aCallOutTenSecondsWithNoAnswerOfItsKind_isAStall() {
        var watch = StallWatch()
        #expect(!watch.isStalled(.start, daemon: 0, callSince: 0, now: 10 * Self.sec - 1))
        #expect(watch.isStalled(.start, daemon: 0, callSince: 0, now: 10 * Self.sec), "no start ever answered there")
        // Another start answered a second ago: busy, not stuck.
        watch.answered(.start, daemon: 0, now: 9 * Self.sec)
        #expect(!watch.isStalled(.start, daemon: 0, callSince: 0, now: 10 * Self.sec))
        #expect(watch.isStalled(.start, daemon: 0, callSince: 0, now: 19 * Self.sec))
        // Creates answering say nothing of starts (the deadlock let creates through).
        watch.answered(.create, daemon: 0, now: 18 * Self.sec)
        #expect(watch.isStalled(.start, daemon: 0, callSince: 0, now: 19 * Self.sec))
        // Per daemon.
        #expect(!watch.isStalled(.start, daemon: 1, callSince: 15 * Self.sec, now: 19 * Self.sec))
        watch.forget(daemon: 0)
        #expect(watch.isStalled(.start, daemon: 0, callSince: 0, now: 10 * Self.sec))
    }

    // Daemon 0's starts hang while it answers creates (and, in the driver, pings). Before, its
    // client waited out its whole budget and was closed; now it is placed on daemon 1 after
    // 10 s, and daemon 0 is held off its service.
    @Test func startsThatHang_theClientIsPlacedOnTheOtherDaemon_afterTenSeconds_andTheDaemonIsHeldOff() {
        var life = B.lifecycle(capacities: [4, 4])
        let first = B.creates(life.handle(.accepted(1, service: 0, source: "a", settings: B.settings()), now: 0))
        #expect(first.map(\.2) == [0])
        let start = Self.starts(life.handle(.launch(1, generation: first[0].1, .created(id: "c1", holder: nil)), now: Self.ms))
        #expect(start.map(\.2) == [0])
        // Nothing answers the start. Ten seconds on, before: nothing happened (the call's own
        // timeout is the client's budget, a minute).
        #expect(life.handle(.tick, now: 10 * Self.sec).isEmpty)
        let stalled = life.handle(.tick, now: 10 * Self.sec + Self.ms)
        #expect(B.logs(stalled).contains("Docker on the daemon does no launch work: its launches are placed again, its services held off"))
        #expect(B.logs(stalled).contains("daemon stuck while Docker worked on the launch: placed again"))
        #expect(B.creates(stalled).map(\.2) == [1], "placed again on daemon 1")
        #expect(B.ends(stalled).isEmpty)
        #expect(life.scheduler.heldOff(0) == [0])
        #expect(life.breaker.entries[.init(service: 0, daemon: 0)]?.error.contains("no answer to a start in 10 s") == true)
        // The container the hung start was for is given up (removed once the daemon answers).
        #expect(stalled.contains { if case .launch(1, first[0].1, .dispose(0, "c1", _, _)) = $0 { true } else { false } })
        // A newcomer goes to daemon 1 too while daemon 0 is held off, though it holds less.
        #expect(B.creates(life.handle(.accepted(2, service: 0, source: "a", settings: B.settings()), now: 11 * Self.sec)).map(\.2) == [1])
    }

    // A busy daemon answers starts all the time, however long each one takes: no stall.
    @Test func aSlowStartOnABusyDaemon_isNoStall() {
        var life = B.lifecycle(capacities: [4])
        let creates = B.creates(life.handle(.accepted(1, service: 0, source: "a", settings: B.settings()), now: 0)
                                + life.handle(.accepted(2, service: 0, source: "b", settings: B.settings()), now: 0))
        #expect(creates.map(\.2) == [0, 0])
        for (id, generation, _) in creates { _ = life.handle(.launch(id, generation: generation, .created(id: "c\(id)", holder: nil)), now: Self.ms) }
        // One start answers after 9 s; the other is still out at 10 s: busy, not stuck.
        _ = life.handle(.launch(creates[1].0, generation: creates[1].1, .started), now: 9 * Self.sec)
        let ticked = life.handle(.tick, now: 10 * Self.sec + Self.ms)
        #expect(B.logs(ticked).isEmpty && B.creates(ticked).isEmpty, "\(ticked)")
        #expect(life.breaker.isEmpty)
        // It answers at 12 s: launched where it was placed.
        let late = life.handle(.launch(creates[0].0, generation: creates[0].1, .started), now: 12 * Self.sec)
        #expect(late.contains { if case .launch(_, _, .locate(0, _, _)) = $0 { true } else { false } })
    }

    // The only daemon is stuck: its client waits in the queue; after the hold one trial goes
    // there; the daemon works again, the trial reaches its service and the breaker closes.
    @Test func theOnlyDaemonStuck_thenWorkingAgain_aTrialClosesTheHold() {
        var life = B.lifecycle(capacities: [4])
        let first = B.creates(life.handle(.accepted(1, service: 0, source: "a", settings: B.settings()), now: 0))
        _ = life.handle(.launch(1, generation: first[0].1, .created(id: "c1", holder: nil)), now: Self.ms)
        let stalled = life.handle(.tick, now: 10 * Self.sec + Self.ms)
        #expect(B.creates(stalled).isEmpty)
        #expect(life.sessions[1]?.phase == .queued, "no other daemon: it waits")
        // The hold (1 s) runs out: client 1's launch is the trial.
        let trial = B.creates(life.handle(.tick, now: 11 * Self.sec + Self.ms))
        #expect(trial.map(\.0) == [1] && trial.map(\.2) == [0])
        let served = [LaunchMachine.Event.created(id: "c2", holder: nil), .started, .located(.init(address: B.address, running: true)), .connected].flatMap {
            life.handle(.launch(1, generation: trial[0].1, $0), now: 11 * Self.sec + 2 * Self.ms)
        }
        #expect(B.logs(served).contains("the service answered in a container there: launches no longer held off"))
        #expect(life.breaker.isEmpty && life.sessions[1]?.phase == .relaying)
    }
}
