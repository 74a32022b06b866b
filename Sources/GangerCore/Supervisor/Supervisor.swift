public import EventLoop
public import Logging
import Glibc

/// Wires Ganger together on one reactor: daemons, services, and the sessions' I/O.
///
/// Everything here runs on the loop thread. What happens to a connection is decided by
/// `Lifecycle` (a pure value: scheduler, sessions, launches); the supervisor feeds it events
/// (accepts, client bytes and departures, Docker answers, relay ends, removals, time) and carries
/// out its actions on the reactor (Supervisor.swift's `send` and `perform`).
public final class Supervisor {
    public internal(set) var config: GangerConfig
    public let logger: Logger
    public private(set) weak var reactor: Reactor?
    /// Pipes and large copy buffers for every session's relay (`relay:`, fixed at startup).
    let pipes: PipePool
    /// Every session's and launch's logic, and the scheduler.
    var lifecycle: Lifecycle
    /// Read-only view of the daemons' load, caps and health.
    var placement: Placement { lifecycle.scheduler.placement }
    private var pendingEvents: [Lifecycle.Event] = []
    private var driving = false
    private var tickTimer: (id: TimerID, deadline: UInt64)?
    /// Network holders lent to launches, by container id.
    var lentHolders: [String: Holder] = [:]
    var daemons: [DaemonRuntime] = []
    /// Indexes of forgotten daemons, for the next newcomer (Supervisor+Discovery.swift).
    var freeDaemonSlots: [Int] = []
    var services: [ServiceRuntime] = []
    var sessions: [UInt64: Session] = [:]
    var nextSessionID: UInt64 = 1
    /// Removals in flight: shutdown waits for them.
    var removalsInFlight = 0
    var draining = false
    var onDrained: (() -> Void)?
    /// The shutdown's cleanup is over (its `done` was called): `watchShutdown` stops.
    var shutdownFinished = false
    /// Container ids being removed, so reconciliation does not remove them twice.
    var removing: Set<String> = []
    /// The last sessions that ended, oldest first (capped).
    var recentSessions: [StatusSnapshot.SessionRecord] = []
    let startedUnix = wallClock()
    var statusServer: StatusServer?
    /// The descriptor budget new clients are admitted against (DescriptorBudget.swift); nil
    /// before startup.
    var descriptors: DescriptorBudget?
    /// Refused clients and removals given up, logged few whatever the flood (LogDigest.swift),
    /// the timer that sums them up while a window is open, and the window (10 s; tests shorten it).
    var refusals = LogDigest()
    var removalsGivenUp = LogDigest()
    var digestTick: TimerID?
    var digestWindow: Duration = .seconds(10)
    /// Consul discovery (`consul:`); nil for a static daemon list. See Supervisor+Discovery.swift.
    var discovery: ConsulDiscovery?
    /// `consul.daemon_tls`, loaded once at startup and shared by every discovered daemon.
    var discoveryTLS: TLSContext?
    /// systemd's notification socket (`Type=notify`); nil when not started that way.
    public var systemd: SystemdNotifier?
    /// Listening sockets systemd passed (socket activation), taken by name as services listen.
    public var passedSockets: PassedSockets?

    /// The control socket's listener and path (Supervisor+Control.swift), once open.
    var controlListener: Listener?
    var controlPath: String?
    /// The takeover this process is handing itself over in, if any (one at a time).
    var donor: TakeoverDonor?
    /// The takeover this process is starting by (`ganger run --takeover`), until it is done.
    var heir: TakeoverHeir?
    /// The boot id of the process this one took over: its instance lease is no rival.
    var predecessorBoot: String?
    /// Called once this process handed everything over to another one and let go (exit 0).
    public var onHandedOver: (() -> Void)?

    var instance: String { config.instance }
    /// This process's boot id: labelled on every container it makes and on its instance lease.
    let boot = String(UInt64.random(in: 1...UInt64.max), radix: 16)
    /// This host's name, on the lease (a restart on the same host need not wait for a lapse).
    let hostName = currentHostName()
    /// Numbers the containers this process names (`nextContainerName`).
    var containerSerial = 0
    /// Counts reloads: one still making its images present when a later one starts is dropped.
    var reloadGeneration = 0

