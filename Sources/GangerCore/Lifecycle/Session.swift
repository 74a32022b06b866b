import EventLoop
import Glibc
import Logging

/// One client connection's life: queued → container created and started → ready → relayed →
/// container removed. The supervisor owns every session; a session asks it for a daemon, for
/// Docker calls and to dispose of containers, and tells it when it ends.
///
/// Every Docker completion first checks `isOver`: a client that left while a call was in flight
/// still gets any container that call produced removed, so nothing leaks on any path.
final class Session {
    enum Phase: String {
        case queued, creating, starting, probing, relaying, over
    }

    let id: UInt64
    let service: ServiceRuntime
    /// The service's settings when this client arrived: a reload (SIGHUP) changes what later
    /// sessions get, never this one.
    let settings: ServiceConfig
    let peer: SocketAddress
    private unowned let supervisor: Supervisor
    private var client: PendingClient?
    private let clientFD: CInt
    private var watch: Registration?
    private(set) var phase: Phase = .queued
    private(set) var daemon: Int?
    private(set) var containerID: String?
    private var relay: Relay?
    private var connector: Connector?
    private var timer: TimerID?
    private var limitTimer: TimerID?
    private var queueTimer: TimerID?

    /// Bytes the client sent before its container was ready: delivered first (bounded).
    private var prelude: [UInt8] = []
    static let preludeLimit = 64 << 10
    private var clientHalfClosed = false

    /// A create call is out: its completion owns the slot until it returns.
    private(set) var createInFlight = false
    private var attempts = 0
    private var readyDeadline: UInt64 = 0
    let acceptedAt: UInt64
    private(set) var relayStartedAt: UInt64?
    private(set) var closeReason = ""
    /// What Docker said of the container (exit code, OOM), added to the end reason.
    var containerNote: String?

    var isOver: Bool { phase == .over }
    var logger: Logger { supervisor.logger }

    init(id: UInt64, service: ServiceRuntime, client: consuming FileDescriptor, peer: SocketAddress,
         supervisor: Supervisor, now: UInt64) {
        self.id = id
        self.service = service
        settings = service.config
        self.peer = peer
        self.supervisor = supervisor
        clientFD = client.rawValue
        self.client = PendingClient(client)
        acceptedAt = now
    }

    // MARK: Waiting for a container

    /// Starts watching the client: early bytes are kept, a departure is noticed at once.
    func watchClient(reactor: Reactor) {
        watch = try? reactor.register(clientFD, interest: [.readable, .readHangup]) { [unowned self] events in
            clientEvent(events)
        }
    }

    /// Queued: closes the client if no container is free within `timeout`.
    func queued(timeout: Duration, reactor: Reactor) {
        phase = .queued
        if timeout > .zero {
            queueTimer = reactor.schedule(after: timeout) { [unowned self] in
                queueTimer = nil
                supervisor.queueTimedOut(self)
            }
        }
    }

