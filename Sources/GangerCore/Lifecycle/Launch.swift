import EventLoop
import Logging

/// Brings one container up until its service accepts a connection: create → start → find its
/// address → connect, retrying within the readiness budget and replacing a container that
/// exits before it serves. Used for a client's cold start and to fill the warm pool.
///
/// Slot and container ownership: the launch holds a placement slot from the start. On success
/// it hands the slot, the container id and the connected service socket to the caller, who
/// must dispose of the container later. On failure or cancel, it removes whatever it created
/// and frees the slot itself. A create call still in flight at cancel time is finished first,
/// and its container removed, so nothing leaks.
final class Launch {
    struct Success {
        let daemon: Int
        let containerID: String
        let address: SocketAddress
        let socket: FileDescriptorBox
        /// The network holder the container joined (fast path), to release after removal.
        let holder: Holder?
    }

    unowned let supervisor: Supervisor
    let settings: ServiceConfig
    private let client: SocketAddress?
    private var completion: ((Result<Success, LaunchFailure>) -> Void)?
    private(set) var daemon: Int?
    private(set) var containerID: String?
    private var createInFlight = false
    private var connector: Connector?
    private var timer: TimerID?
    private(set) var attempts = 0
    private let deadline: UInt64
    private(set) var isProbing = false
    /// Fast path: the container joins this holder's network namespace.
    private var holder: Holder?
    /// A connection to a published port waiting out `publishedSettle` (Launch+Settle.swift).
    var settling: Settling?

    var logger: Logger { supervisor.logger }
    var isDone: Bool { completion == nil }

    /// Starts at once on `daemon` (a slot the caller acquired and now hands over).
    init(supervisor: Supervisor, settings: ServiceConfig, client: SocketAddress?, daemon: Int, now: UInt64,
         holder: Holder? = nil, completion: @escaping (Result<Success, LaunchFailure>) -> Void) {
        self.supervisor = supervisor
        self.holder = holder
        self.settings = settings
        self.client = client
        self.completion = completion
        deadline = now &+ settings.ready.timeout.nanoseconds
        create(on: daemon)
    }

    /// Abandons the launch; what it created is removed and its slot freed. No completion.
    func cancel() {
        guard completion != nil else { return }
        completion = nil
        stopWaiting()
        releaseContainer()
    }

    /// Docker reported this launch's container dead (events stream): replace it at once.
    func containerDied(exitCode: Int, oom: Bool) {
        guard isProbing else { return }
        replace(.init(status: "exited", running: false, exitCode: exitCode, oomKilled: oom))
    }

    // MARK: Steps

    private func create(on daemon: Int) {
        self.daemon = daemon
        var spec = ContainerSpec.session(service: settings, instance: supervisor.instance, client: client,
                                         publish: supervisor.publishesPorts(daemon))
        if let holder {
            // Docker refuses exposed or published ports in another container's namespace: the
            // holder already publishes them.
            spec.hostConfig.networkMode = "container:\(holder.containerID)"
            spec.exposedPorts = [:]
            spec.hostConfig.portBindings = nil
        }
        createInFlight = true
        supervisor.docker(daemon).create(spec) { [self] result in
            createInFlight = false
            switch result {
            case let .success(id):
                containerID = id
                // Cancelled meanwhile: the container exists now, so remove it.
                if isDone { return releaseContainer() }
                start(id)
            case let .failure(error):
                supervisor.daemonFailed(daemon, error)
                if isDone { return releaseContainer() }
                // No answer (the daemon is now marked down) and no container exists: the caller
                // may place the client on another daemon instead of closing it.
                fail("create failed: \(error.message)", placeAgain: error.isTransport)
            }
        }
    }

    private func start(_ id: String) {
        guard let daemon else { return }
        supervisor.docker(daemon).start(id) { [self] result in
            guard !isDone, containerID == id else { return }
            switch result {
            case .success:
                if let holder {
                    supervisor.holderJoined(holder)
                    // The holder's address is known already: no inspect on this path.
                    isProbing = true
                    probe(holder.address)
                } else {
                    locate(id)
                }
            case let .failure(error):
                supervisor.daemonFailed(daemon, error)
                // Docker picks a published host port from its own bookkeeping, not from what is
                // bound on the host: another process (or another dockerd on that host) may hold it.
                // A fresh container gets another port.
                if supervisor.publishesPorts(daemon), !error.isTransport, error.message.contains("address already in use")
                    || error.message.contains("port is already allocated") {
                    logger.notice("published port taken on the daemon's host: a fresh container", metadata: [
                        "service": "\(settings.name)", "daemon": "\(supervisor.docker(daemon).name)", "error": "\(error.message)",
                    ])
                    attempts += 1  // no probe counts this one
                    return retryFresh("start failed: \(error.message)")
                }
                fail("start failed: \(error.message)")
            }
        }
    }

