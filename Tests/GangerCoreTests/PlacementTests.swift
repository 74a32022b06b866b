import Testing
@testable import GangerCore

@Suite struct PlacementTests {
    @Test func sixSessionsOverTwoEqualDaemons_split3And3() {
        var placement = Placement(capacities: [10, 10])
        var counts = [0, 0]
        for _ in 0..<6 { counts[placement.acquire()!] += 1 }
        #expect(counts == [3, 3])
    }

    @Test func leastLoadedByRatio_prefersTheEmptierDaemon() {
        var placement = Placement(capacities: [4, 100])
        placement.add(on: 1)
        placement.add(on: 1)  // daemon 1 at 2/100; daemon 0 at 0/4 is emptier
        let r1 = placement.acquire()
        #expect(r1 == 0)
        #expect(placement.acquire() == 1)  // 1/4 = 0.25 vs 2/100 = 0.02
    }

    @Test func capsAreNeverExceeded_andReleaseFreesASlot() {
        var placement = Placement(capacities: [1, 1])
        let r2 = placement.acquire()
        #expect(r2 != nil)
        let r3 = placement.acquire()
        #expect(r3 != nil)
        let r4 = placement.acquire()
        #expect(r4 == nil)
        #expect(!placement.hasRoom)
        placement.release(0)
        let r5 = placement.acquire()
        #expect(r5 == 0)
    }

    @Test func unhealthyDaemonsGetNothing_untilReadmitted() {
        var placement = Placement(capacities: [10, 10])
        placement.setHealthy(0, false)
        for _ in 0..<5 {
            let got = placement.acquire()
            #expect(got == 1)
        }
        placement.setHealthy(0, true)
        let r6 = placement.acquire()
        #expect(r6 == 0)
    }

    @Test func unlimitedCapacity_takesEverything() {
        var placement = Placement(capacities: [-1])
        var all = true
        for _ in 0..<10_000 where placement.acquire() != 0 { all = false }
        #expect(all)
    }

    @Test func tiesRotate_notAlwaysTheFirst() {
        var placement = Placement(capacities: [10, 10, 10])
        var firsts: [Int] = []
        for _ in 0..<3 {
            let d = placement.acquire()!
            firsts.append(d)
            placement.release(d)
        }
        #expect(Set(firsts).count == 3)
    }
}

@Suite struct WaitQueueTests {
    @Test func fifo_withRemovalFromTheMiddle() {
        var queue = WaitQueue<String>(capacity: 10)
        for (i, name) in ["a", "b", "c", "d"].enumerated() {
            let pushed = queue.push(name, id: UInt64(i))
            #expect(pushed)
        }
        let r7 = queue.remove(id: 1)
        #expect(r7 == "b")
        let r8 = queue.remove(id: 1)
        #expect(r8 == nil)
        #expect(queue.count == 3)
        let r9 = queue.pop()
        #expect(r9 == "a")
        let r10 = queue.pop()
        #expect(r10 == "c")
        let r11 = queue.pop()
        #expect(r11 == "d")
        let r12 = queue.pop()
        #expect(r12 == nil)
    }

    @Test func full_refusesAndStoresNothing() {
        var queue = WaitQueue<Int>(capacity: 2)
        let r13 = queue.push(1, id: 1)
        #expect(r13)
        let r14 = queue.push(2, id: 2)
        #expect(r14)
        let refused = queue.push(3, id: 3)
        #expect(!refused)
        #expect(queue.count == 2)
    }

    @Test func longChurn_keepsOrderAcrossCompaction() {
        var queue = WaitQueue<Int>(capacity: 100_000)
        var expected = 0
        var next = 0
        for _ in 0..<50 {
            for _ in 0..<1000 { _ = queue.push(next, id: UInt64(next)); next += 1 }
            for _ in 0..<900 {
                let r15 = queue.pop()
                #expect(r15 == expected)
                expected += 1
            }
        }
        #expect(queue.count == 50 * 100)
    }
}