    public init(config: GangerConfig, reactor: Reactor, logger: Logger) throws(DockerError) {
        self.config = config
        self.reactor = reactor
        self.logger = logger
        pipes = config.relay.makePipePool()
        lifecycle = Lifecycle(
            scheduler: Scheduler(placement: Placement(capacities: config.daemons.map(\.maxContainers)),
                                 policies: config.services.map(Scheduler.Policy.init)),
            publishes: config.daemons.map { if case .unix = $0.url { false } else { true } })
        _ = lifecycle.setLaunchWindow(config.launchWindow?.template, now: 0)
        lifecycle.traceDecisions = logger.logLevel <= .debug
        for daemon in config.daemons {
            Self.checkTransport(daemon, logger: logger)
            daemons.append(DaemonRuntime(client: try DockerClient(reactor: reactor, url: daemon.url, timeout: config.dockerTimeout,
                                                                  tls: daemon.tls)))
        }
        services = config.services.enumerated().map { ServiceRuntime(config: $1, index: $0, host: self) }
        pipes.onFirstSmallPipe = { [logger, asked = pipes.pipeSize] granted in
            logger.warning("the kernel made a splice pipe smaller than asked: relays still work, moving fewer bytes per call", metadata: [
                "asked": "\(asked)", "granted": "\(granted)",
                "why": "this user's pipes reached fs.pipe-user-pages-soft and the process lacks CAP_SYS_RESOURCE (docs/container.md)",
            ])
        }
    }

    func docker(_ index: Int) -> any Engine { daemons[index].engine }

    /// A slot for a warm pool's launch: only while no client waits anywhere.
    func acquireForPool(service: Int) -> Int? { draining ? nil : lifecycle.acquireForPool(service: service) }

    /// Remote daemons publish the service port on their host; local ones are reached at the
    /// container's address on its network.
    func publishesPorts(_ daemon: Int) -> Bool { daemons[daemon].publishesPorts }

    func serviceAddress(_ info: ContainerInspect, daemon: Int, port: UInt16, network: String) -> SocketAddress? {
        switch daemons[daemon].url {
        case .unix:
            guard let ip = info.ipAddress(on: network) else { return nil }
            return try? SocketAddress(host: ip, port: port)
        case .tcp, .ssh:
            // The host was resolved when the client was made: no DNS on the loop.
            guard let published = info.publishedPort(port), let host = publishedHost(daemon) else { return nil }
            return host.withPort(published)
        }
    }

    // MARK: Accepting

    func accepted(_ client: consuming FileDescriptor, peer: SocketAddress, service: ServiceRuntime) {
        guard let reactor, !draining else { return client.close() }
        guard admitDescriptors(peer: peer, service: service) else { return client.close() }
        Self.guardClient(client.rawValue, service.config.session)
        let session = Session(id: nextSessionID, service: service, client: client, peer: peer, reactor: reactor)
        if session.closedBeforeAByte() {
            // Gone before anything was asked of Docker: nothing to queue, nothing to count as a
            // session; the tally says how many such clients came.
            service.closeReasons[EndCategory.clientLeft.rawValue, default: 0] += 1
            return session.close()
        }
        nextSessionID += 1
        sessions[session.id] = session
        service.sessionsTotal += 1
        service.sessionsCurrent += 1
        service.sessionsMax = max(service.sessionsMax, service.sessionsCurrent)
        session.watchClient { [weak self] event in self?.send(event) }
        send(.accepted(session.id, service: service.index, source: SourceKey.of(peer), settings: .init(service.config)))
    }

    /// Keepalive and the user timeout on a client's socket (`session.keepalive`,
    /// `session.user_timeout`); a unix-domain or odd socket that refuses them is left as it is.
    static func guardClient(_ fd: CInt, _ session: ServiceConfig.Session) {
        let keepalive = session.keepalive
        if keepalive.idle > .zero {
            try? Socket.setKeepalive(fd, idleSeconds: Int32(clamping: keepalive.idle.components.seconds),
                                     intervalSeconds: Int32(clamping: keepalive.interval.components.seconds),
                                     count: Int32(clamping: keepalive.count))
        }
        if session.userTimeout > .zero {
            try? Socket.setUserTimeout(fd, milliseconds: Int32(clamping: session.userTimeout.nanoseconds / 1_000_000))
        }
    }