    private func clientEvent(_ events: IOEvents) {
        guard !isOver, relay == nil else { return }
        if events.contains(.error), let code = try? Socket.pendingError(clientFD), code != 0 {
            return finish("client left (\(SyscallError("socket", errno: code)))")
        }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while prelude.count < Self.preludeLimit {
            let want = min(buffer.count, Self.preludeLimit - prelude.count)
            let result = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SyscallError) in try Socket.read(clientFD, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want])) }
            }
            switch result {
            case .success(.wouldBlock):
                return
            case .success(.processed(0)):
                // A queued client that hangs up leaves the queue. Once its container is being
                // made, a FIN is a half-close: what it sent still goes to the service.
                if phase == .queued { return finish("client left while queued") }
                clientHalfClosed = true
                if let watch { supervisor.reactor?.deregister(watch) }
                watch = nil
                return
            case let .success(.processed(n)):
                prelude += buffer[0..<n]
            case let .failure(error):
                return finish("client left (\(error))")
            }
        }
        // The prelude is full: leave the rest in the socket (backpressure) until the relay runs.
    }

    // MARK: Container

    /// A slot on `daemon` is ours: create, start, find the address, probe, relay.
    func admitted(on daemon: Int, reactor: Reactor) {
        if let queueTimer { reactor.cancel(queueTimer) }
        queueTimer = nil
        self.daemon = daemon
        if readyDeadline == 0 { readyDeadline = reactor.now &+ settings.ready.timeout.nanoseconds }
        phase = .creating
        let spec = ContainerSpec.session(service: service.config, instance: supervisor.instance, client: peer,
                                         publish: supervisor.publishesPorts(daemon))
        createInFlight = true
        supervisor.docker(daemon).create(spec) { [self] result in
            createInFlight = false
            switch result {
            case let .success(id):
                containerID = id
                // The client left meanwhile: the container exists now, so remove it.
                if isOver { return supervisor.dispose(self) }
                start(id)
            case let .failure(error):
                if isOver { return supervisor.releaseSlot(daemon) }
                logger.error("cannot create container", metadata: ["service": "\(settings.name)", "error": "\(error)"])
                supervisor.daemonFailed(daemon, error)
                // The daemon did not answer (now marked down) and no container exists: give its
                // slot back and place the client again (another daemon, or the queue), within
                // the readiness budget, instead of closing a client a healthy daemon could serve.
                if error.isTransport, reactor.now < readyDeadline {
                    self.daemon = nil
                    supervisor.placement.release(daemon)
                    return supervisor.readmit(self)
                }
                finish("create failed: \(error.message)")
            }
        }
    }

    private func start(_ id: String) {
        guard let daemon else { return }
        phase = .starting
        supervisor.docker(daemon).start(id) { [self] result in
            if isOver { return }
            switch result {
            case .success:
                locate(id)
            case let .failure(error):
                logger.error("cannot start container", metadata: ["container": "\(id.prefix(12))", "error": "\(error)"])
                supervisor.daemonFailed(daemon, error)
                finish("start failed: \(error.message)")
            }
        }
    }

    /// Learns where the service answers: the container's IP on its network (local daemon), or
    /// the published port on the daemon's host (remote daemon).
    private func locate(_ id: String) {
        guard let daemon else { return }
        supervisor.docker(daemon).inspect(id) { [self] result in
            if isOver { return }
            switch result {
            case let .success(info):
                guard let address = supervisor.serviceAddress(info, daemon: daemon, port: settings.port,
                                                              network: settings.network) else {
                    if !info.state.running { return retryOnFreshContainer(info) }
                    return finish("container \(id.prefix(12)) has no address on network \(settings.network)")
                }
                phase = .probing
                probe(address)
            case let .failure(error):
                finish("inspect failed: \(error.message)")
            }
        }
    }

    /// Connects to the service until it answers, within the readiness budget. Starts at once:
    /// no fixed sleep. A refused connect re-checks the container so one that exited is noticed
    /// early and replaced by a fresh one.
    private func probe(_ address: SocketAddress) {
        guard let reactor = supervisor.reactor, !isOver else { return }
        attempts += 1
        let remaining = readyDeadline > reactor.now ? readyDeadline - reactor.now : 0
        guard remaining > 0 else { return finish("not ready within \(settings.ready.timeout)") }
        let connectTimeout = Duration.nanoseconds(Int64(min(remaining, 2_000_000_000)))
        connector = Connector.connect(reactor: reactor, to: address, timeout: connectTimeout) { [self] result in
            connector = nil
            if isOver { return }
            switch consume result {
            case let .connected(service):
                startRelay(service)
            case let .failed(error):
                guard attempts < settings.ready.attempts else {
                    return finish("not ready after \(attempts) attempts (\(error))")
                }
                recheck(address)
            }
        }
    }

    /// After a failed attempt: wait `interval`, then try again; meanwhile ask Docker whether the
    /// container still runs, and replace it at once if it has exited.
    private func recheck(_ address: SocketAddress) {
        guard let daemon, let id = containerID, let reactor = supervisor.reactor else { return }
        supervisor.docker(daemon).inspect(id) { [self] result in
            guard !isOver, containerID == id, case let .success(info) = result, !info.state.running else { return }
            retryOnFreshContainer(info.state)
        }
        timer = reactor.schedule(after: Self.retryDelay(attempt: attempts, interval: settings.ready.interval)) { [self] in
            timer = nil
            probe(address)
        }
    }

    /// Retries start fast and double up to `interval`: a service usually binds its port a few
    /// milliseconds after its container starts, and a fixed 100 ms wait would double a cold
    /// start. (5 ms, 10, 20, 40, 80, then `interval`.)
    static func retryDelay(attempt: Int, interval: Duration) -> Duration {
        let fast = Duration.milliseconds(5) * (1 << min(max(attempt - 1, 0), 20))
        return min(fast, interval)
    }

    private func retryOnFreshContainer(_ info: ContainerInspect) { retryOnFreshContainer(info.state) }

    private func retryOnFreshContainer(_ state: ContainerInspect.State) {
        guard let reactor = supervisor.reactor else { return }
        if let timer { reactor.cancel(timer) }
        timer = nil
        connector?.cancel()
        connector = nil
        logger.warning("container exited before it served", metadata: [
            "service": "\(settings.name)", "container": "\(containerID?.prefix(12) ?? "")",
            "exit_code": "\(state.exitCode)", "oom": "\(state.oomKilled)",
        ])
        guard attempts < settings.ready.attempts, reactor.now < readyDeadline else {
            return finish("container exited before it served (exit code \(state.exitCode))")
        }
        // Free the old container and its slot, then take a slot for a fresh one.
        supervisor.dispose(self)
        guard let next = supervisor.placement.acquire() else {
            return finish("container exited before it served; no capacity to retry")
        }
        admitted(on: next, reactor: reactor)
    }

    // MARK: Relay

    private func startRelay(_ serviceSocket: consuming FileDescriptor) {
        guard let reactor = supervisor.reactor, let client = client?.take() else { return }
        if let watch { reactor.deregister(watch) }
        watch = nil
        phase = .relaying
        relayStartedAt = reactor.now
        let session = settings.session
        var header: [UInt8] = []
        if settings.clientAddress == .proxyV1 || settings.clientAddress == .proxyV2,
           let local = try? Socket.localAddress(clientFD) {
            header = settings.clientAddress == .proxyV1
                ? ProxyHeader.v1(source: peer, destination: local) : ProxyHeader.v2(source: peer, destination: local)
        }
        let options = Relay.Options(idleTimeout: session.idleTimeout > .zero ? session.idleTimeout : nil,
                                    prelude: header + prelude)
        prelude = []
        do {
            relay = try Relay(reactor: reactor, pool: supervisor.pipes, client: client, service: serviceSocket,
                              options: options) { [unowned self] relay, reason in
                relayEnded(relay, reason)
            }
        } catch {
            return finish("relay failed: \(error)")
        }
        // The client's FIN may have come while waiting; the relay reads it again as EOF.
        if session.maxDuration > .zero {
            limitTimer = reactor.schedule(after: session.maxDuration) { [unowned self] in
                limitTimer = nil
                relay?.close("max duration")
            }
        }
    }

    private func relayEnded(_ relay: Relay, _ reason: Relay.CloseReason) {
        guard let reactor = supervisor.reactor else { return }
        let ttfb = relay.firstByteToClientAt.map { Double($0 &- acceptedAt) / 1e9 }
        let duration = Double(reactor.now &- acceptedAt) / 1e9
        logger.info("session end", metadata: [
            "service": "\(settings.name)", "client": "\(peer)", "daemon": "\(supervisor.docker(daemon ?? 0).name)",
            "container": "\(containerID?.prefix(12) ?? "")", "ttfb_s": "\(ttfb.map { String($0) } ?? "-")",
            "duration_s": "\(duration)", "bytes_in": "\(relay.bytesToService)", "bytes_out": "\(relay.bytesToClient)",
            "reason": "\(reason)", "container_state": "\(containerNote ?? "-")",
        ])
        supervisor.relayEnded(self, relay: relay, reason: reason)
        finish(containerNote.map { "\(reason) (container: \($0))" } ?? "\(reason)", logged: true)
    }

    /// Docker reported the container dead. Waiting for readiness: replace it now. Relayed: the
    /// service socket is closing anyway; the relay delivers what is left and ends by itself.
    func containerDied(exitCode: Int) {
        // Only while probing: earlier, a start call is still out and its own answer decides.
        guard phase == .probing else { return }
        retryOnFreshContainer(.init(status: "exited", running: false, exitCode: exitCode, oomKilled: containerNote == "out of memory"))
    }

    /// Ends the session now (owner's request: shutdown, limits).
    func close(_ why: String) {
        if let relay { relay.close(why) } else { finish(why) }
    }

    /// Gives up the container and its slot for removal: what to remove, or nil if the session
    /// holds no slot. A create still in flight keeps them (its completion disposes).
    func surrenderContainer() -> (daemon: Int, id: String?)? {
        guard let daemon, !createInFlight else { return nil }
        defer {
            self.daemon = nil
            containerID = nil
        }
        return (daemon, containerID)
    }

    // MARK: End

    /// Ends the session: the client is closed (if still ours), pending work cancelled, the
    /// container (if any) handed to the supervisor for removal. Idempotent.
    func finish(_ reason: String, logged: Bool = false) {
        guard !isOver else { return }
        let previous = phase
        phase = .over
        closeReason = reason
        if let reactor = supervisor.reactor {
            if let watch { reactor.deregister(watch) }
            for timer in [timer, limitTimer, queueTimer].compactMap({ $0 }) { reactor.cancel(timer) }
        }
        watch = nil
        timer = nil
        limitTimer = nil
        queueTimer = nil
        connector?.cancel()
        connector = nil
        if let fd = client?.take() { fd.close() }
        client = nil
        if !logged && previous != .relaying {
            logger.notice("session closed before relay", metadata: [
                "service": "\(settings.name)", "client": "\(peer)", "phase": "\(previous.rawValue)", "reason": "\(reason)",
            ])
        }
        supervisor.sessionEnded(self, wasQueued: previous == .queued)
    }
}
