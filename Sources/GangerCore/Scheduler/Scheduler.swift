/// Who gets a container next, as a pure value: placement over the daemons, a FIFO wait queue per
/// service with its timeouts, per-source counts, warm containers first, and round-robin between
/// services that share the daemons.
///
/// No reactor, no Docker, no clock of its own: callers pass `now` (monotonic nanoseconds) and
/// carry out what it answers. A client is an opaque `ClientID`; the scheduler remembers only
/// what waits in a queue. Every slot it hands out (`.place`, a `Grant` on a daemon,
/// `acquire`) is counted on that daemon until `release` says the container is gone.
public struct Scheduler: Sendable {
    public typealias ClientID = UInt64
    public typealias Ticket = WaitQueue<ClientID>.Ticket

    /// A service's admission settings.
    public struct Policy: Sendable, Equatable {
        /// Clients that may wait; 0 = no queueing.
        public var queueMax: Int
        /// How long a client may wait (nanoseconds); 0 = no limit.
        public var queueTimeout: UInt64
        /// Queued + served connections per source; 0 = unlimited.
        public var perSourceLimit: Int
        /// New connections a second from one source (a token bucket of `sourceBurst`); 0 = unlimited.
        public var sourceRate: Double
        public var sourceBurst: Int
        /// New connections a second to the service from anywhere; 0 = unlimited.
        public var acceptRate: Double
        public var acceptBurst: Int

        public init(queueMax: Int, queueTimeout: UInt64, perSourceLimit: Int, sourceRate: Double = 0, sourceBurst: Int = 0,
                    acceptRate: Double = 0, acceptBurst: Int = 0) {
            self.queueMax = queueMax
            self.queueTimeout = queueTimeout
            self.perSourceLimit = perSourceLimit
            self.sourceRate = sourceRate
            self.sourceBurst = sourceBurst
            self.acceptRate = acceptRate
            self.acceptBurst = acceptBurst
        }

        public init(_ service: ServiceConfig) {
            self.init(queueMax: service.queue.max, queueTimeout: service.queue.timeout.nanoseconds,
                      perSourceLimit: service.perSource.maxConnections, sourceRate: service.perSource.rate,
                      sourceBurst: service.perSource.burst, acceptRate: service.accept.rate, acceptBurst: service.accept.burst)
        }
    }

    public enum Refusal: String, Sendable, Equatable {
        case perSource = "per-source limit"
        case sourceRate = "per-source rate"
        case acceptRate = "accept rate"
        case queueFull = "queue full"
        case draining = "shutting down"
    }

    /// Where a client goes.
    public enum Slot: Sendable, Equatable {
        /// Take a ready warm container of its service.
        case warm
        /// Launch on this daemon (its slot is already counted).
        case daemon(Int)
    }

    public enum Admission: Sendable, Equatable {
        case admitted(Slot)
        case queued(Ticket)
        case refused(Refusal)
    }

    /// A queued client admitted because a slot or a warm container became free.
    public struct Grant: Sendable, Equatable {
        public let client: ClientID
        public let service: Int
        public let slot: Slot
    }

    /// A queued client whose wait ran out.
    public struct Expiry: Sendable, Equatable {
        public let client: ClientID
        public let service: Int
    }

    struct ServiceState: Sendable {
        var policy: Policy
        var queue: WaitQueue<ClientID>
        /// Queued + served clients per source key (`per_source`).
        var perSource: [String: Int] = [:]
        /// Warm containers ready to be taken.
        var warm = 0
        /// New-connection buckets per source key, and for the whole service.
        var sourceBuckets: [String: TokenBucket] = [:]
        var acceptBucket: TokenBucket?
        /// Daemons this service's launches are held off (Docker there refused them: `LaunchBreaker`).
        var heldOff: Set<Int> = []
        /// Daemons whose hold ran out: the next launch placed there is a trial, and the daemon is
        /// held off again at once (one trial at a time, even within one batch of grants).
        var onTrial: Set<Int> = []

        init(_ policy: Policy) {
            self.policy = policy
            queue = WaitQueue(capacity: policy.queueMax)
        }
    }

    /// A queue deadline: the entry is stale once its ticket left the queue.
    struct Deadline: Sendable {
        let at: UInt64
        let service: Int
        let ticket: Ticket
        let client: ClientID
    }