    // MARK: Driving the lifecycle

    /// Feeds `event` to the lifecycle and carries out what it answers. Events raised while
    /// actions are carried out wait their turn, so the lifecycle sees one event at a time.
    func send(_ event: Lifecycle.Event) {
        pendingEvents.append(event)
        drive()
    }

    /// Carries out `change`'s actions (a control call on the lifecycle: health, caps, drain).
    func control(_ change: (inout Lifecycle, UInt64) -> [Lifecycle.Action]) {
        guard let reactor else { return }
        perform(change(&lifecycle, reactor.now))
        drive()
    }

    private func drive() {
        guard !driving, let reactor else { return }
        driving = true
        var index = 0
        while index < pendingEvents.count {
            let event = pendingEvents[index]
            index += 1
            perform(lifecycle.handle(event, now: reactor.now))
        }
        pendingEvents.removeAll(keepingCapacity: true)
        driving = false
        if lifecycle.scheduler.mayWarm { for service in services { service.pool.refill() } }
        armTick()
        checkDrained()
    }

    /// One reactor timer for the lifecycle's earliest deadline.
    private func armTick() {
        guard let reactor else { return }
        guard let deadline = lifecycle.nextDeadline else {
            if let tickTimer { reactor.cancel(tickTimer.id) }
            tickTimer = nil
            return
        }
        if let tickTimer, tickTimer.deadline <= deadline { return }
        if let tickTimer { reactor.cancel(tickTimer.id) }
        let delay = deadline > reactor.now ? deadline - reactor.now : 0
        // Rounded up to the next millisecond by the reactor; firing early would only re-arm.
        let id = reactor.schedule(after: .nanoseconds(Int64(delay))) { [weak self] in
            self?.tickTimer = nil
            self?.send(.tick)
        }
        tickTimer = (id, deadline)
    }

