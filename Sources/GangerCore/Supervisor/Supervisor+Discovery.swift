import Glibc
import EventLoop
import Logging

/// A dynamic daemon set (Consul discovery). Daemons are only ever appended: an index, once
/// given, names the same daemon for the life of the process, so sessions, placement and the
/// per-index health state stay valid.
///
/// - Join: a URL that appears gets a client and a placement slot that is not used yet; its API
///   version is negotiated, each service's image is made present per its pull policy, this
///   instance's leftovers on it are removed, and only then is it placed on (health checks and
///   the event stream start with it). A join that fails is tried again with back-off.
/// - Leave: a URL that disappears (deregistered, or its checks no longer pass) is drained:
///   no new placements; its sessions go on and their slots stay counted until they end.
/// - Rejoin: a drained daemon that appears again is used again at once.
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
                    + (consul.datacenters.isEmpty ? "" : " in datacenters \(consul.datacenters.joined(separator: ", "))"))
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
        var present: Set<Int> = []
        for daemon in found {
            if let index = daemons.firstIndex(where: { $0.url == daemon.url }) {
                present.insert(index)
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
            } else if let index = join(daemon) {
                present.insert(index)
            }
        }
        for index in daemons.indices where !present.contains(index) && !placement.daemons[index].retired {
            control { $0.setRetired(index, true, now: $1) }
            logger.notice("daemon left the catalog: drained (its sessions go on, no new ones)", metadata: [
                "daemon": "\(daemons[index].name)", "containers": "\(placement.daemons[index].load)",
            ])
        }
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
    private func join(_ daemon: DiscoveredDaemon) -> Int? {
        guard let client = makeClient(daemon) else { return nil }
        daemons.append(DaemonRuntime(client: client))
        let index = lifecycle.appendDaemon(capacity: daemon.maxContainers, rank: daemon.rank, healthy: false,
                                           publishes: publishes(daemon.url))
        daemons[index].since = wallClock()
        logger.notice("daemon joined the catalog: preparing it", metadata: [
            "daemon": "\(daemon.url)", "datacenter": "\(daemon.datacenter)", "max_containers": "\(daemon.maxContainers)",
        ])
        prepareJoined(index, attempt: 1)
        return index
    }

    /// Negotiate, images, leftovers; then it takes placements. Retried while it fails.
    private func prepareJoined(_ index: Int, attempt: Int) {
        guard !draining else { return }
        let daemon = daemons[index]
        let retry = { [self] (why: String) in
            daemon.lastError = why
            let delay = Duration.seconds(min(1 << min(attempt, 5), 30))
            logger.error("joining daemon not ready; trying again", metadata: ["daemon": "\(daemon.name)", "error": "\(why)", "in": "\(delay)"])
            reactor?.schedule(after: delay) { [weak self] in self?.prepareJoined(index, attempt: attempt + 1) }
        }
        daemon.engine.negotiate { [self] result in
            if case let .failure(error) = result { return retry(error.description) }
            prepareImages(on: [index]) { [self] error in
                if let error { return retry(error) }
                acquireLease(index) { [self] error in
                if let error { return retry(error) }
                removeLeftovers(on: [index]) { [self] in
                    guard !draining else { return }
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
