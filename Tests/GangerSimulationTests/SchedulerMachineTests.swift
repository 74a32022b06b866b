@testable import GangerCore
import Testing

/// `Scheduler` with a manual clock: admission order, limits, warm containers, timeouts, reloads.
@Suite struct SchedulerMachineTests {
    static let second: UInt64 = 1_000_000_000

    static func scheduler(_ capacities: [Int], queueMax: Int = 10, timeout: UInt64 = 0, perSource: Int = 0,
                          services: Int = 1) -> Scheduler {
        let policy = Scheduler.Policy(queueMax: queueMax, queueTimeout: timeout, perSourceLimit: perSource)
        return Scheduler(placement: Placement(capacities: capacities), policies: Array(repeating: policy, count: services))
    }

    @Test func queuedClients_areAdmittedInArrivalOrder() {
        var s = Self.scheduler([1])
        #expect(s.admit(1, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
        for client in 2...5 as ClosedRange<UInt64> {
            guard case .queued = s.admit(client, service: 0, source: "a", now: client) else { Issue.record("client \(client) not queued"); return }
        }
        var order: [UInt64] = []
        for _ in 0..<4 { order += s.release(0).map(\.client) }
        #expect(order == [2, 3, 4, 5])
        #expect(s.queued(0) == 0)
    }

    @Test func newcomer_neverOvertakesAWaitingClient() {
        var s = Self.scheduler([1])
        _ = s.admit(1, service: 0, source: "a", now: 0)
        _ = s.admit(2, service: 0, source: "a", now: 0)
        // A warm container appears: it goes to the waiting client, and the next newcomer queues.
        #expect(s.warmAdded(service: 0) == [Scheduler.Grant(client: 2, service: 0, slot: .warm)])
        guard case .queued = s.admit(3, service: 0, source: "a", now: 0) else { Issue.record("client 3 not queued"); return }
    }

    @Test func perSourceLimit_countsQueuedAndServed_andFreesOnEnd() {
        var s = Self.scheduler([1], perSource: 2)
        #expect(s.admit(1, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
        guard case .queued = s.admit(2, service: 0, source: "a", now: 0) else { Issue.record("client 2 not queued"); return }
        #expect(s.admit(3, service: 0, source: "a", now: 0) == .refused(.perSource))
        guard case .queued = s.admit(4, service: 0, source: "b", now: 0) else { Issue.record("another source is not limited"); return }
        #expect(s.perSource(0, "a") == 2)
        s.ended(service: 0, source: "a")
        #expect(s.perSource(0, "a") == 1)
        s.ended(service: 0, source: "a")
        s.ended(service: 0, source: "b")
        #expect(s.sourcesCounted(0) == 0)
    }

    @Test func refusedClient_isNotCounted() {
        var s = Self.scheduler([1], queueMax: 0)
        _ = s.admit(1, service: 0, source: "a", now: 0)
        #expect(s.admit(2, service: 0, source: "b", now: 0) == .refused(.queueFull))
        #expect(s.perSource(0, "b") == 0)
    }

    @Test func warmContainer_goesFirst_withoutASlot() {
        var s = Self.scheduler([1])
        #expect(s.warmAdded(service: 0).isEmpty)
        #expect(s.admit(1, service: 0, source: "a", now: 0) == .admitted(.warm))
        #expect(s.placement.daemons[0].load == 0)
        #expect(s.admit(2, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
    }

    @Test func freedSlots_alternateBetweenServices() {
        var s = Self.scheduler([1], services: 2)
        _ = s.admit(1, service: 0, source: "a", now: 0)
        for (client, service) in [(2, 0), (3, 0), (4, 1), (5, 1)] as [(UInt64, Int)] { _ = s.admit(client, service: service, source: "a", now: 0) }
        var services: [Int] = []
        for _ in 0..<4 { services += s.release(0).map(\.service) }
        #expect(services == [0, 1, 0, 1])
    }