    private func perform(_ actions: [Lifecycle.Action]) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: Lifecycle.Action) {
        switch action {
        case let .launch(id, generation, launchAction):
            performLaunch(id, generation: generation, launchAction)
        case let .takeWarm(id, service):
            guard let session = sessions[id], let container = services[service].pool.take() else {
                return send(.warmTaken(id, daemon: nil, containerID: ""))
            }
            session.adopt(container)
            // Answered at once: the lifecycle counts on the container being the session's now.
            perform(lifecycle.handle(.warmTaken(id, daemon: container.daemon, containerID: container.containerID),
                                     now: reactor?.now ?? 0))
        case let .startRelay(id):
            guard let session = sessions[id] else { return }
            if let why = session.startRelay(pipes: pipes, ended: { [weak self] relay, reason in self?.relayEnded(id, relay, reason) }) {
                send(.relayEnded(id, reason: why))
            } else if let holder = lifecycle.sessions[id]?.container?.holder {
                session.relay?.onClientFIN = { [weak self] in self?.holderMayReturn(holder) }
            }
        case let .closeRelay(id, why):
            sessions[id]?.closeRelay(why)
        case let .giveBackWarm(id, _, _):
            guard let session = sessions[id], let pooled = session.pooled else { return }
            session.pooled = nil
            session.service.pool.giveBack(pooled)
        case let .evictWarm(service):
            services[service].pool.evict()
        case let .dispose(daemon, id, holder, clean):
            dispose(daemon: daemon, id: id, holder: holder, clean: clean)
        case let .ended(id, end):
            sessionEnded(id, end)
        case let .unclaimedDeath(containerID, exitCode, oom):
            if !oom { for service in services where service.pool.containerDied(containerID, exitCode: exitCode, oom: false) { return } }
            if !oom { for service in services where service.holders.containerDied(containerID) { return } }
        case let .log(line):
            logger.log(level: line.level.logging, "\(line.message)", metadata: readable(line.metadata))
        }
    }

    /// The lifecycle names daemons by index and clients by session number: the log gets the
    /// daemon's URL, and the client's address and service while the session lives.
    private func readable(_ metadata: [String: String]) -> Logger.Metadata {
        var out = metadata.mapValues { Logger.MetadataValue.string($0) }
        if let index = metadata["daemon"].flatMap({ Int($0) }), daemons.indices.contains(index) {
            out["daemon"] = "\(daemons[index].name)"
        }
        if let index = metadata["service"].flatMap({ Int($0) }), services.indices.contains(index) {
            out["service"] = "\(services[index].config.name)"
        }
        if let id = metadata["session"].flatMap({ UInt64($0) }), let session = sessions[id] {
            out["client"] = "\(session.peer)"
            out["service"] = "\(session.settings.name)"
        }
        return out
    }

    /// A session's launch action: its I/O goes to the session's `LaunchIO`, the rest is done here.
    private func performLaunch(_ id: UInt64, generation: Int, _ action: LaunchMachine.Action) {
        let session = sessions[id]
        if let session, session.launch == nil, case .create = action {
            session.launch = LaunchIO(environment: self, settings: session.settings, client: session.peer) { [weak self] generation, event in
                self?.send(.launch(id, generation: generation, event))
            }
        }
        if let io = session?.launch, io.perform(action, generation: generation) { return }
        switch action {
        case let .dispose(daemon, container, holder, clean):
            dispose(daemon: daemon, id: container, holder: holder, clean: clean)
        case let .holderJoined(holder):
            holderJoined(holder)
        case let .daemonFailed(daemon, failure):
            daemonFailed(daemon, failure)
        case let .log(line):
            var metadata = line.metadata.mapValues { Logger.MetadataValue.string($0) }
            if let session {
                metadata["service"] = "\(session.settings.name)"
                metadata["client"] = "\(session.peer)"
            }
            logger.log(level: line.level.logging, "\(line.message)", metadata: metadata)
        case let .succeeded(daemon, container, _, holder):
            if daemons[daemon].degraded {
                daemons[daemon].degraded = false
                logger.notice("daemon no longer degraded: a launch on it succeeded", metadata: ["daemon": "\(daemons[daemon].name)"])
            }
            guard let session else { return }
            session.launched(daemon: daemon, containerID: container)
            if session.settings.netns.mode == .holder { session.service.holders.served(throughHolder: holder != nil) }
        case .failed:
            // Not detached: a launch given up when its daemon went down may still have a create
            // out on this I/O, whose answer the lifecycle disposes of. Later answers of this
            // launch are stale by their generation.
            session?.launch?.stop()
            session?.launch = nil
        default:
            break
        }
    }

    func relayEnded(_ id: UInt64, _ relay: Relay, _ reason: Relay.CloseReason) {
        guard let reactor, let session = sessions[id] else { return }
        let service = session.service
        let note = lifecycle.sessions[id]?.containerNote
        let ttfb = relay.firstByteToClientAt.map { Double($0 &- session.acceptedAt) / 1e9 }
        logger.info("session end", metadata: [
            "service": "\(session.settings.name)", "client": "\(session.peer)", "session": "\(id)",
            "daemon": "\(session.daemon.map { daemons[$0].name } ?? "")",
            "container": "\(session.containerID?.prefix(12) ?? "")", "warm": "\(session.warm)",
            "ttfb_s": "\(ttfb.map { String($0) } ?? "-")", "duration_s": "\(Double(reactor.now &- session.acceptedAt) / 1e9)",
            "bytes_in": "\(relay.bytesToService)", "bytes_out": "\(relay.bytesToClient)", "reason": "\(reason)",
            "container_state": "\(note ?? "-")",
        ])
        service.bytesIn += relay.bytesToService
        service.bytesOut += relay.bytesToClient
        // Warm (a pooled container) and cold starts are reported apart: their times differ by
        // two orders of magnitude.
        if let ttfb {
            if session.warm { service.ttfbWarm.record(seconds: ttfb) } else { service.ttfbCold.record(seconds: ttfb) }
        }
        // The end reason the lifecycle will record, for the recent-sessions table.
        let ended = lifecycle.sessions[id]?.reason("\(reason)") ?? "\(reason)"
        recentSessions.append(.init(
            service: service.config.name, client: session.peer.description,
            daemon: session.daemon.map { daemons[$0].name } ?? "", container: String(session.containerID?.prefix(12) ?? ""),
            endedUnix: wallClock(), durationSeconds: Double(reactor.now &- session.acceptedAt) / 1e9, ttfbSeconds: ttfb,
            bytesIn: relay.bytesToService, bytesOut: relay.bytesToClient, reason: ended))
        if recentSessions.count > 50 { recentSessions.removeFirst(recentSessions.count - 50) }
        send(.relayEnded(id, reason: "\(reason)"))
    }

    // MARK: Ending

    private func sessionEnded(_ id: UInt64, _ end: Lifecycle.End) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        session.close()
        let service = session.service
        service.sessionsCurrent -= 1
        switch end.kind {
        case .refused(.perSource), .refused(.sourceRate):
            service.refusedPerSource += 1
        case .refused(.queueFull):
            service.refusedQueueFull += 1
        case .queueTimeout:
            service.queueTimeouts += 1
        case .refused(.draining), .refused(.acceptRate), .relayed, .other:
            break
        }
        // Counted by category (a fixed set): the full text, addresses and daemon messages
        // included, is in the log lines only, so /metrics does not grow a series per failure.
        service.closeReasons[end.category.rawValue, default: 0] += 1
        if case .refused = end.kind {
            logRefusal(service: service.config.name, client: session.peer, category: end.category.rawValue, reason: end.reason)
        } else if end.kind != .relayed {
            logger.notice("session closed before relay", metadata: [
                "service": "\(session.settings.name)", "client": "\(session.peer)", "session": "\(id)", "phase": "\(end.phase.rawValue)",
                "reason": "\(end.reason)",
            ])
        }
    }

    /// Removes container `id` (if any) on `daemon`, then frees the slot it held and hands its
    /// network holder back. A holder that serves again goes back as soon as the container in it
    /// has stopped (`stopThenRemove`); one that does not, after the removal.
    func dispose(daemon: Int, id: String?, holder: LaunchMachine.HolderRef?, clean: Bool) {
        let lent = holder.flatMap { lentHolders.removeValue(forKey: $0.containerID) }
        guard let id else {
            if let lent { releaseHolder(lent, clean: clean) }
            return send(.slotFreed(daemon: daemon))
        }
        if let lent, let pool = holderPool(of: lent), pool.servesAgain(lent, clean: clean) {
            return stopThenRemove(id, on: daemon, handingBack: lent, to: pool)
        }
        // A name, not an id: a create that got no answer. If dockerd makes it after this
        // removal found nothing, its create event removes it (`lateCreate`).
        if !DockerID.isValid(id) { daemons[daemon].lostNames.insert(id) }
        removeContainer(id, on: daemon) { [self] in
            if let lent { releaseHolder(lent, clean: clean) }
            send(.slotFreed(daemon: daemon))
        }
    }

    /// A session in `holder` got its client's FIN: it is likely about to end, and a holder that
    /// serves again then comes back within a stop. Counting it as on its way back now lets a
    /// client that arrives right after (its connect overtakes the session's end, which waits
    /// for the service's own FIN) wait for it instead of taking the normal path.
    func holderMayReturn(_ ref: LaunchMachine.HolderRef) {
        guard let holder = lentHolders[ref.containerID], let pool = holderPool(of: holder),
              pool.servesAgain(holder, clean: true) else { return }
        pool.returning(holder)
    }

    /// Kills `id` (Docker answers once it has stopped), hands `holder` back, then removes `id`
    /// and frees its slot. The removal — unmounting and deleting the container's writable layer,
    /// the slow half of a `DELETE` — no longer keeps the holder from the next client
    /// (bench/README.md (j)).
    ///
    /// Why the next session in the holder finds nothing of this one (docs/operations.md,
    /// "Network holders"; `HolderTests` checks each): the session's container has its own PID
    /// namespace, and its init exits only after the kernel has killed and reaped every other
    /// process in it (`zap_pid_ns_processes`), so once Docker reports it stopped no process of
    /// the session runs, and every socket it had is closed with it (a listener stops listening;
    /// an open connection is closed, its remains in the kernel unreachable). Its filesystem is
    /// its own layer (unused until removed), and the files shared through the holder are
    /// read-only (`Holder.sharedFiles`). The namespace's interfaces, addresses and routes
    /// change only with NET_ADMIN, which `netns.reuse > 1` refuses.
    ///
    /// A kill that fails (the daemon did not say the container stopped) discards the holder.
    private func stopThenRemove(_ id: String, on daemon: Int, handingBack holder: Holder, to pool: HolderPool) {
        pool.returning(holder)
        removalsInFlight += 1
        removing.insert(id)
        daemons[daemon].engine.kill(id) { [self] result in
            removalsInFlight -= 1
            var stopped = true
            if case let .failure(error) = result {
                stopped = false
                logger.warning("cannot stop a session's container in a network holder: holder discarded", metadata: [
                    "daemon": "\(daemons[daemon].name)", "container": "\(id.prefix(12))", "error": "\(error)",
                ])
            }
            releaseHolder(holder, clean: stopped)
            removeContainer(id, on: daemon) { [self] in send(.slotFreed(daemon: daemon)) }
        }
    }

    /// Removes a container that holds a slot but no holder (warm pool entries).
    func disposeContainer(_ id: String, on daemon: Int) {
        dispose(daemon: daemon, id: id, holder: nil, clean: false)
    }

    func holderJoined(_ holder: LaunchMachine.HolderRef) {
        guard let lent = lentHolders[holder.containerID] else { return }
        holderPool(of: lent)?.joined()
    }

    func releaseHolder(_ holder: Holder, clean: Bool) {
        guard let pool = holderPool(of: holder) else {
            return removeContainer(holder.containerID, on: holder.daemon) {}
        }
        pool.release(holder, clean: clean)
    }

    /// The pool `holder` came from; nil once no service's pool owns it (a reload removed its
    /// service).
    func holderPool(of holder: Holder) -> HolderPool? {
        services.first { $0.holders.owns(holder) }?.holders
    }

    /// `DELETE /containers/{id}?force=true`, off the client's path; retried while the daemon
    /// fails, so a container is never forgotten.
    func removeContainer(_ id: String, on daemon: Int, attempt: Int = 1, then done: @escaping () -> Void) {
        removalsInFlight += 1
        removing.insert(id)
        daemons[daemon].engine.remove(id) { [self] result in
            removalsInFlight -= 1
            switch result {
            case .success:
                removing.remove(id)
                done()
                // Shutdown may be waiting on exactly this removal (holders, pool, strays).
                checkDrained()
            case let .failure(error):
                // Each attempt at debug; the removal given up, through a digest: a daemon gone
                // with every session's container to remove wrote five error lines for each.
                logger.debug("cannot remove container", metadata: [
                    "daemon": "\(daemons[daemon].name)", "container": "\(DockerID.short(id))", "error": "\(error)", "attempt": "\(attempt)",
                ])
                guard attempt < 5, !daemons[daemon].givenUpAtShutdown, let reactor else {
                    // Given up for now: retried after the next ping it answers
                    // (`retryRemovals`), or reconciled when it comes back from down.
                    logRemovalGivenUp(daemon: daemons[daemon].name, container: DockerID.short(id), error: "\(error)", attempts: attempt)
                    removing.remove(id)
                    daemons[daemon].unremoved.insert(id)
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
    func daemonFailed(_ daemon: Int, _ failure: LaunchMachine.CallFailure) {
        daemons[daemon].lastError = "docker \(daemons[daemon].name): \(failure.message)"
        if failure.isTimeout && !daemons[daemon].degraded {
            daemons[daemon].degraded = true
            logger.warning("daemon degraded: a launch's call got no answer in time", metadata: [
                "daemon": "\(daemons[daemon].name)", "error": "\(failure.message)",
            ])
        }
        if failure.isTransport { markDown(daemon, failure.message) }
    }

    func checkDrained() {
        guard draining, sessions.isEmpty, removalsInFlight == 0, lifecycle.abandoned.isEmpty,
              let onDrained else { return }
        self.onDrained = nil
        onDrained()
    }
}

/// gethostname(2); "" when it fails.
func currentHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
