import Glibc
import EventLoop
import Logging

/// A dynamic daemon set (Consul discovery). An index names the same daemon for as long as
/// anything is placed on it, so sessions, placement and the per-index health state stay valid;
/// a forgotten daemon's index goes to a later newcomer, so the list stays bounded by the most
/// daemons listed at once plus those still draining.
///
/// - Join: a URL that appears gets a client and a placement slot that is not used yet; its API
///   version is negotiated, each service's image is made present per its pull policy, this
///   instance's leftovers on it are removed, and only then is it placed on (health checks and
///   the event stream start with it). A join that fails is tried again with back-off.
/// - Leave: a URL that disappears (deregistered, or its checks no longer pass) is drained:
///   no new placements; its sessions go on and their slots stay counted until they end.
/// - Forget: a drained daemon with nothing left on it (no session, no container counted) is
///   forgotten: its pings, event stream and join retries stop, its lease is given up, it leaves
///   the status page, and its index is reused by the next daemon that joins.
/// - Rejoin: a drained daemon that appears again is used again at once; a forgotten one joins
///   as a newcomer.
/// - Change: a new `max_containers:N` tag or datacenter rank applies to new placements.
extension Supervisor {
    /// Before startup contacts the daemons: with `consul:`, one round of queries decides the
    /// initial set (these daemons then start like static ones). Without, `next` runs at once.
    func discoverDaemons(failed failedNow: @escaping (String) -> Void, _ next: @escaping () -> Void) {
        guard let consul = config.consul, let reactor else { return next() }
        // Always from the loop: `start` runs before the loop does, and a failure reported
        // synchronously would stop a reactor that is not running yet (ganger would never exit).
        let failed = { (message: String) in reactor.soon { failedNow(message) } }
        // Read now, so that a missing or mismatched file fails the startup (exit 2) naming it,
        // rather than every daemon's join later.
        if let tls = consul.daemonTLS {
            do throws(TLSError) {
                discoveryTLS = try TLSContext(ca: tls.ca, cert: tls.cert, key: tls.key)
            } catch {
                return failed("consul.daemon_tls: \(error)")
            }
        }
        let discovery: ConsulDiscovery
        do {
            discovery = try ConsulDiscovery(reactor: reactor, config: consul, logger: logger, wait: Self.consulWait)
        } catch {
            return failed(error.description)
        }
        self.discovery = discovery
        discovery.start { [self] result in
            switch result {
            case let .failure(error):
                failed("consul: cannot list service \(consul.service) at \(consul.hosts.map(\.description).joined(separator: ", ")): \(error)")
            case let .success(found) where found.isEmpty:
                failed("consul: no passing instance of service \(consul.service)"
                    + (consul.datacenters.isEmpty ? "" : " in datacenters \(consul.datacenters.joined(separator: ", "))")
                    + " that Ganger accepts (refused registrations are logged)")
            case let .success(found):
                for daemon in found {
                    guard let client = makeClient(daemon) else { continue }
                    daemons.append(DaemonRuntime(client: client))
                    _ = lifecycle.appendDaemon(capacity: daemon.maxContainers, rank: daemon.rank, healthy: true,
                                               publishes: publishes(daemon.url))
                }
                next()
            }
        }
    }

    /// `wait` of the blocking queries; `GANGER_CONSUL_WAIT` (seconds) shortens it for tests.
    static var consulWait: Duration {
        if let text = getenvString("GANGER_CONSUL_WAIT"), let seconds = Int(text), seconds > 0 { return .seconds(seconds) }
        return .seconds(30)
    }

    /// After startup: every change Consul reports is applied.
    func followDiscovery() {
        discovery?.onChange = { [weak self] found in self?.applyDiscovered(found) }
        // A change that arrived between the first round and now.
        if let discovery { applyDiscovered(discovery.daemons) }
    }

    func applyDiscovered(_ found: [DiscoveredDaemon]) {
        guard !draining else { return }
        // Leavers first: those with nothing left on them are forgotten, and their indexes go
        // to this round's newcomers, so the list holds at most what Consul lists at once plus
        // the daemons still draining.
        let listed = Set(found.map(\.url))
        for index in daemons.indices where !daemons[index].forgotten && !listed.contains(daemons[index].url) {
            if !placement.daemons[index].retired {
                control { $0.setRetired(index, true, now: $1) }
                logger.notice("daemon left the catalog: drained (its sessions go on, no new ones)", metadata: [
                    "daemon": "\(daemons[index].name)", "containers": "\(placement.daemons[index].load)",
                ])
            }
            _ = forgetIfIdle(index)
        }
        var known: [DaemonURL: Int] = [:]
        for (index, daemon) in daemons.enumerated() where !daemon.forgotten { known[daemon.url] = index }
        for daemon in found {
            guard let index = known[daemon.url] else {
                if let index = join(daemon) { known[daemon.url] = index }
                continue
            }
            let current = placement.daemons[index]
            if current.capacity != daemon.maxContainers {
                control { $0.setCapacity(index, daemon.maxContainers, now: $1) }
                logger.notice("daemon cap changed", metadata: ["daemon": "\(daemon.url)", "max_containers": "\(daemon.maxContainers)"])
            }
            if current.rank != daemon.rank { lifecycle.setRank(index, daemon.rank) }
            if current.retired {
                control { $0.setRetired(index, false, now: $1) }
                logger.notice("daemon back in the catalog: used again", metadata: ["daemon": "\(daemon.url)"])
            }
        }
    }

