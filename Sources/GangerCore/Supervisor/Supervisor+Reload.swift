import EventLoop
import Logging

extension Supervisor {
    /// Applies a new configuration (SIGHUP), whole or not at all: sessions that arrive from now
    /// on use it; sessions already running keep the settings they started with. Services are
    /// matched by name: a changed one takes the new settings (and another listener if its
    /// address changed), a new one starts listening, a removed one stops accepting while its
    /// sessions finish. Daemons, the instance name and `relay` are fixed for the life of the
    /// process: changing them needs a restart, and a reload that tries is refused.
    ///
    /// Two steps. First every socket the new configuration needs is bound (`ListenerPlan`: kept,
    /// handed over from another service, or bound afresh) while nothing is closed and no service
    /// is touched; a failure there drops the new sockets and changes nothing. Then the commit,
    /// which cannot fail, moves the sockets, applies the settings and closes what nobody took.
    public func reload(_ new: GangerConfig) -> Result<[String], StartupError> {
        if let refusal = reloadRefusal(new) { return .failure(refusal) }
        guard let reactor else { return .failure(StartupError(description: "shutting down")) }
        let runtimes = new.services.map { settings in
            services.first { $0.config.name == settings.name } ?? ServiceRuntime(config: settings, index: 0, host: self)
        }
        let plan = ListenerPlan(
            current: services.compactMap { service in
                service.listener.map { .init(service: service.config.name, asked: service.config.listen, bound: HostPort($0.address)) }
            },
            new: new.services.map { ($0.name, $0.listen) })
        let fresh: [String: Listener]
        do {
            fresh = try bindNewListeners(plan, for: runtimes, reactor: reactor)
        } catch {
            return .failure(error)
        }
        return .success(commit(new, runtimes: runtimes, plan: plan, fresh: fresh))
    }

    /// Why `new` cannot be applied now, whatever its sockets and images: nil when it can.
    func reloadRefusal(_ new: GangerConfig) -> StartupError? {
        guard reactor != nil, !draining else { return StartupError(description: "shutting down") }
        guard donor == nil else { return StartupError(description: "a takeover is in progress: send SIGHUP again once it is over") }
        guard services.allSatisfy({ $0.listener != nil }) else {
            return StartupError(description: "still starting (the services do not listen yet): send SIGHUP again once they do")
        }
        guard new.instance == config.instance else {
            return StartupError(description: "instance cannot change on reload (restart instead)")
        }
        guard new.daemons.map(\.url) == config.daemons.map(\.url), new.consul == config.consul else {
            return StartupError(description: "daemons cannot change on reload (restart instead)")
        }
        guard new.relay == config.relay else {
            return StartupError(description: "relay cannot change on reload (restart instead)")
        }
        return nil
    }

    /// The services of `new` whose image must be made present before it is applied: a new
    /// service, an image that changed, and with `pull: always` every one (the same tag may
    /// name a newer image now: a reload is how an operator asks for it).
    func imagesToPrepare(_ new: GangerConfig) -> [ServiceConfig] {
        new.services.filter { settings in
            settings.pull == .always || !services.contains { $0.config.name == settings.name && $0.config.image == settings.image }
        }
    }

    /// The services of `new` whose network is looked up before it is applied: a new service, a
    /// changed network, and changed sandbox settings (whether its sessions reach each other
    /// matters only to a sandboxed service).
    func networksToPrepare(_ new: GangerConfig) -> [ServiceConfig] {
        new.services.filter { settings in
            !services.contains { $0.config.name == settings.name && $0.config.network == settings.network && $0.config.sandbox == settings.sandbox }
        }
    }

    /// The daemons a reload readies images on: in use, and contacted. One down now, or never
    /// contacted since startup, readies every image when it answers again (`prepareDaemons`).
    var reloadDaemons: [Int] {
        placement.daemons.indices.filter { placement.daemons[$0].healthy && !daemons[$0].down && daemons[$0].client.apiVersion != nil }
    }

    /// Binds the sockets `plan` asks for afresh, each accepting for its runtime. On a failure
    /// the ones already bound are closed (dropped with the dictionary) and the error names the
    /// address, the service and the errno text, and this ganger's own socket in the way if any.
    private func bindNewListeners(_ plan: ListenerPlan, for runtimes: [ServiceRuntime],
                                  reactor: Reactor) throws(StartupError) -> [String: Listener] {
        var fresh: [String: Listener] = [:]
        for (assignment, runtime) in zip(plan.assignments, runtimes) {
            guard case let .bind(address) = assignment.source else { continue }
            do {
                fresh[assignment.service] = try openListener(address, for: runtime, reactor: reactor)
            } catch {
                guard let holder = plan.holder(of: address) else { throw error }
                throw StartupError(description: error.description + " (service \(holder.service) listens on \(holder.bound) "
                    + "until the reload commits, and a reload closes a socket only after binding every new one)")
            }
        }
        return fresh
    }

