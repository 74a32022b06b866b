import EventLoop
import Logging

/// A warm container: started, its service answering, and a connection to it already open, so
/// a client that takes it is relayed at once (no Docker call, no connect on its path).
final class PooledContainer {
    let daemon: Int
    let containerID: String
    let address: SocketAddress
    let socket: FileDescriptorBox
    /// Sessions it has served; with `pool.reuse` > 1 it goes back to the pool until the limit.
    var served = 0
    fileprivate var watch: Registration?
    /// Serving a session after which it comes back (`pool.reuse`): counted toward `pool.warm`.
    fileprivate var onLoan = false
    /// The pool's generation when it joined: a reload drains the pool and bumps it, so a
    /// container lent out before the reload (made with the old settings) is not taken back.
    fileprivate var generation = 0

    init(daemon: Int, containerID: String, address: SocketAddress, socket: FileDescriptorBox) {
        self.daemon = daemon
        self.containerID = containerID
        self.address = address
        self.socket = socket
    }
}

/// Keeps `pool.warm` ready containers for one service, placed by the scheduler and counted
/// against the daemons' caps. A client takes one at once and a replacement starts in the
/// background. Refilling never competes with waiting clients: while any client is queued,
/// free slots go to clients. Failures back off (1 s doubling to 30 s). A pooled container
/// whose service hangs up its idle connection, or that dies, is removed and replaced.
final class WarmPool {
    private unowned let host: any PoolHost
    private unowned let service: ServiceRuntime
    private var ready: [PooledContainer] = []
    private var launches: [ObjectIdentifier: Launch] = [:]
    private let backoff = RefillBackoff()
    /// Containers serving a session that will come back to the pool (`pool.reuse` > 1). They
    /// count toward `pool.warm`: none is started in their place while they serve, or a reused
    /// pool would grow past its size after every session.
    private var onLoan = 0
    /// Bumped by `drain()` (reload, shutdown): older containers are not taken back.
    private var generation = 0

    init(host: any PoolHost, service: ServiceRuntime) {
        self.host = host
        self.service = service
    }

    var readyCount: Int { ready.count }
    /// Containers this pool holds (ready or launching), for reconciliation.
    var containerIDs: Set<String> {
        Set(ready.map(\.containerID) + launches.values.compactMap(\.containerID))
    }
    var startingCount: Int { launches.count }
    private var target: Int { host.draining ? 0 : service.config.pool.warm }

    /// The oldest ready container, now the caller's (slot included); a replacement is started.
    func take() -> PooledContainer? {
        guard !ready.isEmpty else { return nil }
        let container = ready.removeFirst()
        unwatch(container)
        if PoolPolicy.lends(served: container.served, reuse: service.config.pool.reuse) {
            container.onLoan = true
            onLoan += 1
        } else {
            host.reactor?.soon { [weak self] in self?.refill() }
        }
        return container
    }

    /// Starts launches until ready + starting reaches `pool.warm`, while slots are free and no
    /// client waits.
    func refill() {
        guard !backoff.isWaiting, let reactor = host.reactor else { return }
        var wanted = PoolPolicy.wanted(target: target, ready: ready.count, starting: launches.count, onLoan: onLoan)
        while wanted > 0, let daemon = host.acquireForPool(service: service.index) {
            wanted -= 1
            let box = LaunchBox()
            let launch = Launch(owner: host, settings: service.config, daemon: daemon, now: reactor.now) {
                [unowned self] result in
                launches.removeValue(forKey: ObjectIdentifier(box))
                switch result {
                case let .success(up):
                    backoff.succeeded()
                    add(PooledContainer(daemon: up.daemon, containerID: up.containerID, address: up.address, socket: up.socket))
                case let .failure(failure):
                    host.logger.warning("warm pool: launch failed", metadata: ["service": "\(service.config.name)", "reason": "\(failure.reason)"])
                    // Docker there refused it: the service is held off that daemon, for the
                    // pool's next launches and for its clients' (`LaunchBreaker`).
                    if let refused = failure.refused { host.launchRefused(service: service.index, daemon: refused.daemon, error: refused.error) }
                    backoff.failed(on: host.reactor) { [weak self] in self?.refill() }
                }
            }
            box.launch = launch
            if !launch.isDone { launches[ObjectIdentifier(box)] = launch }
        }
    }

