import EventLoop
import Logging

extension Supervisor {
    /// Stops accepting, lets sessions finish for `grace`, then ends the rest; removes every
    /// container Ganger started and any this instance still has; then calls `done`. A second
    /// call skips the grace period.
    public func shutdown(grace: Duration, done: @escaping () -> Void) {
        guard let reactor else { return done() }
        if draining {
            logger.notice("second signal: ending every session now")
            return endAllSessions()
        }
        donor?.abort("shutting down")
        draining = true
        closeControlSocket(unlinking: true)
        systemd?.stopping(status: serviceManagerStatus)
        stopEventStreams()
        discovery?.stop()
        logger.notice("shutting down", metadata: ["sessions": "\(sessions.count)", "grace": "\(grace)"])
        for service in services {
            service.listener?.close()
            service.listener = nil
        }
        control { $0.drain(now: $1) }
        for service in services {
            service.pool.drain()
            service.holders.drain()
        }
        let graceTimer = reactor.schedule(after: grace) { [self] in
            if !sessions.isEmpty { logger.notice("grace period over", metadata: ["sessions": "\(sessions.count)"]) }
            endAllSessions()
        }
        onDrained = { [self] in
            reactor.cancel(graceTimer)
            // A last sweep by label: whatever a failed removal left is taken now.
            // Only where this process holds the instance: a startup refused because another live
            // Ganger holds it must not sweep that one's containers.
            let up = placement.daemons.indices.filter { placement.daemons[$0].healthy && daemons[$0].leaseID != nil }
            removeLeftovers(on: up) { [self] in
                releaseLeases { [self] in
                    for daemon in daemons { daemon.client.shutdown() }
                    statusServer?.close()
                    statusServer = nil
                    done()
                }
            }
        }
        checkDrained()
    }

    private func endAllSessions() {
        control { $0.closeAll("shutdown", now: $1) }
    }
}