    /// Whether `daemon` still is the one at `index` (not forgotten, its index not reused):
    /// callbacks and timers of a forgotten daemon check this and stop.
    func isCurrent(_ daemon: DaemonRuntime, _ index: Int) -> Bool {
        index < daemons.count && daemons[index] === daemon && !daemon.forgotten
    }

    /// Forgets daemon `index` if it left the catalog and nothing is left on it (see the type's
    /// comment); true when it was forgotten. Static daemons are never forgotten.
    func forgetIfIdle(_ index: Int) -> Bool {
        let daemon = daemons[index]
        guard discovery != nil, !daemon.forgotten, placement.daemons[index].retired else { return false }
        // Holders are not counted in the load: the ready ones go now, the starting ones at a
        // later check.
        for service in services { service.holders.drain(daemon: index) }
        guard placement.daemons[index].load == 0, !services.contains(where: { $0.holders.holds(on: index) }) else {
            return false
        }
        daemon.forgotten = true
        daemon.events?.cancel()
        daemon.events = nil
        if let lease = daemon.leaseID {
            daemon.leaseID = nil
            daemon.engine.remove(lease) { [client = daemon.client] _ in client.shutdown() }
        } else {
            daemon.client.shutdown()
        }
        control { $0.setHealthy(index, false, now: $1) }
        freeDaemonSlots.append(index)
        logger.notice("daemon forgotten: left the catalog, nothing left on it", metadata: ["daemon": "\(daemon.name)"])
        return true
    }

    private func makeClient(_ daemon: DiscoveredDaemon) -> DockerClient? {
        do {
            Self.checkTransport(DaemonConfig(url: daemon.url, maxContainers: daemon.maxContainers, tls: config.consul?.daemonTLS),
                                logger: logger)
            return try DockerClient(reactor: reactor!, url: daemon.url, timeout: config.dockerTimeout, tlsContext: discoveryTLS)
        } catch {
            logger.error("discovered daemon not usable", metadata: ["daemon": "\(daemon.url)", "error": "\(error)"])
            return nil
        }
    }

    /// A new daemon: counted in placement but not used until `prepareJoined` has readied it.
    /// It takes a forgotten daemon's index when there is one.
    private func join(_ daemon: DiscoveredDaemon) -> Int? {
        guard let client = makeClient(daemon) else { return nil }
        let index: Int
        if let free = freeDaemonSlots.popLast() {
            index = free
            daemons[index] = DaemonRuntime(client: client)
            control { $0.replaceDaemon(index, capacity: daemon.maxContainers, rank: daemon.rank, healthy: false,
                                       publishes: publishes(daemon.url), now: $1) }
        } else {
            daemons.append(DaemonRuntime(client: client))
            index = lifecycle.appendDaemon(capacity: daemon.maxContainers, rank: daemon.rank, healthy: false,
                                           publishes: publishes(daemon.url))
        }
        daemons[index].since = wallClock()
        logger.notice("daemon joined the catalog: preparing it", metadata: [
            "daemon": "\(daemon.url)", "datacenter": "\(daemon.datacenter)", "max_containers": "\(daemon.maxContainers)",
        ])
        prepareJoined(index, attempt: 1)
        return index
    }

    /// Negotiate, images, leftovers; then it takes placements. Retried while it fails.
    private func prepareJoined(_ index: Int, attempt: Int) {
        guard !draining, !forgetIfIdle(index) else { return }
        let daemon = daemons[index]
        let retry = { [self] (why: String) in
            guard isCurrent(daemon, index) else { return }
            daemon.lastError = why
            let delay = Duration.seconds(min(1 << min(attempt, 5), 30))
            logger.error("joining daemon not ready; trying again", metadata: ["daemon": "\(daemon.name)", "error": "\(why)", "in": "\(delay)"])
            reactor?.schedule(after: delay) { [weak self] in
                guard let self, isCurrent(daemon, index) else { return }
                prepareJoined(index, attempt: attempt + 1)
            }
        }
        daemon.engine.negotiate(timeout: config.contactTimeout) { [self] result in
            if case let .failure(error) = result { return retry(error.description) }
            guard isCurrent(daemon, index) else { return }
            prepareDaemons([index]) { [self] error in
                if let error { return retry(error) }
                guard isCurrent(daemon, index) else { return }
                acquireLease(index) { [self] error in
                if let error { return retry(error) }
                guard isCurrent(daemon, index) else {
                    // Forgotten while its lease was being taken: give that lease up too.
                    if let lease = daemon.leaseID { daemon.engine.remove(lease) { _ in } }
                    daemon.leaseID = nil
                    return
                }
                removeLeftovers(on: [index]) { [self] in
                    guard !draining, isCurrent(daemon, index) else { return }
                    control { $0.setHealthy(index, true, now: $1) }
                    daemons[index].since = wallClock()
                    logger.notice("daemon joined: placing sessions on it", metadata: ["daemon": "\(daemon.name)"])
                    scheduleHealthCheck(index, after: HealthTiming.interval)
                    followEvents(index)
                }
                }
            }
        }
    }
}

private func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Remote daemons publish service ports on their host; a unix socket's daemon is local.
private func publishes(_ url: DaemonURL) -> Bool {
    if case .unix = url { return false }
    return true
}
