/// Where the next container goes: the least-loaded healthy daemon with room, by load/capacity,
/// within the best datacenter rank that has room (rank 0 = the most preferred datacenter).
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
        /// The position of the daemon's datacenter in `consul.datacenters` (0 = preferred); 0 for
        /// static daemons.
        public var rank = 0
        /// Left the discovered set: drained (no new placements; its containers stay counted
        /// until they end). Its index stays, so it may rejoin.
        public var retired = false
        /// Launches between their create call and their container's start (Docker's share of
        /// a cold start): at most `window` at once, so a burst waits in the queue, not in dockerd.
        public var launching = 0
        /// The launch window (`LaunchWindow`); `Int.max` when off.
        public var window = Int.max

        public init(capacity: Int, rank: Int = 0) {
            self.capacity = capacity
            self.rank = rank
        }

        var hasRoom: Bool { healthy && !retired && (capacity < 0 || load < capacity) && launching < window }

        /// Fill ratio; unlimited daemons compare by raw load against a large notional cap.
        var ratio: Double { capacity < 0 ? Double(load) / 1_000_000 : Double(load) / Double(max(capacity, 1)) }
    }

    public private(set) var daemons: [Daemon]
    private var rotation = 0
    /// A min segment tree over each daemon's fill ratio (+infinity when it has no room), so a
    /// placement costs O(log n) instead of a scan of the whole fleet: with 1,000 daemons the scan
    /// was most of an admission. Leaves start at `leaves`; padding leaves hold +infinity.
    private var tree: [Double]
    private var leaves: Int

    public init(capacities: [Int], ranks: [Int] = []) {
        daemons = capacities.enumerated().map { Daemon(capacity: $1, rank: $0 < ranks.count ? ranks[$0] : 0) }
        leaves = 1
        tree = []
        rebuild()
    }

    private mutating func rebuild() {
        var size = 1
        while size < daemons.count { size *= 2 }
        leaves = size
        tree = Array(repeating: .infinity, count: 2 * size)
        for index in daemons.indices { tree[size + index] = Self.key(daemons[index]) }
        if size > 1 { for node in stride(from: size - 1, through: 1, by: -1) { tree[node] = min(tree[2 * node], tree[2 * node + 1]) } }
    }

    /// Orders by (rank, ratio): a daemon with room has ratio < 1 (an unlimited one below a
    /// million containers), so `2 × rank + ratio` never lets a worse rank undercut a better one.
    private static func key(_ daemon: Daemon) -> Double {
        daemon.hasRoom ? Double(daemon.rank) * 2 + min(daemon.ratio, 1.5) : .infinity
    }

    private mutating func update(_ index: Int) {
        var node = leaves + index
        tree[node] = Self.key(daemons[index])
        while node > 1 {
            node /= 2
            let value = min(tree[2 * node], tree[2 * node + 1])
            if tree[node] == value { break }
            tree[node] = value
        }
    }

    /// The first daemon at or after `from` whose key is at most `target`, or nil.
    private func first(from: Int, atMost target: Double, node: Int = 1, low: Int = 0, width: Int? = nil) -> Int? {
        let width = width ?? leaves
        if low + width <= from || tree[node] > target { return nil }
        if width == 1 { return low }
        let half = width / 2
        return first(from: from, atMost: target, node: 2 * node, low: low, width: half)
            ?? first(from: from, atMost: target, node: 2 * node + 1, low: low + half, width: half)
    }

    /// The daemon for the next container, already counted as loaded and launching (the caller
    /// reports `launchSettled` once Docker started it or the launch gave up); nil when all are
    /// full, at their launch window, or down.
    /// The least-filled daemon with room; among equals, the first at or after the one following
    /// the previous choice (rotation), wrapping around.
    public mutating func acquire() -> Int? {
        let best = tree[1]
        guard best < .infinity else { return nil }
        guard let chosen = first(from: rotation, atMost: best) ?? first(from: 0, atMost: best) else { return nil }
        rotation = (chosen + 1) % max(daemons.count, 1)
        daemons[chosen].load += 1
        daemons[chosen].launching += 1
        update(chosen)
        return chosen
    }

    /// `acquire()` among the daemons not in `held` (a service's launches held off them: its
    /// image missing there, say). The held ones are taken out of the tree for the one choice.
    public mutating func acquire(avoiding held: Set<Int>) -> Int? {
        guard !held.isEmpty else { return acquire() }
        for index in held where daemons.indices.contains(index) { setLeaf(index, .infinity) }
        defer { for index in held where daemons.indices.contains(index) { update(index) } }
        return acquire()
    }

    private mutating func setLeaf(_ index: Int, _ value: Double) {
        var node = leaves + index
        tree[node] = value
        while node > 1 {
            node /= 2
            tree[node] = min(tree[2 * node], tree[2 * node + 1])
        }
    }

    /// A launch on `daemon` left Docker's part (its container started, or it gave up): its place
    /// in the launch window is free (its slot stays until the container is gone).
    public mutating func launchSettled(_ daemon: Int) {
        precondition(daemons[daemon].launching > 0, "launch settled without acquire on daemon \(daemon)")
        daemons[daemon].launching -= 1
        update(daemon)
    }

    /// A launch that holds no slot (a network holder's) takes a place in `daemon`'s launch
    /// window if one is free; `launchSettled` gives it back.
    public mutating func reserveLaunch(_ daemon: Int) -> Bool {
        guard daemons[daemon].launching < daemons[daemon].window else { return false }
        daemons[daemon].launching += 1
        update(daemon)
        return true
    }

    /// A new launch window for `daemon` (`Int.max`: none).
    public mutating func setWindow(_ daemon: Int, _ window: Int) {
        daemons[daemon].window = max(window, 1)
        update(daemon)
    }

    /// Counts a container Ganger found or placed itself on `daemon` (reconciliation, pool).
    public mutating func add(on daemon: Int) {
        daemons[daemon].load += 1
        update(daemon)
    }

    /// A container on `daemon` is gone (removed): its slot is free.
    public mutating func release(_ daemon: Int) {
        precondition(daemons[daemon].load > 0, "release without acquire on daemon \(daemon)")
        daemons[daemon].load -= 1
        update(daemon)
    }

    /// A new cap (reload); containers above it stay until they end.
    public mutating func setCapacity(_ daemon: Int, _ capacity: Int) {
        daemons[daemon].capacity = capacity
        update(daemon)
    }

    public mutating func setHealthy(_ daemon: Int, _ healthy: Bool) {
        daemons[daemon].healthy = healthy
        update(daemon)
    }

    /// A daemon that joined (discovery): its index is the next one; it starts as `healthy` says
    /// (a joining daemon is used only once its images are ready).
    public mutating func append(capacity: Int, rank: Int, healthy: Bool) -> Int {
        var daemon = Daemon(capacity: capacity, rank: rank)
        daemon.healthy = healthy
        daemons.append(daemon)
        if daemons.count > leaves { rebuild() } else { update(daemons.count - 1) }
        return daemons.count - 1
    }

    /// Gives the index of a daemon that was forgotten (left the discovered set, nothing left on
    /// it) to a newcomer, so that a catalog whose addresses keep changing does not grow the
    /// list without bound. The old daemon must hold no container any more.
    public mutating func replace(_ index: Int, capacity: Int, rank: Int, healthy: Bool) {
        precondition(daemons[index].load == 0 && daemons[index].launching == 0,
                     "daemon \(index) replaced while it holds \(daemons[index].load) containers")
        var daemon = Daemon(capacity: capacity, rank: rank)
        daemon.healthy = healthy
        daemons[index] = daemon
        update(index)
    }

    /// The daemon's datacenter moved in the order of preference (or it re-registered elsewhere).
    public mutating func setRank(_ daemon: Int, _ rank: Int) {
        daemons[daemon].rank = rank
        update(daemon)
    }

    /// Drains (`true`) or brings back (`false`) a daemon that left or rejoined the discovered set.
    public mutating func setRetired(_ daemon: Int, _ retired: Bool) {
        daemons[daemon].retired = retired
        update(daemon)
    }

    /// Whether any daemon could take a container now.
    public var hasRoom: Bool { tree[1] < .infinity }

    /// Whether every daemon that takes placements is at its cap (not merely at its launch
    /// window, which settles by itself): only a container that ends frees a place.
    public var atCapacity: Bool {
        var open = false
        for daemon in daemons where daemon.healthy && !daemon.retired {
            if daemon.capacity < 0 || daemon.load < daemon.capacity { return false }
            open = true
        }
        return open
    }
}
