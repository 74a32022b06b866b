public import EventLoop
import Logging

extension Supervisor {
    /// Brings Ganger up: every daemon pinged and its API version negotiated, every service's
    /// image present on every daemon (per its pull policy), this instance's leftovers from an
    /// earlier run removed, then the listeners opened. `ready` gets each service's bound
    /// address; `failed` gets a message naming what is wrong and where (exit 2).
    ///
    /// With `takeover`, the instance is taken over from the Ganger running it (its control
    /// socket): its listening sockets and live sessions come from there instead of being
    /// bound and started (Supervisor+Inherit.swift); nothing of the instance is removed.
    public func start(takeover: Bool = false, ready: @escaping ([(service: String, address: SocketAddress)]) -> Void,
                      failed: @escaping (String) -> Void) {
        raiseDescriptorLimit()
        if let problem = relayHandOffProblem() { return failed(problem) }
        discoverDaemons(failed: failed) { [self] in contactDaemons { [self] up in
            guard !up.isEmpty else { return failed(noDaemonMessage()) }
            prepareDaemons(up) { [self] error in
                if let error { return failed(error) }
                if takeover {
                    return takeOver(on: up) { [self] result in
                        switch result {
                        case let .success(bound): serve(bound, refill: false, ready: ready)
                        case let .failure(error): failed(error.description)
                        }
                    }
                }
                acquireLeases(on: up) { [self] error in
                if let error { return failed(error) }
                removeLeftovers(on: up) { [self] in
                    do throws(StartupError) {
                        let bound = try openListeners()
                        try openStatusListener()
                        serve(bound, refill: true, ready: ready)
                    } catch {
                        failed(error.description)
                    }
                }
                }
            }
        } }
    }

    /// A large buffer this process could not hand over in a takeover (nil when copying is off).
    private func relayHandOffProblem() -> String? {
        guard config.relay.largeBuffers > 0 else { return nil }
        do {
            return config.relay.handOffProblem(grantedPipeSize: try pipes.largeBuffers.grantedPipeSize())
        } catch {
            return "cannot make a pipe for the relay's large buffers: \(error)"
        }
    }

    /// The listeners are open: health checks, events, lease renewal, discovery, the control
    /// socket and the pools start (the pools after a takeover wait for the old process to go).
    private func serve(_ bound: [(service: String, address: SocketAddress)], refill: Bool,
                       ready: ([(service: String, address: SocketAddress)]) -> Void) {
        startHealthChecks()
        startEventStreams()
        startLeaseRenewal()
        followDiscovery()
        if controlListener == nil { openControlSocket() }
        if refill {
            for service in services {
                service.pool.refill()
                service.holders.refill()
            }
        }
        ready(bound)
        systemd?.ready(status: serviceManagerStatus)
        if let reactor { systemd?.start(reactor: reactor) { [weak self] in self?.serviceManagerStatus ?? "" } }
    }

    private func contactDaemons(_ done: @escaping ([Int]) -> Void) {
        var up: [Int] = []
        let join = Join(daemons.count) { done(up.sorted()) }
        for (index, daemon) in daemons.enumerated() {
            daemon.engine.negotiate(timeout: config.contactTimeout) { [self] result in
                switch result {
                case let .success(version):
                    logger.info("daemon up", metadata: ["daemon": "\(daemon.name)", "api": "\(daemon.client.apiVersion ?? version)"])
                    up.append(index)
                case let .failure(error):
                    logger.error("daemon does not answer", metadata: ["daemon": "\(daemon.name)", "error": "\(error)"])
                    daemon.lastError = error.description
                    daemon.down = true
                    control { $0.setHealthy(index, false, now: $1) }
                }
                join.leave()
            }
        }
    }

    /// Why the startup stops when no daemon answered: each daemon with its error (which says
    /// what to do when a socket refused this user: `DockerError.transport`).
    func noDaemonMessage() -> String {
        "no Docker daemon answers: " + daemons.map { "\($0.name) (\($0.lastError ?? "no answer"))" }.joined(separator: ", ")
    }

    /// Applies the pull policy of each of `settings` on each daemon, all in parallel; `done`
    /// gets the first problem, or nil once every image is present everywhere.
    func prepareImages(_ settings: [ServiceConfig], on up: [Int], _ done: @escaping (String?) -> Void) {
        var firstError: String?
        let join = Join(settings.count * up.count) { done(firstError) }
        for service in settings {
            for index in up {
                let daemon = daemons[index]
                let image = service.image
                let fail = { (message: String) in
                    if firstError == nil { firstError = message }
                    join.leave()
                }
                let pull = { [self] in
                    logger.info("pulling image", metadata: ["image": "\(image)", "daemon": "\(daemon.name)"])
                    daemon.engine.pull(image, timeout: config.pullTimeout, stall: config.pullProgressTimeout, progress: { [self] line in
                        logger.debug("pull", metadata: ["image": "\(image)", "daemon": "\(daemon.name)", "progress": "\(line)"])
                    }, completion: { [self] result in
                        switch result {
                        case .success:
                            logger.info("image pulled", metadata: ["image": "\(image)", "daemon": "\(daemon.name)"])
                            join.leave()
                        case let .failure(error):
                            fail("cannot pull image \(image) on daemon \(daemon.name): \(error.message)")
                        }
                    })
                }
                if service.pull == .always {
                    pull()
                    continue
                }
                daemon.engine.imageExists(image) { result in
                    switch result {
                    case .success(true):
                        join.leave()
                    case .success(false) where service.pull == .never:
                        fail("image \(image) not found on daemon \(daemon.name) (service \(service.name) has pull: never)")
                    case .success(false):
                        pull()
                    case let .failure(error):
                        fail("cannot inspect image \(image) on daemon \(daemon.name): \(error.message)")
                    }
                }
            }
        }
    }