    public private(set) var placement: Placement
    var services: [ServiceState]
    /// Each daemon's launch window controller; empty while windows are off (`setLaunchWindow`).
    public private(set) var windows: [LaunchWindow] = []
    private var windowTemplate: LaunchWindow?
    private var rotation = 0
    private var deadlines = MinHeap<Deadline>()
    /// Shutting down: nothing is admitted or queued.
    public private(set) var draining = false
    /// Warm containers asked to leave (`evictions`) whose slot is not free yet: each slot freed
    /// settles one, so a waiting client costs at most one eviction at a time.
    public private(set) var evicting = 0

    public init(placement: Placement, policies: [Policy]) {
        self.placement = placement
        services = policies.map(ServiceState.init)
    }

    // MARK: Queries

    public var serviceCount: Int { services.count }
    public func queued(_ service: Int) -> Int { services[service].queue.count }
    public func warm(_ service: Int) -> Int { services[service].warm }
    public func policy(_ service: Int) -> Policy { services[service].policy }
    public func perSource(_ service: Int, _ source: String) -> Int { services[service].perSource[source, default: 0] }
    /// Sources currently counted for `service` (for invariants and the status page).
    public func sourcesCounted(_ service: Int) -> Int { services[service].perSource.count }
    public var anyQueued: Bool { services.contains { !$0.queue.isEmpty } }
    /// The earliest queue deadline still pending (it may be stale: `tick` skips those).
    public var nextDeadline: UInt64? { deadlines.min?.at }

    /// Whether a free slot may go to a warm pool: only while no client waits anywhere.
    public var mayWarm: Bool { !draining && !anyQueued && placement.hasRoom }

    // MARK: Clients

    /// A new client of `service` from `source`: counted against its source, then given a warm
    /// container or a daemon if nobody of its service waits, else queued, else refused.
    public mutating func admit(_ client: ClientID, service: Int, source: String, now: UInt64) -> Admission {
        guard !draining else { return .refused(.draining) }
        let limit = services[service].policy.perSourceLimit
        if limit > 0 && services[service].perSource[source, default: 0] >= limit { return .refused(.perSource) }
        if let refusal = takeRateTokens(service: service, source: source, now: now) { return .refused(refusal) }
        services[service].perSource[source, default: 0] += 1
        let admission = place(client, service: service, now: now)
        if case .refused = admission { uncount(service: service, source: source) }
        return admission
    }

    /// A client whose daemon failed or refused before its container existed (it holds no slot
    /// now): another daemon, else the queue again until `until` (the end of the client's budget,
    /// counted from its connect: its wait does not start over), else refused. Its source stays
    /// counted unless refused.
    public mutating func readmit(_ client: ClientID, service: Int, source: String, now: UInt64, until: UInt64? = nil) -> Admission {
        guard !draining else {
            uncount(service: service, source: source)
            return .refused(.draining)
        }
        let admission: Admission
        if let daemon = takeSlot(service) {
            admission = .admitted(.daemon(daemon))
        } else {
            admission = enqueue(client, service: service, now: now, until: until)
        }
        if case .refused = admission { uncount(service: service, source: source) }
        return admission
    }

    /// xinetd's `cps` and HAProxy's `rate-limit sessions`: a connect-and-close flood or a
    /// reconnecting loop is refused before it costs Docker anything. Nil when both buckets
    /// had a token (both are taken).
    private mutating func takeRateTokens(service: Int, source: String, now: UInt64) -> Refusal? {
        let policy = services[service].policy
        if policy.acceptRate > 0 {
            var bucket = services[service].acceptBucket ?? TokenBucket(burst: policy.acceptBurst, now: now)
            let ok = bucket.take(now: now, rate: policy.acceptRate, burst: policy.acceptBurst)
            services[service].acceptBucket = bucket
            if !ok { return .acceptRate }
        }
        guard policy.sourceRate > 0 else { return nil }
        var bucket = services[service].sourceBuckets[source] ?? TokenBucket(burst: policy.sourceBurst, now: now)
        let ok = bucket.take(now: now, rate: policy.sourceRate, burst: policy.sourceBurst)
        services[service].sourceBuckets[source] = bucket
        // Bounded: past 4,096 sources, the buckets of idle sources (full again) are forgotten.
        if services[service].sourceBuckets.count > 4096 {
            services[service].sourceBuckets = services[service].sourceBuckets.filter {
                !$0.value.isFull(now: now, rate: policy.sourceRate, burst: policy.sourceBurst)
            }
        }
        return ok ? nil : .sourceRate
    }

    // FIFO per service: a newcomer never overtakes clients already waiting.
    private mutating func place(_ client: ClientID, service: Int, now: UInt64) -> Admission {
        if services[service].queue.isEmpty {
            if services[service].warm > 0 {
                services[service].warm -= 1
                return .admitted(.warm)
            }
            if let daemon = takeSlot(service) { return .admitted(.daemon(daemon)) }
        }
        return enqueue(client, service: service, now: now)
    }

