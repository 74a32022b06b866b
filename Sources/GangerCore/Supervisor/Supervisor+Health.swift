import EventLoop
import Logging

/// How often an up daemon is pinged, and the back-off for a down one.
enum HealthTiming {
    static let interval: Duration = .seconds(2)
    /// The longest wait between pings of a down daemon. A ping is one `GET /_ping`; what a long
    /// wait costs is the time a daemon that came back stays unused while clients wait in the
    /// queue (30 s once: a dockerd restarted after half a minute was found 20 s late, and the
    /// clients queued meanwhile ran out their 60 s). HAProxy pings a down server at its normal
    /// interval unless told otherwise (`downinter`).
    static let maxBackoff: Duration = .seconds(5)
    static let pingTimeout: Duration = .seconds(2)
    /// How long a daemon may take to tell its API version (`GET /version`, as cheap as a ping)
    /// at startup, when it joins, or when it answers again. One that has not is down for now,
    /// and the health check brings it in once it answers: a frozen dockerd among several kept
    /// `ganger run` from listening for `docker_timeout` (five minutes by default). Longer than
    /// a ping's: a dockerd that just started can take seconds to answer its first calls.
    static let contactTimeout: Duration = .seconds(10)
    /// How long a daemon that answers again waits when another process took the instance there
    /// during the outage, before this one asks again.
    static let leaseRecheck: Duration = .seconds(30)

    /// The wait before the next ping of a down daemon, after `previous` (nil: it just went
    /// down): 1 s, then doubling, at most `maxBackoff`.
    static func backoff(after previous: Duration?) -> Duration {
        min((previous ?? .milliseconds(500)) * 2, maxBackoff)
    }
}

extension GangerConfig {
    /// `HealthTiming.contactTimeout`, never above `docker_timeout`.
    var contactTimeout: Duration { min(HealthTiming.contactTimeout, dockerTimeout) }
}

extension Supervisor {
    /// Starts pinging every daemon: an up daemon every `interval`; a down one with exponential
    /// back-off. A daemon that fails a ping (or any call, see `daemonFailed`) gets no new
    /// placements; its relayed sessions go on. When it answers again, its containers are
    /// reconciled and it is used again.
    func startHealthChecks() {
        for index in daemons.indices { scheduleHealthCheck(index, after: HealthTiming.interval) }
    }

    func scheduleHealthCheck(_ index: Int, after delay: Duration) {
        guard let reactor, !draining else { return }
        let daemon = daemons[index]
        reactor.schedule(after: delay) { [weak self] in
            // A forgotten daemon's index may be a newcomer's by now: its checks are its own.
            guard let self, isCurrent(daemon, index) else { return }
            if forgetIfIdle(index) { return }
            healthCheck(index)
        }
    }

    private func healthCheck(_ index: Int) {
        guard !draining else { return }
        let daemon = daemons[index]
        let wasUp = !daemon.down
        daemon.engine.ping(timeout: min(HealthTiming.pingTimeout, config.dockerTimeout)) { [self] result in
            guard isCurrent(daemon, index) else { return }
            switch result {
            case .success where wasUp:
                retryRemovals(index)
                scheduleHealthCheck(index, after: HealthTiming.interval)
            case .success:
                // Back: learn its API version again (it may have been upgraded), make its images
                // present (it may have been down since startup, or lost them), reconcile, use it.
                // Still unusable at any step: it stays down, and the next ping tries again.
                let notYet = { [self] (error: String) in
                    daemon.lastError = error
                    logger.error("daemon answers again but cannot be used yet", metadata: ["daemon": "\(daemon.name)", "error": "\(error)"])
                    let next = HealthTiming.backoff(after: daemon.backoff)
                    daemon.backoff = next
                    scheduleHealthCheck(index, after: next)
                }
                daemon.engine.negotiate(timeout: config.contactTimeout) { [self] result in
                    guard isCurrent(daemon, index), !draining else { return }
                    // A daemon down since startup learns its API version and log driver here:
                    // without them its sessions' containers would be made without the log bound
                    // (limits.log), or in an API it does not speak.
                    if case let .failure(error) = result { return notYet(error.description) }
                    prepareDaemons([index]) { [self] error in
                    guard isCurrent(daemon, index), !draining else { return }
                    if let error { return notYet(error) }
                    // Reconciliation removes what no one owns: only while this process holds
                    // the instance there (another one may have taken it during the outage).
                    ensureLease(index) { [self] held in
                    guard held else { return scheduleHealthCheck(index, after: HealthTiming.leaseRecheck) }
                    reconcile(index) { [self] in
                        guard isCurrent(daemon, index) else { return }
                        daemon.since = wallClock()
                        daemon.backoff = nil
                        daemon.down = false
                        logger.notice("daemon up again", metadata: ["daemon": "\(daemon.name)"])
                        control { $0.setHealthy(index, true, now: $1) }
                        scheduleHealthCheck(index, after: HealthTiming.interval)
                    }
                    }
                    }
                }
            case let .failure(error) where wasUp && error.isTimeout && isBusy(index):
                // Under a burst dockerd can take longer than the ping's timeout to answer a ping
                // while it still completes calls: busy, not dead. Its launches are bounded by the
                // launch window; marking it down would only strand who waits for it.
                logger.notice("daemon slow to answer a ping while it completes calls: busy, not down", metadata: [
                    "daemon": "\(daemon.name)", "error": "\(error.message)",
                ])
                scheduleHealthCheck(index, after: HealthTiming.interval)
            case let .failure(error) where error.isLocal:
                // Short of descriptors here: the daemon keeps its state; ask again soon.
                daemon.lastError = error.description
                scheduleHealthCheck(index, after: HealthTiming.interval)
            case let .failure(error):
                markDown(index, error.description)
                let next = HealthTiming.backoff(after: daemon.backoff)
                daemon.backoff = next
                scheduleHealthCheck(index, after: next)
            }
        }
    }