    /// The container's IP on its network (local daemon) or its published port on the daemon's
    /// host (remote daemon).
    private func locate(_ id: String) {
        guard let daemon else { return }
        supervisor.docker(daemon).inspect(id) { [self] result in
            guard !isDone, containerID == id else { return }
            switch result {
            case let .success(info):
                guard let address = supervisor.serviceAddress(info, daemon: daemon, port: settings.port, network: settings.network) else {
                    if !info.state.running { return replace(info.state) }
                    return fail("container \(id.prefix(12)) has no address on network \(settings.network)")
                }
                isProbing = true
                probe(address)
            case let .failure(error):
                fail("inspect failed: \(error.message)")
            }
        }
    }

    /// Connects until the service answers, starting at once (no fixed sleep).
    private func probe(_ address: SocketAddress) {
        guard let reactor = supervisor.reactor, !isDone else { return }
        attempts += 1
        let remaining = deadline > reactor.now ? deadline - reactor.now : 0
        guard remaining > 0 else { return fail("not ready within \(settings.ready.timeout)") }
        let connectTimeout = Duration.nanoseconds(Int64(min(remaining, 2_000_000_000)))
        let id = containerID
        connector = Connector.connect(reactor: reactor, to: address, timeout: connectTimeout) { [self] result in
            connector = nil
            guard !isDone, containerID == id else { return }
            switch consume result {
            case let .connected(socket):
                if let daemon, supervisor.publishesPorts(daemon) { return settle(address: address, socket: socket) }
                succeed(address: address, socket: socket)
            case let .failed(error):
                guard attempts < settings.ready.attempts else {
                    return fail("not ready after \(attempts) attempts (\(error))")
                }
                recheck(address)
            }
        }
    }

    /// Waits before the next attempt; meanwhile asks Docker whether the container still runs
    /// and replaces it at once if not.
    func recheck(_ address: SocketAddress) {
        guard let daemon, let id = containerID, let reactor = supervisor.reactor else { return }
        supervisor.docker(daemon).inspect(id) { [self] result in
            guard !isDone, containerID == id, case let .success(info) = result, !info.state.running else { return }
            replace(info.state)
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

    /// The container exited before it served: remove it and try a fresh one within the budget.
    private func replace(_ state: ContainerInspect.State) {
        stopWaiting()
        logger.warning("container exited before it served", metadata: [
            "service": "\(settings.name)", "container": "\(containerID?.prefix(12) ?? "")",
            "exit_code": "\(state.exitCode)", "oom": "\(state.oomKilled)",
        ])
        retryFresh("container exited before it served (exit code \(state.exitCode)\(state.oomKilled ? ", out of memory" : ""))")
    }

    /// Removes this launch's container and creates a fresh one (placed anew) within the
    /// readiness budget; past it, or with no capacity, the launch fails with `reason`.
    private func retryFresh(_ reason: String) {
        guard let reactor = supervisor.reactor else { return }
        guard attempts < settings.ready.attempts, reactor.now < deadline else { return fail(reason) }
        releaseContainer()
        // A holder whose service could not come up (its port still busy, say) is not trusted
        // again: the retry takes the normal path.
        releaseHolder(clean: false)
        guard let next = supervisor.placement.acquire() else { return fail(reason + "; no capacity to retry") }
        create(on: next)
    }

    // MARK: Endings

    func succeed(address: SocketAddress, socket: consuming FileDescriptor) {
        guard let daemon, let containerID, let completion else { return socket.close() }
        self.completion = nil
        isProbing = false
        // Ownership of slot and container passes to the caller.
        self.daemon = nil
        self.containerID = nil
        let holder = self.holder
        self.holder = nil
        completion(.success(Success(daemon: daemon, containerID: containerID, address: address,
                                    socket: FileDescriptorBox(socket), holder: holder)))
    }

    func fail(_ reason: String, placeAgain: Bool = false) {
        guard let completion else { return }
        self.completion = nil
        stopWaiting()
        releaseContainer()
        completion(.failure(LaunchFailure(reason: reason, placeAgain: placeAgain)))
    }

    private func stopWaiting() {
        isProbing = false
        if let timer { supervisor.reactor?.cancel(timer) }
        timer = nil
        connector?.cancel()
        connector = nil
        stopSettling()
    }

    /// Removes the container (if any) and frees the slot, unless a create call is still out:
    /// its completion comes back here. A holder goes back once the container is gone.
    private func releaseContainer() {
        guard !createInFlight, let daemon else { return }
        self.daemon = nil
        let id = containerID
        containerID = nil
        let holder = self.holder
        self.holder = nil
        supervisor.disposeContainer(id, on: daemon, holder: holder, clean: false)
    }

    private func releaseHolder(clean: Bool) {
        guard let holder else { return }
        self.holder = nil
        supervisor.releaseHolder(holder, clean: clean)
    }
}

/// Why a launch gave up, in words for the log and the status page.
struct LaunchFailure: Error {
    let reason: String
    /// Nothing was created because the daemon did not answer: another daemon may serve.
    var placeAgain = false
}
