/// Where the next container goes: the least-loaded healthy daemon with room, by load/capacity.
///
/// Pure state (no I/O): the supervisor reports starts and ends, the placement answers. Load is
/// every container Ganger holds on a daemon (starting, running, being removed), so a daemon's
/// cap is never exceeded even while removals are in flight. Ties rotate, so equal daemons
/// share the work instead of the first one taking everything.
public struct Placement: Sendable {
    public struct Daemon: Sendable, Equatable {
        /// -1 for unlimited.
        public var capacity: Int
        public var load = 0
        public var healthy = true

        public init(capacity: Int) { self.capacity = capacity }

        var hasRoom: Bool { healthy && (capacity < 0 || load < capacity) }

        /// Fill ratio; unlimited daemons compare by raw load against a large notional cap.
        var ratio: Double { capacity < 0 ? Double(load) / 1_000_000 : Double(load) / Double(max(capacity, 1)) }
    }

    public private(set) var daemons: [Daemon]
    private var rotation = 0

    public init(capacities: [Int]) {
        daemons = capacities.map(Daemon.init(capacity:))
    }

    /// The daemon for the next container, already counted as loaded; nil when all are full or down.
    public mutating func acquire() -> Int? {
        var best: Int?
        let count = daemons.count
        for step in 0..<count {
            let index = (rotation + step) % count
            guard daemons[index].hasRoom else { continue }
            if let current = best, daemons[current].ratio <= daemons[index].ratio { continue }
            best = index
        }
        guard let chosen = best else { return nil }
        rotation = (chosen + 1) % max(count, 1)
        daemons[chosen].load += 1
        return chosen
    }

    /// Counts a container Ganger found or placed itself on `daemon` (reconciliation, pool).
    public mutating func add(on daemon: Int) { daemons[daemon].load += 1 }

    /// A container on `daemon` is gone (removed): its slot is free.
    public mutating func release(_ daemon: Int) {
        precondition(daemons[daemon].load > 0, "release without acquire on daemon \(daemon)")
        daemons[daemon].load -= 1
    }

    /// A new cap (reload); containers above it stay until they end.
    public mutating func setCapacity(_ daemon: Int, _ capacity: Int) { daemons[daemon].capacity = capacity }

    public mutating func setHealthy(_ daemon: Int, _ healthy: Bool) { daemons[daemon].healthy = healthy }

    /// Whether any daemon could take a container now.
    public var hasRoom: Bool { daemons.contains { $0.hasRoom } }
}
