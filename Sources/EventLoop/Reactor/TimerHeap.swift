/// Identifies a scheduled timer; pass it to `Reactor.cancel`.
public struct TimerID: Hashable, Sendable {
    let value: UInt64
}

/// Pending timers: a binary min-heap of (deadline, id) plus a table of live callbacks.
///
/// Cancelling only removes the callback (a tombstone); the heap entry is skipped when it
/// surfaces. That makes `cancel` O(1) and safe inside any callback. When tombstones outnumber
/// live timers the heap is rebuilt, so churn (idle timers re-armed per session) cannot grow it
/// without bound. Push and pop are O(log n): 100k pending timers stay cheap.
struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var count: Int { callbacks.count }

    mutating func schedule(at deadline: UInt64, _ callback: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID += 1
        callbacks[id] = callback
        push(Entry(deadline: deadline, id: id))
        return TimerID(value: id)
    }

    /// Removes a timer; returns whether it was still pending.
    @discardableResult
    mutating func cancel(_ timer: TimerID) -> Bool {
        guard callbacks.removeValue(forKey: timer.value) != nil else { return false }
        if heap.count > 64 && heap.count > 2 * callbacks.count { compact() }
        return true
    }

    /// The earliest live deadline, dropping tombstones on the way.
    mutating func nextDeadline() -> UInt64? {
        while let top = heap.first {
            if callbacks[top.id] != nil { return top.deadline }
            _ = pop()
        }
        return nil
    }

    /// Removes and returns the callback of the earliest timer due at `now`, if any.
    mutating func popDue(now: UInt64) -> (() -> Void)? {
        while let top = heap.first, top.deadline <= now {
            _ = pop()
            if let callback = callbacks.removeValue(forKey: top.id) { return callback }
        }
        return nil
    }

    private mutating func compact() {
        heap.removeAll { callbacks[$0.id] == nil }
        // Floyd's heapify: sift down every inner node, last first.
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if less(heap[parent], heap[child]) { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private mutating func pop() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            if left >= heap.count { return }
            var smallest = left
            if left + 1 < heap.count && less(heap[left + 1], heap[left]) { smallest = left + 1 }
            if less(heap[parent], heap[smallest]) { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    // Ties go to the earlier-scheduled timer, so equal deadlines fire in scheduling order.
    private func less(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline < b.deadline || (a.deadline == b.deadline && a.id < b.id)
    }
}