    /// Removals given up on `index` (`DaemonRuntime.unremoved`) are tried again, five attempts
    /// each as before; still failing, they wait for the next answered ping.
    private func retryRemovals(_ index: Int) {
        let daemon = daemons[index]
        guard !daemon.unremoved.isEmpty else { return }
        let ids = daemon.unremoved.filter { !removing.contains($0) }
        daemon.unremoved.removeAll()
        logger.notice("retrying removals given up earlier", metadata: ["daemon": "\(daemon.name)", "count": "\(ids.count)"])
        for id in ids.sorted() { removeContainer(id, on: index) {} }
    }

    /// Every container this process holds: session containers (launching or relayed, taken over
    /// included), launches of ended sessions still out, warm and launching pool containers,
    /// network holders, and holders lent to sessions taken over from another process (they
    /// belong to no pool here). Anything else of the instance is a stray.
    var heldContainers: Set<String> {
        var known = Set(lifecycle.sessions.values.compactMap(\.containerID))
        known.formUnion(lifecycle.abandoned.values.compactMap(\.containerID))
        for service in services { known.formUnion(service.pool.containerIDs.union(service.holders.containerIDs)) }
        known.formUnion(lentHolders.keys)
        return known
    }

    /// The daemon answered a call recently (within two ping intervals and a ping's timeout).
    func isBusy(_ index: Int) -> Bool {
        guard let reactor else { return false }
        return daemons[index].client.answered(within: HealthTiming.interval * 2 + HealthTiming.pingTimeout, now: reactor.now)
    }

    /// Takes `index` out of placement (idempotent), logging why once.
    func markDown(_ index: Int, _ error: String) {
        guard !daemons[index].down else { return }
        daemons[index].down = true
        daemons[index].since = wallClock()
        daemons[index].lastError = error
        // Logged first: the lifecycle's answer logs the clients it places again because of it.
        logger.error("daemon down: no new sessions placed on it", metadata: ["daemon": "\(daemons[index].name)", "error": "\(error)"])
        control { $0.setHealthy(index, false, now: $1) }
    }

    /// This instance's containers on `index` that no session owns are removed (leftovers from
    /// while it was unreachable); the rest are Ganger's and already counted.
    private func reconcile(_ index: Int, _ done: @escaping () -> Void) {
        let known = heldContainers
        daemons[index].engine.list(labels: GangerLabels.filters(instance: instance)) { [self] result in
            guard case let .success(containers) = result else { return done() }
            let strays = containers.filter { !known.contains($0.id) && !removing.contains($0.id) }
            if !strays.isEmpty {
                logger.notice("reconcile: removing containers no session owns", metadata: [
                    "daemon": "\(daemons[index].name)", "count": "\(strays.count)",
                ])
            }
            let join = Join(strays.count, done: done)
            for stray in strays { removeContainer(stray.id, on: index) { join.leave() } }
        }
    }
}
