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
            let pushed = queue.push(name)
            #expect(pushed == i)
        }
        let r7 = queue.remove(ticket: 1)
        #expect(r7 == "b")
        let r8 = queue.remove(ticket: 1)
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
        let r13 = queue.push(1) != nil
        #expect(r13)
        let r14 = queue.push(2) != nil
        #expect(r14)
        let refused = queue.push(3) != nil
        #expect(!refused)
        #expect(queue.count == 2)
    }

    @Test func longChurn_keepsOrderAcrossCompaction() {
        var queue = WaitQueue<Int>(capacity: 100_000)
        var expected = 0
        var next = 0
        for _ in 0..<50 {
            for _ in 0..<1000 { _ = queue.push(next); next += 1 }
            for _ in 0..<900 {
                let r15 = queue.pop()
                #expect(r15 == expected)
                expected += 1
            }
        }
        #expect(queue.count == 50 * 100)
    }
}

/// The indexed placement against the plain rule it implements: least ratio among daemons with
/// room, ties from the one after the previous choice, over random operations.
@Suite struct PlacementModelTests {
    struct Model {
        var caps: [Int]
        var loads: [Int]
        var healthy: [Bool]
        var rotation = 0
        func room(_ i: Int) -> Bool { healthy[i] && (caps[i] < 0 || loads[i] < caps[i]) }
        func ratio(_ i: Int) -> Double { caps[i] < 0 ? Double(loads[i]) / 1_000_000 : Double(loads[i]) / Double(max(caps[i], 1)) }
        mutating func acquire() -> Int? {
            var best: Int?
            for step in 0..<caps.count {
                let i = (rotation + step) % caps.count
                guard room(i) else { continue }
                if let b = best, ratio(b) <= ratio(i) { continue }
                best = i
            }
            guard let chosen = best else { return nil }
            rotation = (chosen + 1) % caps.count
            loads[chosen] += 1
            return chosen
        }
    }

    @Test(arguments: [1, 2, 3, 7, 16, 33])
    func randomOperations_matchTheLinearRule(daemons: Int) {
        var rng = SystemRandomNumberGenerator()
        let caps = (0..<daemons).map { _ in [-1, 0, 1, 2, 3, 5, 10].randomElement(using: &rng)! }
        var placement = Placement(capacities: caps)
        var model = Model(caps: caps, loads: Array(repeating: 0, count: daemons), healthy: Array(repeating: true, count: daemons))
        for step in 0..<5_000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let got = placement.acquire()
                let want = model.acquire()
                #expect(got == want, "step \(step): acquire \(String(describing: got)), rule says \(String(describing: want))")
                if got != want { return }
            case 5..<8:
                if let i = (0..<daemons).filter({ model.loads[$0] > 0 }).randomElement(using: &rng) {
                    placement.release(i)
                    model.loads[i] -= 1
                }
            case 8:
                let i = Int.random(in: 0..<daemons, using: &rng)
                let up = Bool.random(using: &rng)
                placement.setHealthy(i, up)
                model.healthy[i] = up
            default:
                let i = Int.random(in: 0..<daemons, using: &rng)
                let cap = [-1, 0, 1, 4].randomElement(using: &rng)!
                placement.setCapacity(i, cap)
                model.caps[i] = cap
            }
            #expect(placement.hasRoom == (0..<daemons).contains { model.room($0) })
        }
    }
}