    /// A slot for a launch of `service`, off the daemons it is held off; a daemon on trial is
    /// held off again once it got its one launch.
    private mutating func takeSlot(_ service: Int) -> Int? {
        guard let daemon = placement.acquire(avoiding: services[service].heldOff) else { return nil }
        if services[service].onTrial.remove(daemon) != nil { services[service].heldOff.insert(daemon) }
        return daemon
    }

    private mutating func enqueue(_ client: ClientID, service: Int, now: UInt64, until: UInt64? = nil) -> Admission {
        guard let ticket = services[service].queue.push(client) else { return .refused(.queueFull) }
        let timeout = services[service].policy.queueTimeout
        let at = timeout > 0 ? min(now &+ timeout, until ?? .max) : until
        if let at { deadlines.push(Deadline(at: at, service: service, ticket: ticket, client: client)) }
        return .queued(ticket)
    }

    /// A queued client left (FIN with `abort_on_close`, reset, shutdown): its place is freed.
    /// Returns whether it was still queued.
    @discardableResult
    public mutating func leave(service: Int, ticket: Ticket) -> Bool {
        let removed = services[service].queue.remove(ticket: ticket) != nil
        compactDeadlinesIfNeeded()
        return removed
    }

    /// A client taken over from another Ganger, relaying on `daemon`: its source and its
    /// container are counted as if it had been admitted here.
    public mutating func inherit(service: Int, source: String, daemon: Int) {
        services[service].perSource[source, default: 0] += 1
        placement.add(on: daemon)
    }

    /// A client of `service` from `source` ended (whatever its phase): its source count drops.
    public mutating func ended(service: Int, source: String) {
        uncount(service: service, source: source)
    }

    private mutating func uncount(service: Int, source: String) {
        guard let count = services[service].perSource[source] else { return }
        if count <= 1 { services[service].perSource.removeValue(forKey: source) } else { services[service].perSource[source] = count - 1 }
    }

    /// Queued clients whose wait ran out by `now`, removed from their queues.
    public mutating func tick(now: UInt64) -> [Expiry] {
        var expired: [Expiry] = []
        while let first = deadlines.min, first.at <= now {
            deadlines.popMin()
            if services.indices.contains(first.service), services[first.service].queue.remove(ticket: first.ticket) == first.client {
                expired.append(Expiry(client: first.client, service: first.service))
            }
        }
        return expired
    }

    // Stale deadlines (clients admitted or gone) stay in the heap until they come due; when they
    // outnumber the waiting clients the heap is rebuilt, so it stays proportional to the queues.
    private mutating func compactDeadlinesIfNeeded() {
        guard deadlines.count > 1024 else { return }
        let waiting = services.reduce(0) { $0 + $1.queue.count }
        guard deadlines.count > 2 * waiting else { return }
        let services = self.services
        deadlines.removeAll { !services.indices.contains($0.service) || !services[$0.service].queue.contains(ticket: $0.ticket) }
    }

    // MARK: Capacity

    /// A container on `daemon` is gone: its slot is free, and the clients it lets in.
    public mutating func release(_ daemon: Int) -> [Grant] {
        placement.release(daemon)
        if evicting > 0 { evicting -= 1 }
        return grants()
    }

    /// Idle warm containers to remove, one service index per container, so that clients queued
    /// behind daemons at their caps are not held forever by another service's pool: a pool only
    /// refills while nobody waits, but what it already holds would otherwise never yield. Asked
    /// only when every daemon is at its cap (a full launch window settles by itself) and for
    /// the clients no eviction under way already covers; the fullest pool gives first. Each one
    /// is taken off the warm count at once (no client is granted it); the pool removes the
    /// container and its freed slot goes to the queue.
    public mutating func evictions() -> [Int] {
        guard !draining, anyQueued else { return [] }
        var waiting = 0
        var warm = 0
        for service in services {
            if service.warm == 0 { waiting += service.queue.count } else { warm += service.warm }
        }
        guard waiting > evicting, warm > 0, placement.atCapacity else { return [] }
        var out: [Int] = []
        while evicting < waiting {
            guard let victim = services.indices.max(by: { services[$0].warm < services[$1].warm }),
                  services[victim].warm > 0 else { break }
            services[victim].warm -= 1
            evicting += 1
            out.append(victim)
        }
        return out
    }

