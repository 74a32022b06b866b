import EventLoop
import Glibc
import Logging

/// The new process's part of a takeover (`ganger run --takeover`; TakeoverHeir.swift drives the
/// protocol): what it checks and binds before `ready`, and what it installs after `commit`.
extension Supervisor {
    /// Takes the running instance over instead of starting it afresh: no leftovers are removed
    /// (they are the live sessions' containers). `done` gets the services' addresses, or why not.
    func takeOver(on up: [Int], _ done: @escaping (Result<[(service: String, address: SocketAddress)], StartupError>) -> Void) {
        guard let reactor else { return }
        let crashAt = Int(getenv("GANGER_TAKEOVER_CRASH_AT").map { String(cString: $0) } ?? "")
        var prepared: Inheritance?
        do {
            heir = try TakeoverHeir(supervisor: self, reactor: reactor, path: config.controlSocketPath, crashAt: crashAt,
                                    prepare: { [unowned self] inheritance, answer in
                                        prepared = inheritance
                                        prepareInheritance(inheritance, on: up, answer)
                                    },
                                    completion: { [unowned self] result in
                                        switch result {
                                        case let .success(inheritance):
                                            done(.success(install(inheritance)))
                                        case let .failure(error):
                                            heir = nil
                                            abandonInheritance(prepared) { done(.failure(StartupError(description: "takeover: \(error)"))) }
                                        }
                                    })
        } catch {
            done(.failure(StartupError(description: "takeover: \(error)")))
        }
        heir?.predecessorGone = { [weak self] in self?.predecessorGone() }
    }

    /// Before `ready`: every session's service and daemon known here, every socket the new
    /// configuration needs and was not handed bound (paused), this process's leases held.
    private func prepareInheritance(_ inheritance: Inheritance, on up: [Int], _ answer: @escaping (String?) -> Void) {
        guard let reactor else { return answer("no reactor") }
        let state = inheritance.state
        logger.notice("takeover: received", metadata: [
            "pid": "\(state.pid)", "sessions": "\(inheritance.sessions.count)", "listeners": "\(state.listeners.count)",
        ])
        for (entry, _) in inheritance.sessions {
            guard let service = services.firstIndex(where: { $0.config.name == entry.service }) else {
                return answer("service \(entry.service) of a live session is not in the new configuration")
            }
            guard let daemon = daemons.firstIndex(where: { $0.name == entry.daemon }) else {
                return answer("daemon \(entry.daemon) of a live session is not in the new configuration")
            }
            inheritance.placements[entry.id] = (service, daemon)
        }
        let plan = ListenerPlan(
            current: state.listeners.compactMap { entry in
                guard let asked = try? HostPort.parseListen(entry.asked), let bound = try? HostPort.parseListen(entry.bound) else { return nil }
                return .init(service: entry.service, asked: asked, bound: bound)
            },
            new: services.map { ($0.config.name, $0.config.listen) })
        inheritance.plan = plan
        do throws(StartupError) {
            for (assignment, service) in zip(plan.assignments, services) {
                guard case let .bind(address) = assignment.source else { continue }
                let listener = try openListener(address, for: service, reactor: reactor)
                listener.pause()
                inheritance.fresh[assignment.service] = listener
            }
            if !(state.status && state.statusListen == config.status.listen.description) {
                let listen = config.status.listen
                do {
                    inheritance.freshStatus = try StatusServer(reactor: reactor, address: try SocketAddress(host: listen.host, port: listen.port),
                                                               maxConnectionsPerAddress: config.status.maxConnectionsPerAddress) { [unowned self] in snapshot() }
                } catch {
                    throw StartupError(description: "cannot listen on \(listen) for the status page: \(error)")
                }
            }
        } catch {
            return answer(error.description)
        }
        predecessorBoot = state.boot
        acquireLeases(on: up, answer)
    }

    /// A takeover that failed before `commit`: what was bound and the leases taken go; the old
    /// process serves on.
    private func abandonInheritance(_ inheritance: Inheritance?, _ done: @escaping () -> Void) {
        if let inheritance { for listener in inheritance.fresh.values { listener.close() } }
        inheritance?.freshStatus?.close()
        releaseLeases(done)
    }

