import EventLoop
import Glibc
import Logging

/// One client connection's life: queued → a container launched (or taken warm from the pool)
/// → relayed → the container removed. The supervisor owns every session; a session asks it for
/// Docker calls and to dispose of containers, and tells it when it ends.
final class Session {
    enum Phase: String {
        case queued, launching, relaying, over
    }

    let id: UInt64
    let service: ServiceRuntime
    /// The service's settings when this client arrived: a reload (SIGHUP) changes what later
    /// sessions get, never this one.
    let settings: ServiceConfig
    let peer: SocketAddress
    private unowned let supervisor: Supervisor
    private var client: FileDescriptorBox?
    private let clientFD: CInt
    private var watch: Registration?
    private(set) var phase: Phase = .queued
    private(set) var launch: Launch?
    /// The container this session owns once launched or taken from the pool (with its slot).
    private(set) var daemon: Int?
    private(set) var containerID: String?
    private(set) var warm = false
    /// The network holder this session's container joined (fast path).
    private var holder: Holder?
    /// A pooled container may serve more sessions: handed back to the pool instead of removed.
    private var pooled: PooledContainer?
    private var relay: Relay?
    private var limitTimer: TimerID?
    private var queueTimer: TimerID?
    /// Where this session waits in its service's queue (while queued).
    var queueTicket: WaitQueue<Session>.Ticket?

    /// Bytes the client sent before its container was ready: delivered first (bounded).
    private var prelude: [UInt8] = []
    static let preludeLimit = 64 << 10
    /// The client sent its FIN before its container was ready.
    private var clientSentFIN = false

    let acceptedAt: UInt64
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
        self.client = FileDescriptorBox(client)
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
        // Past the FIN there is nothing left to read; only a reset (above) is news.
        guard !clientSentFIN else { return }
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
                // A FIN from a queued client: a client that closed its socket and one that only
                // shut its sending side (`nc -N`, a request then a half-close) look the same.
                // By default it keeps its place and is served, as HAProxy does without
                // `option abortonclose`; the relay passes the FIN on. `queue.abort_on_close`
                // makes it leave at once instead. A reset is noticed either way (above).
                clientSentFIN = true
                if phase == .queued && settings.queue.abortOnClose { return finish("client left while queued") }
                if phase != .queued, let watch {
                    supervisor.reactor?.deregister(watch)
                    self.watch = nil
                }
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

    /// A slot on `daemon` is ours: launch a container for this client.
    func admitted(on daemon: Int, reactor: Reactor) {
        cancelQueueTimer(reactor)
        phase = .launching
        let holder = settings.netns.mode == .holder ? service.holders.take(on: daemon) : nil
        launch = Launch(supervisor: supervisor, settings: settings, client: peer, daemon: daemon, now: acceptedAt,
                        holder: holder) { [unowned self] result in
            launch = nil
            switch result {
            case let .success(ready):
                self.daemon = ready.daemon
                containerID = ready.containerID
                self.holder = ready.holder
                if settings.netns.mode == .holder { service.holders.served(throughHolder: ready.holder != nil) }
                guard let socket = ready.socket.take() else { return finish("service socket lost") }
                startRelay(socket)
            case let .failure(failure):
                // Between a daemon's death and the next health ping, placement may still pick
                // it: a client a healthy daemon could serve is placed again, within its budget.
                if failure.placeAgain, let reactor = supervisor.reactor,
                   reactor.now < acceptedAt &+ settings.ready.timeout.nanoseconds {
                    return supervisor.readmit(self)
                }
                finish(failure.reason)
            }
        }
    }

    /// A warm container from the pool is ours (with its slot and its open service connection).
    func adopt(_ container: PooledContainer, reactor: Reactor) {
        cancelQueueTimer(reactor)
        daemon = container.daemon
        containerID = container.containerID
        warm = true
        pooled = container
        guard let socket = container.socket.take() else { return finish("pooled connection lost") }
        startRelay(socket)
    }