    /// Bounds launches in flight per daemon by an adaptive window (`template` gives its minimum,
    /// maximum and first size), or lifts the bound (nil). Applies to daemons that join later too.
    public mutating func setLaunchWindow(_ template: LaunchWindow?) -> [Grant] {
        windowTemplate = template
        windows = template.map { Array(repeating: $0, count: placement.daemons.count) } ?? []
        for daemon in placement.daemons.indices { placement.setWindow(daemon, template?.current ?? Int.max) }
        return grants()
    }

    /// A place in `daemon`'s launch window for a launch that holds no slot (a network holder),
    /// only while no client waits: refills yield to clients.
    public mutating func reserveLaunch(_ daemon: Int) -> Bool {
        !draining && !anyQueued && placement.reserveLaunch(daemon)
    }

    /// How a launch left Docker's part on a daemon.
    public enum LaunchOutcome: Sendable, Equatable {
        /// Its container started this many nanoseconds after the create call went out.
        case started(latency: UInt64)
        /// Docker failed it (an error answer, no answer): the daemon may be congested.
        case failed
        /// Its owner gave up (the client left): no news about the daemon.
        case abandoned
    }

    /// A launch on `daemon` left Docker's part: its place in the window frees, the window adapts,
    /// and who waits may be admitted.
    public mutating func launchSettled(_ daemon: Int, _ outcome: LaunchOutcome) -> [Grant] {
        placement.launchSettled(daemon)
        if windows.indices.contains(daemon) {
            switch outcome {
            case let .started(latency): windows[daemon].started(latency: latency)
            case .failed: windows[daemon].failed()
            case .abandoned: break
            }
            placement.setWindow(daemon, windows[daemon].current)
        }
        return grants()
    }

    /// A warm container of `service` is ready: a waiting client may take it.
    public mutating func warmAdded(service: Int) -> [Grant] {
        services[service].warm += 1
        return grants()
    }

    /// A ready warm container of `service` went away (died, lost its connection, drained).
    public mutating func warmRemoved(service: Int) {
        services[service].warm = max(services[service].warm - 1, 0)
    }

    /// A slot for `service`'s warm pool, only while no client waits (`mayWarm`), on a daemon
    /// its launches are not held off.
    public mutating func acquireForPool(service: Int? = nil) -> Int? {
        guard mayWarm else { return nil }
        // A pool launch says nothing to the breaker: it never takes a trial's place.
        return placement.acquire(avoiding: service.map { heldOff($0).union(services[$0].onTrial) } ?? [])
    }

    /// Holds `service`'s launches off `daemon` (Docker there refused one: `LaunchBreaker`).
    public mutating func holdOff(daemon: Int, service: Int) {
        guard services.indices.contains(service) else { return }
        services[service].heldOff.insert(daemon)
        // Refused again before its trial was placed: no trial until the next hold runs out.
        services[service].onTrial.remove(daemon)
    }

    /// Lets `service`'s launches go to `daemon` again: who waits may be placed there; with
    /// `trial`, only one launch (then it is held off again).
    public mutating func resume(daemon: Int, service: Int, trial: Bool) -> [Grant] {
        guard services.indices.contains(service) else { return [] }
        if trial { services[service].onTrial.insert(daemon) } else { services[service].onTrial.remove(daemon) }
        guard services[service].heldOff.remove(daemon) != nil else { return [] }
        return grants()
    }

    /// Every service may use `daemon` (nil: every daemon) again, without admitting anyone yet
    /// (a reload resets the breakers; a daemon index given to a newcomer).
    public mutating func clearHeldOff(daemon: Int? = nil) {
        for index in services.indices {
            if let daemon {
                services[index].heldOff.remove(daemon)
                services[index].onTrial.remove(daemon)
            } else {
                services[index].heldOff = []
                services[index].onTrial = []
            }
        }
    }

    /// The daemons `service`'s launches are held off.
    public func heldOff(_ service: Int) -> Set<Int> {
        services.indices.contains(service) ? services[service].heldOff : []
    }

    /// The daemons where `service`'s next launch is a trial.
    public func onTrial(_ service: Int) -> Set<Int> {
        services.indices.contains(service) ? services[service].onTrial : []
    }

    /// A slot for a launch that replaces its failed container (the caller already holds one),
    /// off the daemons `service`'s launches are held off.
    public mutating func acquire(service: Int? = nil) -> Int? {
        guard !draining else { return nil }
        guard let service, services.indices.contains(service) else { return placement.acquire() }
        return takeSlot(service)
    }

    /// Counts a container found on `daemon` (reconciliation).
    public mutating func add(on daemon: Int) { placement.add(on: daemon) }