    /// After `commit`: the sockets accept here, the sessions relay here.
    private func install(_ inheritance: Inheritance) -> [(service: String, address: SocketAddress)] {
        guard let reactor, let plan = inheritance.plan else { return [] }
        let state = inheritance.state
        var handed: [String: FileDescriptorBox] = [:]
        for (entry, box) in zip(state.listeners, inheritance.listeners) { handed[entry.service] = box }
        for (assignment, service) in zip(plan.assignments, services) {
            switch assignment.source {
            case .keep:
                service.listener = adopt(handed.removeValue(forKey: assignment.service), for: service, reactor: reactor)
            case let .handOver(from):
                service.listener = adopt(handed.removeValue(forKey: from), for: service, reactor: reactor)
            case .bind:
                service.listener = inheritance.fresh[assignment.service]
                try? service.listener?.resume()
            }
            service.address = service.listener?.address
        }
        for box in handed.values { box.close() }  // addresses the new configuration left
        if let fresh = inheritance.freshStatus {
            statusServer = fresh
            inheritance.status?.close()
        } else if let socket = inheritance.status?.take() {
            statusServer = try? StatusServer(reactor: reactor, adopting: socket,
                                             maxConnectionsPerAddress: config.status.maxConnectionsPerAddress) { [unowned self] in snapshot() }
        }
        if let socket = inheritance.control?.take() {
            controlListener = try? Listener(reactor: reactor, adopting: socket) { [unowned self] client, _ in controlAccepted(client) }
            controlPath = config.controlSocketPath
        }
        for counters in state.counters {
            guard let service = services.first(where: { $0.config.name == counters.service }) else { continue }
            service.sessionsTotal += counters.sessionsTotal
            service.sessionsMax = max(service.sessionsMax, counters.sessionsMax)
            service.bytesIn += counters.bytesIn
            service.bytesOut += counters.bytesOut
            service.refusedQueueFull += counters.refusedQueueFull
            service.queueTimeouts += counters.queueTimeouts
            service.refusedPerSource += counters.refusedPerSource
            // By category, as counted here: a reason this build does not count (another
            // version's) goes under `other`, so /metrics gets no series from the old process.
            for (reason, count) in counters.endReasons {
                service.closeReasons[(EndCategory(rawValue: reason) ?? .other).rawValue, default: 0] += count
            }
        }
        for (entry, descriptors) in inheritance.sessions { inheritSession(entry, descriptors, inheritance.placements[entry.id]!) }
        control { _, _ in [] }  // arms the timer of the sessions' max_duration deadlines
        logger.notice("took over", metadata: [
            "from_pid": "\(state.pid)", "sessions": "\(inheritance.sessions.count)", "listeners": "\(state.listeners.count)",
        ])
        return services.compactMap { service in service.address.map { (service.config.name, $0) } }
    }

    private func adopt(_ box: FileDescriptorBox?, for service: ServiceRuntime, reactor: Reactor) -> Listener? {
        guard let socket = box?.take() else { return nil }
        do {
            return try Listener(reactor: reactor, adopting: socket, onAccept: acceptHandler(for: service))
        } catch {
            logger.error("cannot accept on a handed-over socket", metadata: ["service": "\(service.config.name)", "error": "\(error)"])
            return nil
        }
    }

    private func inheritSession(_ entry: TakeoverSession, _ descriptors: [FileDescriptorBox], _ placement: (service: Int, daemon: Int)) {
        guard let reactor else { return }
        let service = services[placement.service]
        let peer = (try? SocketAddress(parsing: entry.peer)) ?? .unix(path: entry.peer)
        let session = Session(inheriting: entry.id, service: service, peer: peer, acceptedAt: entry.acceptedAt, reactor: reactor)
        let holder = entry.holder.flatMap { holder in
            (try? SocketAddress(parsing: holder.address)).map { LaunchMachine.HolderRef(containerID: holder.containerID, address: $0) }
        }
        if let holder {
            lentHolders[holder.containerID] = Holder(daemon: placement.daemon, containerID: holder.containerID, address: holder.address)
        }
        nextSessionID = max(nextSessionID, entry.id + 1)
        sessions[entry.id] = session
        service.sessionsCurrent += 1
        service.sessionsMax = max(service.sessionsMax, service.sessionsCurrent)
        // A container that was warm there goes when its session ends: this pool never had it.
        lifecycle.inherit(entry.id, service: placement.service, source: entry.source, acceptedAt: entry.acceptedAt,
                          settings: .init(service.config),
                          container: .init(daemon: placement.daemon, id: entry.containerID, holder: holder, warm: false),
                          relayDeadline: entry.relayDeadline)
        let limits = service.config.session
        let id = entry.id
        do {
            let relay = try Relay(reactor: reactor, pool: pipes, resuming: entry.relay, descriptors: descriptors,
                                  options: .init(idleTimeout: limits.idleTimeout > .zero ? limits.idleTimeout : nil)) { [weak self] relay, reason in
                self?.relayEnded(id, relay, reason)
            }
            session.adoptRelay(relay, daemon: placement.daemon, containerID: entry.containerID)
        } catch {
            logger.error("cannot resume a session taken over", metadata: ["client": "\(peer)", "error": "\(error)"])
            send(.relayEnded(id, reason: "takeover: \(error)"))
        }
    }

    /// The old process is gone: the pools start (only now, so the daemons' caps hold while its
    /// idle containers are removed), and whatever it left that no session here owns is removed
    /// (found by its boot id).
    func predecessorGone() {
        heir = nil
        logger.notice("the previous process exited")
        for service in services {
            service.pool.refill()
            service.holders.refill()
        }
        guard let predecessor = predecessorBoot else { return }
        let known = heldContainers
        for index in daemons.indices where daemons[index].leaseID != nil {
            daemons[index].engine.list(labels: GangerLabels.filters(instance: instance) + ["\(GangerLabels.boot)=\(predecessor)"]) { [self] result in
                guard case let .success(containers) = result else { return }
                for container in containers where !known.contains(container.id) && !removing.contains(container.id) {
                    removeContainer(container.id, on: index) {}
                }
            }
        }
    }
}