    /// Readies daemons before they are used, at startup and for one that was not there then (it
    /// joined, or it answers again): each service's network looked up (`prepareNetworks`), each
    /// service's image per its pull policy, then the holders' image. A daemon that was frozen or
    /// stopped while Ganger started never had its images checked; one restarted on a fresh data
    /// root lost them; without this it was used all the same, and every create there was
    /// refused (`No such image`) until its launches were held off for good.
    func prepareDaemons(_ indices: [Int], _ done: @escaping (String?) -> Void) {
        let settings = services.map(\.config)
        prepareNetworks(settings, on: indices) { [self] error in
            if let error { return done(error) }
            prepareImages(settings, on: indices) { [self] error in
                if let error { return done(error) }
                preparePauseImage(on: indices) { [self] error in
                    if let error { return done(error) }
                    // A reload that changed an image or a network meanwhile readied the daemons
                    // in use, not these: ready them for the new ones too, or they would join
                    // without them.
                    let now = services.map(\.config)
                    guard now.map(\.image) == settings.map(\.image), now.map(\.network) == settings.map(\.network) else {
                        return prepareDaemons(indices, done)
                    }
                    done(nil)
                }
            }
        }
    }

    /// Imports the network holders' pause image (built in memory) on every daemon that lacks
    /// it, when any service uses `netns.mode: holder`.
    func preparePauseImage(on up: [Int], _ done: @escaping (String?) -> Void) {
        guard services.contains(where: { $0.config.netns.mode == .holder }) else { return done(nil) }
        var firstError: String?
        let join = Join(up.count) { done(firstError) }
        for index in up {
            let daemon = daemons[index]
            daemon.engine.imageExists(PauseImage.reference) { [self] result in
                if case .success(true) = result { return join.leave() }
                daemon.engine.importImage(PauseImage.rootfs, repository: PauseImage.repository, tag: PauseImage.tag,
                                   command: ["/pause"]) { [self] result in
                    switch result {
                    case .success:
                        logger.info("imported the network holders' image", metadata: ["image": "\(PauseImage.reference)", "daemon": "\(daemon.name)"])
                    case let .failure(error):
                        if firstError == nil { firstError = "cannot import \(PauseImage.reference) on daemon \(daemon.name): \(error.message)" }
                    }
                    join.leave()
                }
            }
        }
    }

    /// Removes every container labelled with this instance on `up` daemons: what a crashed or
    /// killed predecessor left behind.
    func removeLeftovers(on up: [Int], _ done: @escaping () -> Void) {
        let join = Join(up.count, done: done)
        for index in up {
            daemons[index].engine.list(labels: GangerLabels.filters(instance: instance)) { [self] result in
                guard case let .success(containers) = result, !containers.isEmpty else {
                    if case let .failure(error) = result {
                        logger.error("cannot list leftovers", metadata: ["daemon": "\(daemons[index].name)", "error": "\(error)"])
                    }
                    return join.leave()
                }
                logger.notice("removing leftover containers", metadata: [
                    "daemon": "\(daemons[index].name)", "count": "\(containers.count)",
                ])
                // Containers that joined a network holder go first, holders after them: a holder
                // removed while a container still shares its namespace leaves Docker tearing
                // down a sandbox whose namespace is gone.
                let holders = containers.filter { $0.labels[GangerLabels.role] == "holder" }
                let others = containers.filter { $0.labels[GangerLabels.role] != "holder" }
                let each = Join(containers.count) { join.leave() }
                let afterOthers = Join(others.count) { [self] in
                    for holder in holders { removeContainer(holder.id, on: index) { each.leave() } }
                }
                for container in others {
                    removeContainer(container.id, on: index) {
                        afterOthers.leave()
                        each.leave()
                    }
                }
            }
        }
    }

    /// The status page, /status.json, /metrics and /healthz on `status.listen`, or on the
    /// socket systemd passed named `status` (socket activation).
    private func openStatusListener() throws(StartupError) {
        guard let reactor else { return }
        let listen = config.status.listen
        do {
            if let passed = passedSockets?.take(Self.statusSocketName) {
                statusServer = try StatusServer(reactor: reactor, adopting: passed,
                                                maxConnectionsPerAddress: config.status.maxConnectionsPerAddress) { [unowned self] in snapshot() }
            } else {
                let address = try SocketAddress(host: listen.host, port: listen.port)
                statusServer = try StatusServer(reactor: reactor, address: address,
                                                maxConnectionsPerAddress: config.status.maxConnectionsPerAddress) { [unowned self] in snapshot() }
            }
        } catch {
            throw StartupError(description: "cannot listen on \(listen) for the status page: \(error)")
        }
        for name in passedSockets?.closeUnclaimed() ?? [] {
            logger.warning("socket activation: no service (nor status) is named like a passed socket; closed", metadata: ["name": "\(name)"])
        }
        logger.info("status page", metadata: ["address": "http://\(statusServer!.address)/"])
    }

    private func openListeners() throws(StartupError) -> [(service: String, address: SocketAddress)] {
        guard let reactor else { return [] }
        for service in services { try listen(service, reactor: reactor) }
        return services.map { ($0.config.name, $0.address!) }
    }
}

extension Supervisor {
    /// The name (`FileDescriptorName=`) of a passed socket for the status listener. Services
    /// are matched first: a service named `status` would take it.
    static let statusSocketName = "status"
}

/// A startup failure with a message naming what and where.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}
