import Testing
@testable import GangerCore

/// Datacenter preference and a dynamic daemon set (Consul discovery) in `Placement`.
@Suite struct PlacementDatacenterTests {
    @Test func preferredDatacenter_isFilledFirst_thenSpillsToTheNext() {
        // Daemons 0, 1 in the preferred datacenter (rank 0), 2 in the next (rank 1).
        var placement = Placement(capacities: [2, 2, 10], ranks: [0, 0, 1])
        let first = (0..<4).map { _ in placement.acquire() }
        #expect(first.compactMap { $0 }.sorted() == [0, 0, 1, 1], "rank 0 daemons take the first four: \(first)")
        #expect(placement.acquire() == 2, "rank 0 full: spill to rank 1")
        #expect(placement.acquire() == 2)
        placement.release(1)
        #expect(placement.acquire() == 1, "room again in rank 0: back there, though rank 1 is emptier")
    }

    @Test func leastLoadedWithinTheBestRankWithRoom() {
        var placement = Placement(capacities: [4, 4, 1], ranks: [1, 1, 0])
        #expect(placement.acquire() == 2)
        // Rank 0 full: least-loaded of rank 1, rotating between equals.
        let next = (0..<4).compactMap { _ in placement.acquire() }
        #expect(next.sorted() == [0, 0, 1, 1], "\(next)")
        placement.add(on: 0)
        #expect(placement.acquire() == 1, "daemon 0 holds 3, daemon 1 holds 2")
    }

    @Test func preferredDatacenterDown_spills_andComesBackWhenHealthy() {
        var placement = Placement(capacities: [5, 5], ranks: [0, 1])
        placement.setHealthy(0, false)
        #expect(placement.acquire() == 1)
        placement.setHealthy(0, true)
        #expect(placement.acquire() == 0)
    }

    @Test func allFull_queue() {
        var placement = Placement(capacities: [1, 1], ranks: [0, 1])
        #expect(placement.acquire() == 0)
        #expect(placement.acquire() == 1)
        #expect(placement.acquire() == nil)
        #expect(!placement.hasRoom)
    }

    @Test func appendedDaemon_isUsedOnceHealthy_andTheTreeGrowsPastItsLeaves() {
        var placement = Placement(capacities: [])
        #expect(placement.acquire() == nil)
        var indices: [Int] = []
        for _ in 0..<5 { indices.append(placement.append(capacity: 1, rank: 0, healthy: false)) }
        #expect(indices == [0, 1, 2, 3, 4])
        #expect(placement.acquire() == nil, "joining daemons are not used before they are ready")
        placement.setHealthy(3, true)
        #expect(placement.acquire() == 3)
        for index in [0, 1, 2, 4] { placement.setHealthy(index, true) }
        #expect(Set((0..<4).compactMap { _ in placement.acquire() }) == [0, 1, 2, 4])
        #expect(placement.acquire() == nil)
    }

    @Test func retiredDaemon_getsNothingNew_keepsItsLoad_andMayRejoin() {
        var placement = Placement(capacities: [10, 10])
        #expect(placement.acquire() != nil)
        #expect(placement.acquire() != nil)
        placement.setRetired(0, true)
        for _ in 0..<5 { #expect(placement.acquire() == 1) }
        #expect(placement.daemons[0].load == 1, "its session goes on, its slot stays counted")
        placement.release(0)
        #expect(placement.daemons[0].load == 0)
        placement.setRetired(0, false)
        #expect(placement.acquire() == 0, "rejoined and emptiest")
    }

    @Test func rankChange_reordersPreference() {
        var placement = Placement(capacities: [5, 5], ranks: [0, 1])
        #expect(placement.acquire() == 0)
        placement.setRank(0, 2)
        #expect(placement.acquire() == 1)
    }
}
