import EventLoop

/// A service as it runs: its configuration, listener, pools and counters (its queue is the
/// scheduler's, in `Lifecycle`).
final class ServiceRuntime {
    var config: ServiceConfig
    private(set) var index: Int
    var listener: Listener?
    private unowned let host: any PoolHost
    private(set) lazy var pool = WarmPool(host: host, service: self)
    private(set) lazy var holders = HolderPool(host: host, service: self)
    var address: SocketAddress?

    // Counters shown by the status page and metrics.
    var sessionsTotal = 0
    var refusedQueueFull = 0
    var queueTimeouts = 0
    var refusedPerSource = 0
    var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    var closeReasons: [String: Int] = [:]
    var sessionsCurrent = 0
    var sessionsMax = 0
    var ttfbCold = LatencyStats()
    var ttfbWarm = LatencyStats()

    init(config: ServiceConfig, index: Int, host: any PoolHost) {
        self.host = host
        self.config = config
        self.index = index
    }

    /// Its position after a reload reordered the services (fair admission rotates by it).
    func reindexed(_ index: Int) -> ServiceRuntime {
        self.index = index
        return self
    }
}