    private func cancelQueueTimer(_ reactor: Reactor) {
        if let queueTimer { reactor.cancel(queueTimer) }
        queueTimer = nil
    }

    // MARK: Relay

    private func startRelay(_ serviceSocket: consuming FileDescriptor) {
        guard let reactor = supervisor.reactor, let client = client?.take() else { return serviceSocket.close() }
        if let watch { reactor.deregister(watch) }
        watch = nil
        phase = .relaying
        var header: [UInt8] = []
        if settings.clientAddress == .proxyV1 || settings.clientAddress == .proxyV2, let local = try? Socket.localAddress(clientFD) {
            header = settings.clientAddress == .proxyV1
                ? ProxyHeader.v1(source: peer, destination: local) : ProxyHeader.v2(source: peer, destination: local)
        }
        let limits = settings.session
        let options = Relay.Options(idleTimeout: limits.idleTimeout > .zero ? limits.idleTimeout : nil, prelude: header + prelude)
        prelude = []
        do {
            relay = try Relay(reactor: reactor, pool: supervisor.pipes, client: client, service: serviceSocket,
                              options: options) { [unowned self] relay, reason in
                relayEnded(relay, reason)
            }
        } catch {
            return finish("relay failed: \(error)")
        }
        if limits.maxDuration > .zero {
            limitTimer = reactor.schedule(after: limits.maxDuration) { [unowned self] in
                limitTimer = nil
                relay?.close("max duration")
            }
        }
    }

    private func relayEnded(_ relay: Relay, _ reason: Relay.CloseReason) {
        guard let reactor = supervisor.reactor else { return }
        let ttfb = relay.firstByteToClientAt.map { Double($0 &- acceptedAt) / 1e9 }
        logger.info("session end", metadata: [
            "service": "\(settings.name)", "client": "\(peer)", "daemon": "\(daemon.map { supervisor.docker($0).name } ?? "")",
            "container": "\(containerID?.prefix(12) ?? "")", "warm": "\(warm)", "ttfb_s": "\(ttfb.map { String($0) } ?? "-")",
            "duration_s": "\(Double(reactor.now &- acceptedAt) / 1e9)", "bytes_in": "\(relay.bytesToService)",
            "bytes_out": "\(relay.bytesToClient)", "reason": "\(reason)", "container_state": "\(containerNote ?? "-")",
        ])
        // One reason for the log's close count, the status page and /status.json alike.
        let ended = containerNote.map { "\(reason) (container: \($0))" } ?? "\(reason)"
        supervisor.relayEnded(self, relay: relay, reason: ended)
        finish(ended, logged: true)
    }

    /// Docker reported this session's container dead. While launching: replaced at once.
    /// Relayed: the service socket is closing anyway; the relay delivers what is left.
    func containerDied(exitCode: Int, oom: Bool) {
        launch?.containerDied(exitCode: exitCode, oom: oom)
    }

    /// Ends the session now (owner's request: shutdown, limits).
    func close(_ why: String) {
        if let relay { relay.close(why) } else { finish(why) }
    }

    // MARK: End

    /// Gives up the container and its slot: what to remove (or hand back to the pool), or nil.
    func surrenderContainer() -> (daemon: Int, id: String?, pooled: PooledContainer?, holder: Holder?)? {
        guard let daemon else { return nil }
        defer {
            self.daemon = nil
            containerID = nil
            pooled = nil
            holder = nil
        }
        return (daemon, containerID, pooled, holder)
    }

    /// Ends the session: the client is closed (if still ours), a launch in progress cancelled
    /// (it removes what it made), the container handed to the supervisor. Idempotent.
    func finish(_ reason: String, logged: Bool = false) {
        guard !isOver else { return }
        let previous = phase
        phase = .over
        closeReason = reason
        if let reactor = supervisor.reactor {
            if let watch { reactor.deregister(watch) }
            for timer in [limitTimer, queueTimer].compactMap({ $0 }) { reactor.cancel(timer) }
        }
        watch = nil
        limitTimer = nil
        queueTimer = nil
        launch?.cancel()
        launch = nil
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
