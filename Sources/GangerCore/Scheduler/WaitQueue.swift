/// A bounded FIFO of waiting clients, O(1) at both ends and O(1) removal from the middle.
///
/// `push` returns a ticket: the entry's absolute position since the queue began. Removing by
/// ticket marks the slot empty (a client that left); empty slots are skipped when they reach
/// the head. No hashing on any path: admissions are a pop, a push and an array index.
///
/// Inlinable: a generic used from another module (the bench, a test) otherwise runs
/// unspecialized, through witness tables, and measures something slower than what ganger runs.
public struct WaitQueue<Element> {
    public typealias Ticket = Int

    @usableFromInline var slots: [Element?] = []
    @usableFromInline var head = 0
    /// Absolute position of `slots[0]`: tickets stay valid across compaction.
    @usableFromInline var base = 0
    @usableFromInline var live = 0
    /// Clients waiting (entries left behind by a leaver are not counted).
    @inlinable public var count: Int { live }
    /// Entries beyond this are refused; lowering it keeps who is already waiting.
    public var capacity: Int

    @inlinable public init(capacity: Int) { self.capacity = capacity }

    @inlinable public var isEmpty: Bool { live == 0 }

    /// Appends; nil (and nothing stored) when the queue is full.
    @inlinable public mutating func push(_ element: Element) -> Ticket? {
        guard live < capacity else { return nil }
        slots.append(element)
        live += 1
        return base + slots.count - 1
    }

    /// The oldest live entry, removed.
    @inlinable public mutating func pop() -> Element? {
        while head < slots.count {
            let element = slots[head]
            slots[head] = nil
            head += 1
            if let element {
                live -= 1
                compactIfNeeded()
                return element
            }
        }
        compactIfNeeded()
        return nil
    }

    /// Removes the entry with `ticket` wherever it is; returns it if it was still there.
    @discardableResult @inlinable
    public mutating func remove(ticket: Ticket) -> Element? {
        let index = ticket - base
        guard index >= head, index < slots.count, let element = slots[index] else { return nil }
        slots[index] = nil
        live -= 1
        return element
    }

    /// Whether the entry with `ticket` still waits.
    @inlinable public func contains(ticket: Ticket) -> Bool {
        let index = ticket - base
        return index >= head && index < slots.count && slots[index] != nil
    }

    // Dropping the consumed prefix now and then keeps memory proportional to what waits; done
    // only when the prefix is at least half the array, so its cost is amortised O(1).
    @inlinable mutating func compactIfNeeded() {
        if head == slots.count {
            base += head
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > slots.count {
            slots.removeFirst(head)
            base += head
            head = 0
        }
    }
}

extension WaitQueue: Sendable where Element: Sendable {}
