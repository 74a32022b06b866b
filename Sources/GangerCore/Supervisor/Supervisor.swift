public import EventLoop
public import Logging

/// Wires Ganger together on one reactor: daemons, services, sessions, placement.
///
/// Everything here runs on the loop thread. The supervisor owns every session and every
/// container Ganger starts; it hands out slots (placement), queues clients when the fleet is
/// full, removes containers when sessions end, and admits the next queued client when a slot
/// frees up.
public final class Supervisor {
    public internal(set) var config: GangerConfig
    public let logger: Logger
    public private(set) weak var reactor: Reactor?
    let pipes = PipePool()
    var placement: Placement
    var daemons: [DockerClient] = []
    var services: [ServiceRuntime] = []
    var sessions: [UInt64: Session] = [:]
    private var nextSessionID: UInt64 = 1
    /// Removals in flight: shutdown waits for them.
    var removalsInFlight = 0
    var draining = false
    var onDrained: (() -> Void)?
    private var admitRotation = 0
    /// Health state per daemon index: the current ping back-off.
    var backoff: [Int: Duration] = [:]
    /// Container ids being removed, so reconciliation does not remove them twice.
    var removing: Set<String> = []
    /// The last sessions that ended, oldest first (capped).
    var recentSessions: [StatusSnapshot.SessionRecord] = []
    var lastError: [Int: String] = [:]
    var daemonSince: [Int: Double] = [:]
    let startedUnix = wallClock()
    var eventStreams: [Int: HTTPRequestTask] = [:]
    var statusServer: StatusServer?
    /// Consul discovery (`consul:`); nil for a static daemon list. See Supervisor+Discovery.swift.
    var discovery: ConsulDiscovery?
    /// `consul.daemon_tls`, loaded once at startup and shared by every discovered daemon.
    var discoveryTLS: TLSContext?

    var instance: String { config.instance }

    public init(config: GangerConfig, reactor: Reactor, logger: Logger) throws(DockerError) {
        self.config = config
        self.reactor = reactor
        self.logger = logger
        placement = Placement(capacities: config.daemons.map(\.maxContainers))
        for daemon in config.daemons {
            Self.checkTransport(daemon, logger: logger)
            daemons.append(try DockerClient(reactor: reactor, url: daemon.url, timeout: config.dockerTimeout, tls: daemon.tls))
        }
        services = config.services.enumerated().map { ServiceRuntime(config: $1, index: $0, supervisor: self) }
    }

    /// Whether a free slot may go to the warm pool: only while no client waits anywhere.
    var mayWarm: Bool { !draining && services.allSatisfy { $0.queue.isEmpty } && placement.hasRoom }

    func docker(_ index: Int) -> DockerClient { daemons[index] }

    /// Remote daemons publish the service port on their host; local ones are reached at the
    /// container's address on its network.
    func publishesPorts(_ daemon: Int) -> Bool {
        if case .unix = daemons[daemon].url { return false }
        return true
    }

    func serviceAddress(_ info: ContainerInspect, daemon: Int, port: UInt16, network: String) -> SocketAddress? {
        switch daemons[daemon].url {
        case .unix:
            guard let ip = info.ipAddress(on: network) else { return nil }
            return try? SocketAddress(host: ip, port: port)
        case .tcp, .ssh:
            // The host was resolved when the client was made: no DNS on the loop.
            guard let published = info.publishedPort(port), let host = daemons[daemon].hostAddress else { return nil }
            return host.withPort(published)
        }
    }

    // MARK: Accepting