    /// The second half of a reload: every new socket is bound, and nothing here can fail.
    /// Returns the changes, one line each, for the log.
    private func commit(_ new: GangerConfig, runtimes: [ServiceRuntime], plan: ListenerPlan, fresh: [String: Listener]) -> [String] {
        var open: [String: Listener] = [:]
        for service in services {
            open[service.config.name] = service.listener
            service.listener = nil
        }
        var changes: [String] = []
        for ((assignment, runtime), settings) in zip(zip(plan.assignments, runtimes), new.services) {
            var via: String?
            switch assignment.source {
            case .keep:
                runtime.listener = open.removeValue(forKey: assignment.service)
            case let .handOver(from):
                let listener = open.removeValue(forKey: from)
                listener?.handOver(to: acceptHandler(for: runtime))
                runtime.listener = listener
                via = "the socket of service \(from) handed over"
            case .bind:
                runtime.listener = fresh[assignment.service]
            }
            let moved = runtime.address != runtime.listener?.address
            runtime.address = runtime.listener?.address
            guard services.contains(where: { $0 === runtime }) else {
                changes.append("service \(settings.name) added on \(runtime.address!)" + (via.map { " (\($0))" } ?? ""))
                continue
            }
            guard runtime.config != settings else { continue }
            runtime.config = settings
            // Warm containers and holders were made with the old settings: new sessions must
            // not get them. They are replaced (refilled below).
            runtime.pool.drain()
            runtime.holders.drain()
            changes.append("service \(settings.name) updated" + (moved ? " (now on \(runtime.address!)" + (via.map { ", \($0)" } ?? "") + ")" : ""))
        }
        // The sockets nobody took (plan.closed): removed services, and addresses left behind.
        for listener in open.values { listener.close() }
        for old in services where !runtimes.contains(where: { $0 === old }) {
            old.pool.drain()
            old.holders.drain()
            changes.append("service \(old.config.name) removed (its running sessions finish)")
        }
        for (index, daemon) in new.daemons.enumerated() where placement.daemons[index].capacity != daemon.maxContainers {
            control { $0.setCapacity(index, daemon.maxContainers, now: $1) }
            changes.append("daemon \(daemon.url) max_containers \(daemon.maxContainers)")
        }
        if new.launchWindow != config.launchWindow {
            // A new controller per daemon: the old one's learnt window and baseline are dropped.
            control { $0.setLaunchWindow(new.launchWindow?.template, now: $1) }
            changes.append(new.launchWindow.map { "launch_window \($0.minimum)...\($0.maximum)" } ?? "launch_window off")
        }
        // The scheduler keeps each kept service's queue and counts under its new index; clients
        // queued for a removed service are closed.
        let previous = runtimes.map { runtime in services.firstIndex { $0 === runtime } }
        services = runtimes.enumerated().map { index, runtime in runtime.reindexed(index) }
        config = new
        control { $0.reconfigure(policies: new.services.map(Scheduler.Policy.init), previous: previous, now: $1) }
        for service in services where service.config.netns.mode != .holder { service.holders.drain() }
        let up = placement.daemons.indices.filter { placement.daemons[$0].healthy }
        preparePauseImage(on: up) { [weak self] _ in
            for service in self?.services ?? [] { service.holders.refill() }
        }
        return changes
    }

    /// Opens `service`'s listener on its configured address and records its bound address.
    /// A socket systemd passed under the service's name is adopted instead (socket activation).
    func listen(_ service: ServiceRuntime, reactor: Reactor) throws(StartupError) {
        if let passed = passedSockets?.take(service.config.name) {
            do {
                service.listener = try Listener(reactor: reactor, adopting: passed, onAccept: acceptHandler(for: service))
            } catch {
                throw StartupError(description: "cannot accept on the socket systemd passed for service \(service.config.name): \(error)")
            }
            service.address = service.listener?.address
            logger.info("socket activation: listening on the passed socket", metadata: [
                "service": "\(service.config.name)", "address": "\(service.address!)",
            ])
            return
        }
        service.listener = try openListener(service.config.listen, for: service, reactor: reactor)
        service.address = service.listener?.address
    }

    /// A listening socket on `listen` whose clients go to `service`.
    func openListener(_ listen: HostPort, for service: ServiceRuntime, reactor: Reactor) throws(StartupError) -> Listener {
        do {
            let address = try SocketAddress(host: listen.host, port: listen.port)
            return try Listener(reactor: reactor, address: address, onAccept: acceptHandler(for: service))
        } catch {
            throw StartupError(description: "cannot listen on \(listen) for service \(service.config.name): \(error)")
        }
    }

    func acceptHandler(for service: ServiceRuntime) -> Listener.AcceptHandler {
        { [unowned self, unowned service] client, peer in accepted(client, peer: peer, service: service) }
    }
}

extension HostPort {
    /// The address a socket is bound to, as a configuration would write it.
    init(_ address: SocketAddress) {
        self.init(host: address.host, port: address.port ?? 0)
    }
}