    /// Health, caps, ranks and membership of daemons: placement changes, and who waits may fit now.
    public mutating func setHealthy(_ daemon: Int, _ healthy: Bool) -> [Grant] {
        placement.setHealthy(daemon, healthy)
        return healthy ? grants() : []
    }

    public mutating func setCapacity(_ daemon: Int, _ capacity: Int) -> [Grant] {
        placement.setCapacity(daemon, capacity)
        return grants()
    }

    public mutating func setRank(_ daemon: Int, _ rank: Int) { placement.setRank(daemon, rank) }

    public mutating func setRetired(_ daemon: Int, _ retired: Bool) -> [Grant] {
        placement.setRetired(daemon, retired)
        return retired ? [] : grants()
    }

    public mutating func appendDaemon(capacity: Int, rank: Int, healthy: Bool) -> Int {
        let index = placement.append(capacity: capacity, rank: rank, healthy: healthy)
        if let windowTemplate {
            windows.append(windowTemplate)
            placement.setWindow(index, windowTemplate.current)
        }
        return index
    }

    /// A newcomer takes the index of a forgotten daemon (see `Placement.replace`); like a
    /// joining daemon it takes placements once healthy.
    public mutating func replaceDaemon(_ index: Int, capacity: Int, rank: Int, healthy: Bool) -> [Grant] {
        placement.replace(index, capacity: capacity, rank: rank, healthy: healthy)
        // A new daemon at this index learns its own launch window from the start.
        if let windowTemplate, windows.indices.contains(index) {
            windows[index] = windowTemplate
            placement.setWindow(index, windowTemplate.current)
        }
        return healthy ? grants() : []
    }

    /// Admits queued clients while warm containers or slots are free, taking services in turn so
    /// one busy service cannot starve the others sharing the daemons. Warm containers go first.
    public mutating func grants() -> [Grant] {
        guard !draining else { return [] }
        var granted: [Grant] = []
        var progress = true
        while progress {
            progress = false
            for step in 0..<services.count {
                let service = (rotation + step) % services.count
                guard !services[service].queue.isEmpty else { continue }
                let slot: Slot
                if services[service].warm > 0 {
                    services[service].warm -= 1
                    slot = .warm
                } else if let daemon = takeSlot(service) {
                    slot = .daemon(daemon)
                } else {
                    continue
                }
                guard let client = services[service].queue.pop() else { continue }
                granted.append(Grant(client: client, service: service, slot: slot))
                rotation = (service + 1) % services.count
                progress = true
                break
            }
        }
        if !granted.isEmpty { compactDeadlinesIfNeeded() }
        return granted
    }

    // MARK: Services and shutdown

    /// A reload: `policies` are the new services in order; `previous[i]` is the old index of new
    /// service `i` (nil: added). Kept services keep their queue, counts and warm containers; the
    /// clients queued for removed services are returned for the caller to close.
    public mutating func reconfigure(policies: [Policy], previous: [Int?]) -> [Expiry] {
        precondition(policies.count == previous.count, "one previous index per service")
        var next: [ServiceState] = []
        var kept = Set<Int>()
        for (index, policy) in policies.enumerated() {
            if let old = previous[index] {
                var state = services[old]
                state.policy = policy
                state.queue.capacity = policy.queueMax
                next.append(state)
                kept.insert(old)
            } else {
                next.append(ServiceState(policy))
            }
        }
        var dropped: [Expiry] = []
        for old in services.indices where !kept.contains(old) {
            while let client = services[old].queue.pop() { dropped.append(Expiry(client: client, service: old)) }
        }
        var moved = MinHeap<Deadline>()
        for deadline in deadlines.elements {
            guard let index = previous.firstIndex(of: deadline.service) else { continue }
            moved.push(Deadline(at: deadline.at, service: index, ticket: deadline.ticket, client: deadline.client))
        }
        deadlines = moved
        services = next
        rotation = services.isEmpty ? 0 : rotation % services.count
        return dropped
    }

    /// Shutdown: nothing is admitted from now on; every queued client is returned to be closed.
    public mutating func drain() -> [Expiry] {
        draining = true
        var dropped: [Expiry] = []
        for service in services.indices {
            while let client = services[service].queue.pop() { dropped.append(Expiry(client: client, service: service)) }
            services[service].warm = 0
        }
        evicting = 0
        deadlines = MinHeap()
        return dropped
    }
}

extension Scheduler.Deadline: Comparable {
    static func < (a: Self, b: Self) -> Bool { a.at < b.at || (a.at == b.at && a.ticket < b.ticket) }
    static func == (a: Self, b: Self) -> Bool { a.at == b.at && a.ticket == b.ticket && a.service == b.service }
}
