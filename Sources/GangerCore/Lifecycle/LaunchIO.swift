import EventLoop
import Glibc

/// What a launch's I/O needs from the process around it: the reactor, the daemons' clients,
/// how a daemon reaches a container's port, and the network holders. The supervisor provides it.
protocol LaunchEnvironment: AnyObject {
    var reactor: Reactor? { get }
    var instance: String { get }
    /// This process's boot id, labelled on every container it makes.
    var boot: String { get }
    func engine(_ daemon: Int) -> any Engine
    func publishesPorts(_ daemon: Int) -> Bool
    /// The daemon host's address a container's port is published on; nil = not published.
    func publishHostIP(_ daemon: Int) -> String?
    func serviceAddress(_ info: ContainerInspect, daemon: Int, port: UInt16, network: String) -> SocketAddress?
    /// A container name no other container of this process has: a create whose answer is lost
    /// can then still be removed by name.
    func nextContainerName() -> String
    /// Whether `daemon` answered a call recently (busy, not gone).
    func answeredRecently(_ daemon: Int) -> Bool
    /// A ready network holder of `service` on `daemon`, now lent to the caller, or nil: at
    /// once, or within `netns.return_wait` when one is on its way back.
    func takeHolder(service: String, daemon: Int, _ done: @escaping (LaunchMachine.HolderRef?) -> Void)
    /// A holder `takeHolder` gave that was not used (the launch ended while it waited).
    func giveBackUnused(_ holder: LaunchMachine.HolderRef)
}

/// Carries out a `LaunchMachine`'s I/O actions on the reactor — the Docker calls, the probe's
/// connect and the settle watch — and reports each outcome as an event with the generation the
/// action carried. The owner handles the rest (slots, timers, disposal, outcome).
///
/// Owns at most one probe connection; on success the owner takes it (`takeSocket`).
final class LaunchIO {
    private unowned let environment: any LaunchEnvironment
    let settings: ServiceConfig
    private let client: SocketAddress?
    /// Where outcomes go; nil once the owner detached (a Docker call still out keeps this object
    /// alive until it answers, and its answer then goes nowhere).
    private var deliver: ((_ generation: Int, _ event: LaunchMachine.Event) -> Void)?
    private var connector: Connector?
    /// The daemon of the container it works on (its last create), for the probe's connect.
    private var daemon: Int?
    /// The connected probe socket: settling, or ready for the owner.
    private var socket: FileDescriptorBox?
    private var watch: Registration?
    private var timer: TimerID?

    init(environment: any LaunchEnvironment, settings: ServiceConfig, client: SocketAddress?,
         deliver: @escaping (_ generation: Int, _ event: LaunchMachine.Event) -> Void) {
        self.environment = environment
        self.settings = settings
        self.client = client
        self.deliver = deliver
    }

    /// A failed call as the machine sees it. A call that timed out on a daemon that still answers
    /// others is busy, not gone: not a transport failure (it would mark the daemon down and send
    /// the client elsewhere while the daemon works through its backlog).
    private func failure(_ error: DockerError, daemon: Int) -> LaunchMachine.CallFailure {
        let busy = error.isTimeout && environment.answeredRecently(daemon)
        return LaunchMachine.CallFailure(message: error.message, isTransport: error.isTransport && !busy, isTimeout: error.isTimeout,
                                         isRefusal: error.isRefusal)
    }

    /// Performs `action` if it is I/O; returns false for the owner's actions.
    func perform(_ action: LaunchMachine.Action, generation: Int) -> Bool {
        switch action {
        case let .create(daemon, joinHolder, timeout):
            self.daemon = daemon
            create(on: daemon, joinHolder: joinHolder, timeout: timeout, generation: generation)
        case let .start(daemon, id, timeout):
            environment.engine(daemon).start(id, timeout: timeout) { [self] result in
                switch result {
                case .success: deliver?(generation, .started)
                case let .failure(error): deliver?(generation, .startFailed(failure(error, daemon: daemon)))
                }
            }
        case let .locate(daemon, id, timeout):
            inspect(daemon, id, timeout: timeout, generation: generation) { .located($0) } failed: { .locateFailed($0) }
        case let .recheck(daemon, id):
            // Only a definite "not running" matters between probes; a failed inspect is ignored.
            inspect(daemon, id, timeout: nil, generation: generation) { .rechecked($0) } failed: { _ in nil }
        case let .connect(address, timeout):
            connect(address, timeout: timeout, generation: generation)
        case .settle:
            settle(generation: generation)
        case .stopWaiting:
            stop()
        default:
            return false
        }
        return true
    }

    /// The connected service socket, now the caller's (after `.succeeded`).
    func takeSocket() -> FileDescriptor? {
        unwatch()
        return socket?.take()
    }

    /// The owner is done with this launch: outcomes still to come are dropped.
    func detach() {
        stop()
        deliver = nil
    }

    /// Drops every outstanding connect, watch and timer, and the probe socket.
    func stop() {
        connector?.cancel()
        connector = nil
        unwatch()
        socket?.take()?.close()
        socket = nil
    }

    private func create(on daemon: Int, joinHolder: Bool, timeout: Duration, generation: Int) {
        guard joinHolder else { return create(on: daemon, holder: nil, timeout: timeout, generation: generation) }
        environment.takeHolder(service: settings.name, daemon: daemon) { [self] holder in
            // Detached while waiting for a holder on its way back: nothing to create.
            guard deliver != nil else {
                if let holder { environment.giveBackUnused(holder) }
                return
            }
            create(on: daemon, holder: holder, timeout: timeout, generation: generation)
        }
    }