    func accepted(_ client: consuming FileDescriptor, peer: SocketAddress, service: ServiceRuntime) {
        guard let reactor, !draining else { return client.close() }
        let limit = service.config.perSource.maxConnections
        let source = peer.host
        if limit > 0 && service.perSource[source, default: 0] >= limit {
            service.refusedPerSource += 1
            logger.warning("per-source limit: client refused", metadata: [
                "service": "\(service.config.name)", "client": "\(peer)", "limit": "\(limit)",
            ])
            return client.close()
        }
        service.perSource[source, default: 0] += 1
        let session = Session(id: nextSessionID, service: service, client: client, peer: peer, supervisor: self, now: reactor.now)
        nextSessionID += 1
        sessions[session.id] = session
        service.sessionsTotal += 1
        service.sessionsCurrent += 1
        service.sessionsMax = max(service.sessionsMax, service.sessionsCurrent)
        session.watchClient(reactor: reactor)
        // FIFO per service: a newcomer never overtakes clients already waiting.
        if service.queue.isEmpty, let warm = service.pool.take() {
            session.adopt(warm, reactor: reactor)
        } else if service.queue.isEmpty, let daemon = placement.acquire() {
            session.admitted(on: daemon, reactor: reactor)
        } else if let ticket = service.queue.push(session) {
            session.queueTicket = ticket
            session.queued(timeout: service.config.queue.timeout, reactor: reactor)
        } else {
            service.refusedQueueFull += 1
            logger.warning("queue full: client refused", metadata: ["service": "\(service.config.name)", "client": "\(peer)"])
            session.finish("queue full")
        }
    }

    /// A session whose daemon failed before any container existed (it holds no slot now): the
    /// least-loaded other daemon if one has room, else the queue again (its queue timeout starts
    /// over), else it is closed as a full queue would close it.
    func readmit(_ session: Session) {
        guard let reactor, !draining else { return session.finish("shutting down") }
        if let daemon = placement.acquire() {
            logger.notice("daemon failed before the container existed: placed again", metadata: [
                "service": "\(session.service.config.name)", "client": "\(session.peer)", "daemon": "\(daemons[daemon].name)",
            ])
            return session.admitted(on: daemon, reactor: reactor)
        }
        if let ticket = session.service.queue.push(session) {
            session.queueTicket = ticket
            return session.queued(timeout: session.settings.queue.timeout, reactor: reactor)
        }
        session.service.refusedQueueFull += 1
        session.finish("queue full")
    }

    func queueTimedOut(_ session: Session) {
        session.service.queueTimeouts += 1
        session.finish("queue timeout")
    }

    /// A slot (or a warm container) is free: the next queued client, taking services in turn
    /// so one busy service cannot starve the others that share the daemons. Warm containers
    /// go first; then free slots; once no client waits, the pools may refill.
    func admitNext() {
        guard let reactor, !draining else { return }
        var progress = true
        while progress {
            progress = false
            for step in 0..<services.count {
                let service = services[(admitRotation + step) % services.count]
                guard !service.queue.isEmpty else { continue }
                if service.pool.readyCount > 0, let session = service.queue.pop(), let warm = service.pool.take() {
                    session.adopt(warm, reactor: reactor)
                } else if placement.hasRoom, let session = service.queue.pop(), let daemon = placement.acquire() {
                    session.admitted(on: daemon, reactor: reactor)
                } else {
                    continue
                }
                admitRotation = (service.index + 1) % services.count
                progress = true
                break
            }
        }
        if mayWarm { for service in services { service.pool.refill() } }
    }

    // MARK: Ending

    func relayEnded(_ session: Session, relay: Relay, reason: String) {
        guard let reactor else { return }
        let service = session.service
        service.bytesIn += relay.bytesToService
        service.bytesOut += relay.bytesToClient
        let ttfb = relay.firstByteToClientAt.map { Double($0 &- session.acceptedAt) / 1e9 }
        // Warm (a pooled container) and cold starts are reported apart: their times differ by
        // two orders of magnitude.
        if let ttfb {
            if session.warm { service.ttfbWarm.record(seconds: ttfb) } else { service.ttfbCold.record(seconds: ttfb) }
        }
        recentSessions.append(.init(
            service: service.config.name, client: session.peer.description,
            daemon: session.daemon.map { daemons[$0].name } ?? "", container: String(session.containerID?.prefix(12) ?? ""),
            endedUnix: wallClock(), durationSeconds: Double(reactor.now &- session.acceptedAt) / 1e9, ttfbSeconds: ttfb,
            bytesIn: relay.bytesToService, bytesOut: relay.bytesToClient, reason: reason))
        if recentSessions.count > 50 { recentSessions.removeFirst(recentSessions.count - 50) }
    }

