/// A bounded FIFO of waiting clients, O(1) at both ends, with removal from the middle (a
/// client that leaves) by marking: a removed entry is skipped when it reaches the head.
public struct WaitQueue<Element> {
    private var slots: [(id: UInt64, element: Element?)] = []
    private var head = 0
    private var positions: [UInt64: Int] = [:]
    /// Entries beyond this are refused; lowering it keeps who is already waiting.
    public var capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    /// Live entries.
    public var count: Int { positions.count }
    public var isEmpty: Bool { positions.isEmpty }

    /// Appends; false (and nothing stored) when the queue is full.
    public mutating func push(_ element: Element, id: UInt64) -> Bool {
        guard positions.count < capacity else { return false }
        positions[id] = slots.count
        slots.append((id, element))
        return true
    }

    /// The oldest live entry, removed.
    public mutating func pop() -> Element? {
        while head < slots.count {
            let slot = slots[head]
            slots[head].element = nil
            head += 1
            if let element = slot.element {
                positions.removeValue(forKey: slot.id)
                compactIfNeeded()
                return element
            }
        }
        compactIfNeeded()
        return nil
    }

    /// Removes the entry `id` wherever it is; returns it if it was there.
    @discardableResult
    public mutating func remove(id: UInt64) -> Element? {
        guard let position = positions.removeValue(forKey: id) else { return nil }
        let element = slots[position].element
        slots[position].element = nil
        return element
    }

    // Dropping the consumed prefix now and then keeps memory proportional to live entries.
    private mutating func compactIfNeeded() {
        guard head > 1024 && head * 2 > slots.count else { return }
        slots.removeFirst(head)
        head = 0
        for (index, slot) in slots.enumerated() where slot.element != nil { positions[slot.id] = index }
    }
}
