import EventLoop
import Logging

extension Supervisor {
    /// Applies a new configuration (SIGHUP): sessions that arrive from now on use it; sessions
    /// already running keep the settings they started with. Services are matched by name: a
    /// changed one takes the new settings (and a new listener if its address changed), a new one
    /// starts listening, a removed one stops accepting while its sessions finish. Daemons and the
    /// instance name are fixed for the life of the process: changing them needs a restart, and
    /// a reload that tries is refused whole.
    public func reload(_ new: GangerConfig) -> Result<[String], StartupError> {
        guard let reactor, !draining else { return .failure(StartupError(description: "shutting down")) }
        guard new.instance == config.instance else {
            return .failure(StartupError(description: "instance cannot change on reload (restart instead)"))
        }
        guard new.daemons.map(\.url) == config.daemons.map(\.url), new.consul == config.consul else {
            return .failure(StartupError(description: "daemons cannot change on reload (restart instead)"))
        }
        var changes: [String] = []
        var kept: [ServiceRuntime] = []
        for settings in new.services {
            if let existing = services.first(where: { $0.config.name == settings.name }) {
                if existing.config != settings {
                    let moved = existing.config.listen != settings.listen
                    existing.config = settings
                    // Warm containers and holders were made with the old settings: new sessions
                    // must not get them. They are replaced (refilled below).
                    existing.pool.drain()
                    existing.holders.drain()
                    if moved {
                        existing.listener?.close()
                        existing.listener = nil
                        do {
                            try listen(existing, reactor: reactor)
                        } catch {
                            return .failure(error)
                        }
                    }
                    changes.append("service \(settings.name) updated" + (moved ? " (now on \(existing.address!))" : ""))
                }
                kept.append(existing)
            } else {
                let runtime = ServiceRuntime(config: settings, index: 0, supervisor: self)
                do {
                    try listen(runtime, reactor: reactor)
                } catch {
                    return .failure(error)
                }
                kept.append(runtime)
                changes.append("service \(settings.name) added on \(runtime.address!)")
            }
        }
        for old in services where !kept.contains(where: { $0 === old }) {
            old.listener?.close()
            old.listener = nil
            old.pool.drain()
            old.holders.drain()
            changes.append("service \(old.config.name) removed (its running sessions finish)")
        }
        for (index, daemon) in new.daemons.enumerated() where placement.daemons[index].capacity != daemon.maxContainers {
            control { $0.setCapacity(index, daemon.maxContainers, now: $1) }
            changes.append("daemon \(daemon.url) max_containers \(daemon.maxContainers)")
        }
        // The scheduler keeps each kept service's queue and counts under its new index; clients
        // queued for a removed service are closed.
        let previous = kept.map { runtime in services.firstIndex { $0 === runtime } }
        services = kept.enumerated().map { index, runtime in runtime.reindexed(index) }
        config = new
        control { $0.reconfigure(policies: new.services.map(Scheduler.Policy.init), previous: previous, now: $1) }
        for service in services where service.config.netns.mode != .holder { service.holders.drain() }
        let up = placement.daemons.indices.filter { placement.daemons[$0].healthy }
        preparePauseImage(on: up) { [weak self] _ in
            for service in self?.services ?? [] { service.holders.refill() }
        }
        return .success(changes)
    }

    /// Opens `service`'s listener and records its bound address.
    func listen(_ service: ServiceRuntime, reactor: Reactor) throws(StartupError) {
        let listen = service.config.listen
        do {
            let address = try SocketAddress(host: listen.host, port: listen.port)
            service.listener = try Listener(reactor: reactor, address: address) { [unowned self, unowned service] client, peer in
                accepted(client, peer: peer, service: service)
            }
        } catch {
            throw StartupError(description: "cannot listen on \(listen) for service \(service.config.name): \(error)")
        }
        service.address = service.listener?.address
    }
}
