import EventLoop

/// A service as it runs: its configuration, listener, wait queue and counters.
final class ServiceRuntime {
    var config: ServiceConfig
    private(set) var index: Int
    var listener: Listener?
    private unowned let supervisor: Supervisor
    private(set) lazy var pool = WarmPool(supervisor: supervisor, service: self)
    private(set) lazy var holders = HolderPool(supervisor: supervisor, service: self)
    var queue: WaitQueue<Session>
    var address: SocketAddress?

    // Counters shown by the status page and metrics.
    var sessionsTotal = 0
    var refusedQueueFull = 0
    var queueTimeouts = 0
    var refusedPerSource = 0
    /// Queued + running sessions per client IP, for `per_source.max_connections`.
    var perSource: [String: Int] = [:]
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    var closeReasons: [String: Int] = [:]
    var sessionsCurrent = 0
    var sessionsMax = 0
    var ttfbCold = LatencyStats()
    var ttfbWarm = LatencyStats()

    init(config: ServiceConfig, index: Int, supervisor: Supervisor) {
        self.supervisor = supervisor
        self.config = config
        self.index = index
        queue = WaitQueue(capacity: config.queue.max)
    }

    /// Its position after a reload reordered the services (fair admission rotates by it).
    func reindexed(_ index: Int) -> ServiceRuntime {
        self.index = index
        return self
    }
}