    private func create(on daemon: Int, holder: LaunchMachine.HolderRef?, timeout: Duration, generation: Int) {
        var spec = ContainerSpec.session(service: settings, instance: environment.instance, client: client,
                                         publish: environment.publishHostIP(daemon),
                                         logDriver: environment.engine(daemon).logDriver)
        spec.labels[GangerLabels.boot] = environment.boot
        if let holder {
            // Docker refuses exposed or published ports in another container's namespace: the
            // holder already publishes them.
            spec.hostConfig.networkMode = "container:\(holder.containerID)"
            spec.exposedPorts = [:]
            spec.hostConfig.portBindings = nil
            // A reused holder's /etc/hosts, /etc/hostname and /etc/resolv.conf read-only.
            if !holder.sharedFiles.isEmpty { spec.hostConfig.mounts = holder.sharedFiles }
        }
        // Named, so that a create whose answer never came (a timeout, a reset: dockerd may have
        // made the container all the same) can be removed by name before the slot is given
        // back; otherwise such a container is Ganger's but nobody's, until a shutdown sweep.
        // The launch learns of the failure at once and disposes of that name itself: its client
        // does not wait for the removal (on a daemon that stopped answering, another timeout).
        let name = environment.nextContainerName()
        // Strong: the answer must reach the owner even after it cancelled, or the container leaks.
        environment.engine(daemon).create(spec, name: name, timeout: timeout) { [self] result in
            switch result {
            case let .success(id):
                deliver?(generation, .created(id: id, holder: holder))
            case let .failure(error):
                deliver?(generation, .createFailed(failure(error, daemon: daemon), holder: holder,
                                                   maybeMade: error.isTransport ? name : nil))
            }
        }
    }

    private func inspect(_ daemon: Int, _ id: String, timeout: Duration?, generation: Int, found: @escaping (LaunchMachine.Inspection) -> LaunchMachine.Event,
                         failed: @escaping (LaunchMachine.CallFailure) -> LaunchMachine.Event?) {
        let settings = settings
        environment.engine(daemon).inspect(id, timeout: timeout) { [self] result in
            switch result {
            case let .success(info):
                let address = environment.serviceAddress(info, daemon: daemon, port: settings.port, network: settings.network)
                deliver?(generation, found(.init(address: address, running: info.state.running, exitCode: info.state.exitCode,
                                                oomKilled: info.state.oomKilled)))
            case let .failure(error):
                if let event = failed(failure(error, daemon: daemon)) { deliver?(generation, event) }
            }
        }
    }

    private func connect(_ address: SocketAddress, timeout: Duration, generation: Int) {
        guard let reactor = environment.reactor else { return }
        // A local daemon's container is on a bridge of this host: the probe, which becomes the
        // relay's socket, must reach it directly or not at all. With that bridge down the
        // address is routed through the default gateway instead, and a client was relayed to
        // whatever answered there (seen by hand). A remote daemon's published port may well be
        // behind a gateway.
        let directOnly = daemon.map { !environment.publishesPorts($0) } ?? false
        connector = Connector.connect(reactor: reactor, to: address, timeout: timeout, directOnly: directOnly) { [weak self] result in
            guard let self else { return }
            connector = nil
            switch consume result {
            case let .connected(fd):
                socket = FileDescriptorBox(fd)
                deliver?(generation, .connected)
            case let .failed(error):
                if directOnly, case let .system(cause) = error.reason, cause.errno == ENETUNREACH {
                    deliver?(generation, .unreachable("\(error)"))
                } else {
                    deliver?(generation, .connectFailed("\(error)"))
                }
            }
        }
    }

    // Readiness through a published port. The daemon's proxy (docker-proxy, or podman's) accepts
    // the connection itself, before the container's service listens; it then dials the
    // container, and when that is refused it closes the connection it accepted. A connect that
    // succeeds is therefore no proof there: the connection counts once it has lived
    // `publishedSettle` without a hang-up, or has brought bytes (a service that speaks first).
    private func settle(generation: Int) {
        guard let reactor = environment.reactor, let fd = socket?.rawValue else { return deliver?(generation, .settled(hungUp: true)) ?? () }
        let settled = { [weak self] (hungUp: Bool) in
            guard let self, watch != nil || timer != nil else { return }
            unwatch()
            if hungUp { socket?.take()?.close() }
            deliver?(generation, .settled(hungUp: hungUp))
        }
        timer = reactor.schedule(after: Self.publishedSettle) { settled(false) }
        do {
            watch = try reactor.register(fd, interest: [.readable, .readHangup]) { events in
                // Bytes alone prove a service; a hang-up or an error is the proxy giving up.
                settled(!events.intersection([.readHangup, .hangup, .error]).isEmpty)
            }
        } catch {
            settled(false)
        }
    }

    /// The proxy's refusal comes back within a round trip to the daemon's host plus its own
    /// (local) dial; this much more cold-start time is the price on published ports only.
    static let publishedSettle = Duration.milliseconds(50)

    private func unwatch() {
        if let watch { environment.reactor?.deregister(watch) }
        if let timer { environment.reactor?.cancel(timer) }
        watch = nil
        timer = nil
    }
}
