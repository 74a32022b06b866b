public import EventLoop
import Glibc

/// Seconds since the epoch (CLOCK_REALTIME): for display only, never for deadlines.
func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension Supervisor {
    /// Where the status page answers, once started.
    public var statusAddress: SocketAddress? { statusServer?.address }

    /// One line for systemd's `STATUS=` (`systemctl status`): sessions, queue, daemons up.
    var serviceManagerStatus: String {
        let up = placement.daemons.filter(\.healthy).count
        let queued = services.reduce(0) { $0 + lifecycle.scheduler.queued($1.index) }
        return (draining ? "shutting down: " : "") + "\(sessions.count) sessions, \(queued) queued, \(up)/\(daemons.count) daemons up"
    }

    /// The live state as the status page and metrics show it. Loop thread only.
    public func snapshot() -> StatusSnapshot {
        StatusSnapshot(
            instance: instance,
            version: GangerVersion.string,
            startedUnix: startedUnix,
            nowUnix: wallClock(),
            draining: draining,
            services: services.map { service in
                StatusSnapshot.Service(
                    name: service.config.name,
                    listen: service.address?.description ?? service.config.listen.description,
                    image: service.config.image,
                    sessionsCurrent: service.sessionsCurrent,
                    sessionsTotal: service.sessionsTotal,
                    sessionsMax: service.sessionsMax,
                    queueCurrent: lifecycle.scheduler.queued(service.index),
                    queueMax: service.config.queue.max,
                    queueTimeouts: service.queueTimeouts,
                    refusedQueueFull: service.refusedQueueFull,
                    refusedPerSource: service.refusedPerSource,
                    poolWarm: service.config.pool.warm,
                    poolReady: service.pool.readyCount,
                    bytesIn: service.bytesIn,
                    bytesOut: service.bytesOut,
                    ttfbCold: service.ttfbCold.percentiles,
                    ttfbWarm: service.ttfbWarm.percentiles,
                    ttfbHistogram: service.ttfbCold.merged(with: service.ttfbWarm),
                    endReasons: service.closeReasons)
                    .withHolders(service.config.netns.mode == .holder ? service : nil)
            },
            // Forgotten daemons are gone from the page (their index waits for a newcomer).
            daemons: daemons.indices.filter { !daemons[$0].forgotten }.map { index in
                StatusSnapshot.Daemon(
                    url: daemons[index].name,
                    up: placement.daemons[index].healthy,
                    state: placement.daemons[index].retired ? .draining : placement.daemons[index].healthy ? .up : .down,
                    sinceUnix: daemons[index].since ?? startedUnix,
                    containers: placement.daemons[index].load,
                    maxContainers: placement.daemons[index].capacity,
                    lastError: daemons[index].lastError,
                    degraded: daemons[index].degraded,
                    launching: placement.daemons[index].launching,
                    launchWindow: lifecycle.scheduler.windows.indices.contains(index) ? placement.daemons[index].window : nil,
                    heldOff: services.indices.filter { lifecycle.scheduler.heldOff($0).contains(index) }.map { services[$0].config.name })
            },
            recentSessions: recentSessions.reversed(),
            liveSessions: liveSessions(),
            relay: StatusSnapshot.RelayConduits(
                pipesLent: pipes.liveCount - pipes.idleCount, pipesIdle: pipes.idleCount,
                largeBuffersLent: pipes.largeBuffers.inUse, largeBuffersMax: pipes.largeBuffers.maxBuffers,
                largeBufferLends: pipes.largeBuffers.lent, pipesSmall: pipes.smallPipes))
    }

    /// The oldest 100 relaying sessions, with their bytes so far.
    private func liveSessions() -> [StatusSnapshot.LiveSession] {
        let now = reactor?.now ?? 0
        let wall = wallClock()
        return sessions.values.filter { $0.relay != nil }.sorted { $0.acceptedAt < $1.acceptedAt }.prefix(100).map { session in
            StatusSnapshot.LiveSession(
                service: session.service.config.name, client: session.peer.description,
                daemon: session.daemon.map { daemons[$0].name } ?? "", container: String(session.containerID?.prefix(12) ?? ""),
                startedUnix: wall - Double(now &- session.acceptedAt) / 1e9,
                bytesIn: session.relay?.bytesToService ?? 0, bytesOut: session.relay?.bytesToClient ?? 0, inherited: session.inherited)
        }
    }
}

private extension StatusSnapshot.Service {
    /// The holder figures of `service` (holder mode), or none: a service that never ran holders
    /// shows none rather than zeros.
    func withHolders(_ service: ServiceRuntime?) -> Self {
        guard let service else { return self }
        var copy = self
        copy.holdersReady = service.holders.readyCount
        copy.holdersPerDaemon = service.config.netns.holders
        copy.holderSessions = service.holders.fastPathSessions
        copy.holderFallbackSessions = service.holders.normalPathSessions
        copy.holdersRetired = service.holders.retired
        copy.holdersDiscarded = service.holders.discarded
        return copy
    }
}
