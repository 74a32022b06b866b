import EventLoop
import Logging
import Glibc

/// The old process's part of a takeover that the supervisor carries out (TakeoverDonor.swift
/// drives it): pausing, describing, and letting go.
extension Supervisor {
    /// Services stop accepting; new clients wait in the kernel's backlog.
    func pauseListeners() {
        for service in services { service.listener?.pause() }
    }

    func resumeListeners() {
        for service in services {
            do {
                try service.listener?.resume()
            } catch {
                logger.error("cannot accept again after a failed takeover", metadata: ["service": "\(service.config.name)", "error": "\(error)"])
            }
        }
    }

    /// Suspends every relay (a safe point: between two events, nothing half-moved); returns the
    /// sessions, in order.
    func suspendRelays() -> [UInt64] {
        let ids = sessions.keys.sorted().filter { sessions[$0]?.relay.map { !$0.isClosed } ?? false }
        for id in ids { sessions[id]?.relay?.suspend() }
        return ids
    }

    func resumeRelays(_ ids: [UInt64]) {
        for id in ids { sessions[id]?.relay?.resume() }
    }

    /// The instance and copies of the listening sockets (services, then status, then the
    /// control socket).
    func describeForTakeover(sessions count: Int) throws -> (TakeoverState, [FileDescriptorBox]) {
        var descriptors: [FileDescriptorBox] = []
        var listeners: [TakeoverState.ListenerEntry] = []
        for service in services {
            guard let listener = service.listener else { continue }
            descriptors.append(FileDescriptorBox(try listener.duplicateSocket()))
            listeners.append(.init(service: service.config.name, asked: service.config.listen.description,
                                   bound: HostPort(listener.address).description))
        }
        if let statusServer { descriptors.append(FileDescriptorBox(try statusServer.duplicateListeningSocket())) }
        if let controlListener { descriptors.append(FileDescriptorBox(try controlListener.duplicateSocket())) }
        let counters = services.map { service in
            TakeoverState.Counters(service: service.config.name, sessionsTotal: service.sessionsTotal, sessionsMax: service.sessionsMax,
                                   bytesIn: service.bytesIn, bytesOut: service.bytesOut, refusedQueueFull: service.refusedQueueFull,
                                   queueTimeouts: service.queueTimeouts, refusedPerSource: service.refusedPerSource,
                                   endReasons: service.closeReasons)
        }
        let state = TakeoverState(instance: instance, boot: boot, pid: getpid(), listeners: listeners,
                                  statusListen: config.status.listen.description, status: statusServer != nil,
                                  control: controlListener != nil, sessions: count, counters: counters, startedUnix: startedUnix)
        return (state, descriptors)
    }

    /// Suspended relaying sessions as the new process resumes them, with copies of their
    /// descriptors.
    func describeSessions(_ ids: [UInt64]) throws -> (TakeoverSessions, [FileDescriptorBox]) {
        var entries: [TakeoverSession] = []
        var descriptors: [FileDescriptorBox] = []
        let now = reactor?.now ?? 0
        let wall = wallClock()
        for id in ids {
            guard let session = sessions[id], let relay = session.relay, let machine = lifecycle.sessions[id],
                  let container = machine.container, let daemon = session.daemon else { continue }
            let (state, relayDescriptors) = try relay.handOff()
            entries.append(TakeoverSession(
                id: id, service: session.service.config.name, peer: session.peer.description, source: machine.source,
                acceptedAt: session.acceptedAt, acceptedUnix: wall - Double(now &- session.acceptedAt) / 1e9,
                daemon: daemons[daemon].name, containerID: container.id,
                holder: container.holder.map { .init(containerID: $0.containerID, address: $0.address.description) },
                warm: container.warm, relayDeadline: machine.relayDeadline, relay: state, descriptors: relayDescriptors.count))
            descriptors += relayDescriptors
        }
        return (TakeoverSessions(sessions: entries), descriptors)
    }

    /// The new process serves from now on: this one lets every handed session and socket go
    /// (no FIN, no reset, no container removed), removes its idle warm containers and free
    /// holders (the new process starts its own), gives its instance leases up (the new one
    /// holds its own), and exits 0 once its removals are done (at most 10 s).
    func handedOver(sessions ids: [UInt64], to pid: Int32) {
        draining = true
        stopEventStreams()
        discovery?.stop()
        var services: [String: Int] = [:]
        for id in ids {
            guard let session = sessions.removeValue(forKey: id) else { continue }
            session.abandonForTakeover()
            services[session.service.config.name, default: 0] += 1
        }
        for service in self.services {
            service.listener?.close()
            service.listener = nil
        }
        statusServer?.close()
        statusServer = nil
        closeControlSocket(unlinking: false)
        logger.notice("handed over to the new process", metadata: [
            "pid": "\(pid)", "sessions": "\(ids.count)", "per_service": "\(services.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
        ])
        for service in self.services {
            service.pool.drain()
            service.holders.drain()
        }
        let started = reactor?.now ?? 0
        func exitWhenDone() {
            guard let reactor else { return }
            if removalsInFlight > 0 && reactor.now &- started < 10_000_000_000 {
                reactor.schedule(after: .milliseconds(50)) { exitWhenDone() }
                return
            }
            releaseLeases { [self] in
                for daemon in daemons { daemon.client.shutdown() }
                logger.notice("exiting after the takeover")
                onHandedOver?()
            }
        }
        exitWhenDone()
    }
}