    func sessionEnded(_ session: Session, wasQueued: Bool) {
        if wasQueued, let ticket = session.queueTicket { session.service.queue.remove(ticket: ticket) }
        let source = session.peer.host
        if let count = session.service.perSource[source] {
            if count <= 1 { session.service.perSource.removeValue(forKey: source) } else { session.service.perSource[source] = count - 1 }
        }
        sessions.removeValue(forKey: session.id)
        session.service.sessionsCurrent -= 1
        if !session.closeReason.isEmpty { session.service.closeReasons[session.closeReason, default: 0] += 1 }
        dispose(session)
        admitNext()
        checkDrained()
    }

    /// Removes the session's container (if any) and frees its slot once Docker confirms; a
    /// pooled container that may serve again goes back to its pool instead.
    func dispose(_ session: Session) {
        guard let (daemon, id, pooled, holder) = session.surrenderContainer() else { return }
        if let pooled { return session.service.pool.giveBack(pooled) }
        disposeContainer(id, on: daemon, holder: holder, clean: true)
    }

    /// Removes container `id` (if any) on `daemon`, then frees the slot it held and hands its
    /// network holder back (a holder is reused only after the container in it is gone).
    func disposeContainer(_ id: String?, on daemon: Int, holder: Holder? = nil, clean: Bool = false) {
        guard let id else {
            if let holder { releaseHolder(holder, clean: clean) }
            return releaseSlot(daemon)
        }
        removeContainer(id, on: daemon) { [self] in
            if let holder { releaseHolder(holder, clean: clean) }
            releaseSlot(daemon)
        }
    }

    /// A launch's container in `holder` has started: the holder's pool may refill now.
    func holderJoined(_ holder: Holder) {
        services.first(where: { $0.holders.owns(holder) })?.holders.joined()
    }

    func releaseHolder(_ holder: Holder, clean: Bool) {
        guard let service = services.first(where: { $0.holders.owns(holder) }) else {
            return removeContainer(holder.containerID, on: holder.daemon) {}
        }
        service.holders.release(holder, clean: clean)
    }

    func releaseSlot(_ daemon: Int) {
        placement.release(daemon)
        admitNext()
        checkDrained()
    }

    /// `DELETE /containers/{id}?force=true`, off the client's path; retried while the daemon
    /// fails, so a container is never forgotten.
    func removeContainer(_ id: String, on daemon: Int, attempt: Int = 1, then done: @escaping () -> Void) {
        removalsInFlight += 1
        removing.insert(id)
        daemons[daemon].remove(id) { [self] result in
            removalsInFlight -= 1
            switch result {
            case .success:
                removing.remove(id)
                done()
                // Shutdown may be waiting on exactly this removal (holders, pool, strays).
                checkDrained()
            case let .failure(error):
                logger.error("cannot remove container", metadata: [
                    "daemon": "\(daemons[daemon].name)", "container": "\(id.prefix(12))", "error": "\(error)", "attempt": "\(attempt)",
                ])
                guard attempt < 5, let reactor else {
                    // Given up for now: reconciliation removes it when the daemon answers again.
                    removing.remove(id)
                    done()
                    return checkDrained()
                }
                removalsInFlight += 1
                reactor.schedule(after: .milliseconds(200 * attempt)) { [self] in
                    removalsInFlight -= 1
                    removeContainer(id, on: daemon, attempt: attempt + 1, then: done)
                }
            }
        }
    }

    /// A Docker call failed: a transport failure (no answer) takes the daemon out of placement
    /// until a health check finds it answering again.
    func daemonFailed(_ daemon: Int, _ error: DockerError) {
        lastError[daemon] = error.description
        if error.isTransport { markDown(daemon, error) }
    }

    func checkDrained() {
        guard draining, sessions.isEmpty, removalsInFlight == 0, let onDrained else { return }
        self.onDrained = nil
        onDrained()
    }
}
