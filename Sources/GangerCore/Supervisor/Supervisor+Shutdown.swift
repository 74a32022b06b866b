import EventLoop
import Logging

/// How a shutdown tells a daemon that stopped answering from a slow one.
enum ShutdownWatch {
    static let tick: Duration = .seconds(1)
    /// Calls out and no answer this long: given up. Longer than any answer dockerd gives while
    /// it works (a removal takes well under a second; under a burst, a few), shorter than the
    /// 30 s a service manager typically allows a stop (deploy/systemd's TimeoutStopSec).
    static let silence: Duration = .seconds(10)
}

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
        watchShutdown()
        let graceTimer = reactor.schedule(after: grace) { [self] in
            if !sessions.isEmpty { logger.notice("grace period over", metadata: ["sessions": "\(sessions.count)"]) }
            endAllSessions()
        }
        onDrained = { [self] in
            reactor.cancel(graceTimer)
            // A last sweep by label: whatever a failed removal left is taken now.
            // Only where this process holds the instance: a startup refused because another live
            // Ganger holds it must not sweep that one's containers.
            let up = placement.daemons.indices.filter {
                placement.daemons[$0].healthy && daemons[$0].leaseID != nil && !daemons[$0].givenUpAtShutdown
            }
            removeLeftovers(on: up) { [self] in
                releaseLeases { [self] in
                    for daemon in daemons { daemon.client.shutdown() }
                    statusServer?.close()
                    statusServer = nil
                    shutdownFinished = true
                    done()
                }
            }
        }
        checkDrained()
    }

    /// Daemons given up while shutting down (`watchShutdown`): what they still hold of this
    /// instance is left for the next start's sweep or `ganger cleanup`.
    public var unansweredAtShutdown: [String] {
        daemons.filter(\.givenUpAtShutdown).map(\.name)
    }

    /// Bounds a shutdown by the daemons' silence rather than by `docker_timeout` (five minutes
    /// by default, and a removal tries five times): a daemon that has calls out and answers none
    /// for `ShutdownWatch.silence` is given up — its calls fail now, nothing more is asked of
    /// it — so a frozen dockerd cannot keep `ganger` from exiting (systemd's TimeoutStopSec
    /// would SIGKILL it, without the rest of the cleanup). A daemon that answers, however
    /// slowly, is waited for. Checked every second until the process stops.
    private func watchShutdown() {
        guard let reactor else { return }
        reactor.schedule(after: ShutdownWatch.tick) { [weak self] in
            guard let self, !shutdownFinished else { return }
            let now = reactor.now
            for daemon in daemons where !daemon.givenUpAtShutdown {
                guard daemon.client.outstanding > 0, !daemon.client.answered(within: ShutdownWatch.tick, now: now) else {
                    daemon.silentSince = nil
                    continue
                }
                let since = daemon.silentSince ?? now
                daemon.silentSince = since
                guard now &- since >= ShutdownWatch.silence.nanoseconds else { continue }
                daemon.givenUpAtShutdown = true
                logger.error("shutting down: a daemon with calls out answered none: given up", metadata: [
                    "daemon": "\(daemon.name)", "calls": "\(daemon.client.outstanding)", "silent_s": "\(ShutdownWatch.silence.components.seconds)",
                    "left": "what it holds of this instance: removed by the next start's sweep, or `ganger cleanup`",
                ])
                daemon.client.abort()
            }
            watchShutdown()
        }
    }

    private func endAllSessions() {
        control { $0.closeAll("shutdown", now: $1) }
    }
}
