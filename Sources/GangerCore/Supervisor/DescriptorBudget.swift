import EventLoop
import Glibc

/// The process's descriptors as an admission budget (docs/operations.md, "Descriptors").
///
/// Every client costs one descriptor when accepted and about six once relaying (its socket, the
/// service's, two splice pipes); launches and Docker calls need more on the way. Running out in
/// the middle of that turns into failures that look like the daemon's. So a new client is
/// refused ("descriptor budget") while the descriptors open plus a reserve for the sessions that
/// may still start would pass the limit.
///
/// Open descriptors are counted in /proc/self/fd at most every `recountEvery`; clients accepted
/// since the last count are added one each, so a burst is seen before the next count.
final class DescriptorBudget {
    /// The soft RLIMIT_NOFILE after `raiseLimit`.
    let limit: Int
    private let recountEvery: UInt64 = 100_000_000
    private var counted = 0
    private var countedAt: UInt64?
    private var acceptedSince = 0

    private let count: () -> Int?

    /// `count`: how many descriptors are open now (tests give their own).
    init(limit: Int, count: @escaping () -> Int? = DescriptorBudget.countOpen) {
        self.limit = limit
        self.count = count
    }

    /// Descriptors a session may add once it launches and relays (client's is counted).
    static let perActiveSession = 5
    /// Headroom for listeners, Docker connections, Consul, the status page and log files.
    static let baseReserve = 32

    /// The reserve kept back while `capacity` more sessions may start (daemons' free slots;
    /// unlimited ones count as 64 each): at most half the limit, so a small limit still admits.
    func reserve(capacity: Int) -> Int {
        min(limit / 2, Self.baseReserve + Self.perActiveSession * min(max(capacity, 0), 10_000))
    }

    /// Whether one more client fits; counts it when it does.
    func admit(now: UInt64, capacity: Int) -> Bool {
        if countedAt.map({ now &- $0 >= recountEvery }) ?? true {
            counted = count() ?? counted
            countedAt = now
            acceptedSince = 0
        }
        guard counted + acceptedSince + reserve(capacity: capacity) < limit else { return false }
        acceptedSince += 1
        return true
    }

    /// Open descriptors of this process (entries of /proc/self/fd, less the one reading it);
    /// nil when it cannot be read (then the last count stands).
    static func countOpen() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { count += 1 }
        }
        return count - 1
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit: (soft before, soft now, hard).
    static func raiseLimit() -> (before: Int, now: Int, hard: Int) {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return (1024, 1024, 1024) }
        let before = limits.rlim_cur
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        func clamp(_ value: rlim_t) -> Int { value > rlim_t(Int.max) ? Int.max : Int(value) }
        return (clamp(before), clamp(limits.rlim_cur), clamp(limits.rlim_max))
    }
}

extension Supervisor {
    /// At startup: the soft descriptor limit raised to the hard one (both logged), and the
    /// admission budget made from it.
    func raiseDescriptorLimit() {
        let limits = DescriptorBudget.raiseLimit()
        logger.info("descriptor limit", metadata: [
            "soft_before": "\(limits.before)", "soft": "\(limits.now)", "hard": "\(limits.hard)",
        ])
        descriptors = DescriptorBudget(limit: limits.now)
    }

    /// Whether a client just accepted fits the descriptor budget; if not it is closed, counted
    /// under "descriptor budget", and logged (`logRefusal`).
    func admitDescriptors(peer: SocketAddress, service: ServiceRuntime) -> Bool {
        guard let descriptors, let reactor else { return true }
        var capacity = 0
        for daemon in placement.daemons where daemon.healthy && !daemon.retired {
            capacity += daemon.capacity < 0 ? 64 : max(daemon.capacity - daemon.load, 0)
        }
        if descriptors.admit(now: reactor.now, capacity: capacity) { return true }
        service.closeReasons[EndCategory.descriptorBudget.rawValue, default: 0] += 1
        logRefusal(service: service.config.name, client: peer, category: EndCategory.descriptorBudget.rawValue,
                   reason: "descriptor budget (limit \(descriptors.limit))", level: .warning)
        return false
    }
}
