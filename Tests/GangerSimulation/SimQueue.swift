/// The simulation's agenda: closures to run at a simulated time, in (time, sequence) order, so two
/// events due at the same nanosecond run in the order they were scheduled.
final class SimQueue {
    private struct Entry {
        let at: UInt64
        let sequence: UInt64
        let run: () -> Void
    }

    private var heap: [Entry] = []
    private var sequence: UInt64 = 0
    /// The manual clock: nanoseconds since the scenario began.
    private(set) var now: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    func schedule(at: UInt64, _ run: @escaping () -> Void) {
        sequence += 1
        heap.append(Entry(at: max(at, now), sequence: sequence, run: run))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    func after(_ delay: UInt64, _ run: @escaping () -> Void) { schedule(at: now &+ delay, run) }

    /// Advances the clock to the next entry and runs it; false when nothing is left.
    func step() -> Bool {
        guard !heap.isEmpty else { return false }
        heap.swapAt(0, heap.count - 1)
        let entry = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let smaller = right < heap.count && Self.less(heap[right], heap[left]) ? right : left
            guard Self.less(heap[smaller], heap[parent]) else { break }
            heap.swapAt(parent, smaller)
            parent = smaller
        }
        now = entry.at
        entry.run()
        return true
    }

    private static func less(_ a: Entry, _ b: Entry) -> Bool { a.at < b.at || (a.at == b.at && a.sequence < b.sequence) }
}