    @Test func queueTimeout_expiresOnTick_andSkipsAdmittedClients() {
        var s = Self.scheduler([1], timeout: 2 * Self.second)
        _ = s.admit(1, service: 0, source: "a", now: 0)
        _ = s.admit(2, service: 0, source: "a", now: 0)
        _ = s.admit(3, service: 0, source: "a", now: Self.second)
        #expect(s.nextDeadline == 2 * Self.second)
        #expect(s.tick(now: 2 * Self.second - 1).isEmpty)
        #expect(s.release(0).map(\.client) == [2])
        #expect(s.tick(now: 2 * Self.second).isEmpty)  // client 2's deadline is stale now
        #expect(s.tick(now: 3 * Self.second) == [Scheduler.Expiry(client: 3, service: 0)])
        #expect(s.queued(0) == 0)
    }

    @Test func manyLeavers_deadlinesStayCorrectAfterCompaction() {
        var s = Self.scheduler([1], queueMax: 5000, timeout: 10 * Self.second)
        _ = s.admit(0, service: 0, source: "a", now: 0)
        var tickets: [Int] = []
        for client in 1...3000 as ClosedRange<UInt64> {
            if case let .queued(ticket) = s.admit(client, service: 0, source: "a", now: client) { tickets.append(ticket) }
        }
        for ticket in tickets.dropLast() { s.leave(service: 0, ticket: ticket) }
        #expect(s.queued(0) == 1)
        #expect(s.tick(now: 20 * Self.second) == [Scheduler.Expiry(client: 3000, service: 0)])
    }

    @Test func readmit_takesAnotherDaemon_elseQueuesAgain() {
        var s = Self.scheduler([1, 1])
        #expect(s.admit(1, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
        _ = s.setHealthy(0, false)
        #expect(s.readmit(1, service: 0, source: "a", now: 0) == .admitted(.daemon(1)))
        guard case .queued = s.readmit(2, service: 0, source: "b", now: 0) else { Issue.record("no daemon left: queued"); return }
        #expect(s.setHealthy(0, true) == [])  // daemon 0 still holds client 1's first slot
        #expect(s.release(0) == [Scheduler.Grant(client: 2, service: 0, slot: .daemon(0))])
    }

    @Test func reconfigure_keepsQueuesOfKeptServices_andReturnsThoseOfRemovedOnes() {
        var s = Self.scheduler([1], services: 2)
        _ = s.admit(1, service: 0, source: "a", now: 0)
        _ = s.admit(2, service: 0, source: "a", now: 0)
        _ = s.admit(3, service: 1, source: "b", now: 0)
        let policy = Scheduler.Policy(queueMax: 1, queueTimeout: 0, perSourceLimit: 0)
        // Service 1 moves to index 0, service 0 is removed, a new one is added.
        let dropped = s.reconfigure(policies: [policy, policy], previous: [1, nil])
        #expect(dropped == [Scheduler.Expiry(client: 2, service: 0)])
        #expect(s.queued(0) == 1)
        #expect(s.perSource(0, "b") == 1)
        #expect(s.queued(1) == 0)
        #expect(s.release(0) == [Scheduler.Grant(client: 3, service: 0, slot: .daemon(0))])
    }

    @Test func drain_returnsEveryQueuedClient_andAdmitsNothing() {
        var s = Self.scheduler([1], timeout: Self.second, services: 2)
        _ = s.admit(1, service: 0, source: "a", now: 0)
        _ = s.admit(2, service: 0, source: "a", now: 0)
        _ = s.admit(3, service: 1, source: "a", now: 0)
        #expect(s.drain().map(\.client) == [2, 3])
        #expect(s.nextDeadline == nil)
        #expect(s.admit(4, service: 0, source: "a", now: 0) == .refused(.draining))
        #expect(s.release(0).isEmpty)
        #expect(s.acquire() == nil)
    }
}