    private func add(_ container: PooledContainer) {
        guard !host.draining, let reactor = host.reactor, let fd = container.socket.rawValue else {
            return discard(container)
        }
        // The idle connection is watched: a service that closes it (or a container that dies)
        // makes the entry worthless.
        container.watch = try? reactor.register(fd, interest: [.readHangup]) { [unowned self, unowned container] events in
            if !events.intersection([.readHangup, .hangup, .error]).isEmpty { lost(container, "service closed its idle connection") }
        }
        container.generation = generation
        ready.append(container)
        // A client may be waiting for exactly this.
        host.send(.warmAdded(service: service.index))
    }

    /// A session ended on `container`: back to the pool if it may serve again (a new
    /// connection to its service, checked like a launch), otherwise removed.
    func giveBack(_ container: PooledContainer) {
        container.served += 1
        let next = PoolPolicy.afterSession(served: container.served, reuse: service.config.pool.reuse, clean: true,
                                           current: container.generation == generation && !host.draining)
        guard next == .serveAgain, let reactor = host.reactor else {
            endLoan(container)
            discard(container)
            return refill()
        }
        // Still on loan until the new connection is up: no replacement starts meanwhile.
        // Directly or not at all on a local daemon, as `LaunchIO`'s probe.
        Connector.connect(reactor: reactor, to: container.address, timeout: service.config.ready.timeout,
                          directOnly: !host.publishesPorts(container.daemon)) { [self] result in
            endLoan(container)
            switch consume result {
            case let .connected(socket):
                guard container.generation == generation else {
                    // A reload drained the pool while this connection was being made.
                    socket.close()
                    discard(container)
                    return refill()
                }
                add(PooledContainer(daemon: container.daemon, containerID: container.containerID, address: container.address,
                                    socket: FileDescriptorBox(socket)).counting(container.served))
            case .failed:
                discard(container)
                refill()
            }
        }
    }

    private func endLoan(_ container: PooledContainer) {
        guard container.onLoan else { return }
        container.onLoan = false
        onLoan -= 1
    }

    /// The scheduler needs this pool's slot for a client of another service (`.evictWarm`): the
    /// oldest ready container is removed, and its slot goes to the queue once it is gone. The
    /// scheduler already took it off its count. No refill: pools refill only while nobody waits.
    func evict() {
        guard !ready.isEmpty else { return }
        let container = ready.removeFirst()
        host.logger.notice("warm pool: container removed for a waiting client", metadata: [
            "service": "\(service.config.name)", "container": "\(container.containerID.prefix(12))",
        ])
        discard(container)
    }

    /// Docker reported `id` dead: a launch replaces it, a ready entry is dropped.
    func containerDied(_ id: String, exitCode: Int, oom: Bool) -> Bool {
        if let launch = launches.values.first(where: { $0.containerID == id }) {
            launch.containerDied(exitCode: exitCode, oom: oom)
            return true
        }
        if let container = ready.first(where: { $0.containerID == id }) {
            lost(container, "container died (exit code \(exitCode))")
            return true
        }
        return false
    }

    /// Shutdown: stop launching, remove every pooled container.
    func drain() {
        generation += 1
        backoff.cancel(on: host.reactor)
        for launch in launches.values { launch.cancel() }
        launches.removeAll()
        for container in ready {
            host.send(.warmRemoved(service: service.index))
            discard(container)
        }
        ready.removeAll()
    }

    private func lost(_ container: PooledContainer, _ why: String) {
        guard let index = ready.firstIndex(where: { $0 === container }) else { return }
        ready.remove(at: index)
        host.send(.warmRemoved(service: service.index))
        host.logger.notice("warm pool: container dropped", metadata: [
            "service": "\(service.config.name)", "container": "\(container.containerID.prefix(12))", "reason": "\(why)",
        ])
        discard(container)
        refill()
    }

    private func discard(_ container: PooledContainer) {
        unwatch(container)
        container.socket.take()?.close()
        host.disposeContainer(container.containerID, on: container.daemon)
    }

    private func unwatch(_ container: PooledContainer) {
        if let watch = container.watch { host.reactor?.deregister(watch) }
        container.watch = nil
    }
}

/// Lets a launch's completion find its own entry before `Launch.init` has returned.
private final class LaunchBox {
    var launch: Launch?
}

extension PooledContainer {
    fileprivate func counting(_ served: Int) -> PooledContainer {
        self.served = served
        return self
    }
}
