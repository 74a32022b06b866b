import EventLoop
import GangerCore

/// The sim driver: each action of the lifecycle and of a session's launch carried out against the
/// simulated engine, network, clients and pool, with the answer fed back as the real driver would.
extension SimWorld {
    func carry(_ actions: [Action]) {
        for action in actions {
            guard violation == nil else { return }
            if case .launch = action {} else { note("  action \(action)") }
            switch action {
            case let .launch(id, generation, launch):
                note("  launch \(id)#\(generation) \(launch)")
                carryLaunch(id, generation, launch)
            case let .takeWarm(id, service):
                admittedIfQueued(id)
                let pool = services.indices.contains(service) ? pools[services[service].uid] : nil
                if let pool, !pool.ready.isEmpty {
                    let taken = pool.ready.removeFirst()
                    if engine.container(taken.id, on: taken.daemon)?.running == true {
                        feedAtOnce(.warmTaken(id, daemon: taken.daemon, containerID: taken.id))
                    } else {
                        // Its death went unreported (a dropped event): the pool finds its
                        // connection closed, removes it and has nothing to give.
                        removeContainer(taken.id, on: taken.daemon)
                        feedAtOnce(.warmTaken(id, daemon: nil, containerID: ""))
                    }
                } else {
                    feedAtOnce(.warmTaken(id, daemon: nil, containerID: ""))
                }
            case let .startRelay(id):
                guard let client = clients[id] else { return fail("startRelay for unknown client \(id)") }
                startRelay(client)
            case let .closeRelay(id, why):
                guard let client = clients[id] else { return fail("closeRelay for unknown client \(id)") }
                endRelay(client, why, after: 0)
            case let .giveBackWarm(id, daemon, containerID):
                giveBack(clients[id]?.serviceUID ?? -1, daemon: daemon, containerID: containerID)
            case let .evictWarm(service):
                evict(service)
            case let .dispose(daemon, containerID, holder, clean):
                guard let containerID else { return fail("a session disposed of no container on daemon \(daemon)") }
                guard sessionSlot.removeValue(forKey: containerID) == daemon else {
                    return fail("dispose of \(containerID) on daemon \(daemon), which no session holds there")
                }
                if let holder { release(holder, on: daemon, clean: clean) }
                removeContainer(containerID, on: daemon)
            case let .ended(id, end):
                ended(id, end)
            case let .unclaimedDeath(containerID, _, oom):
                guard !oom else { break }
                poolContainerDied(containerID)
            case let .log(line):
                note("lifecycle: \(line.message) \(line.metadata.keys.sorted().map { "\($0)=\(line.metadata[$0]!)" }.joined(separator: " "))")
            }
        }
    }

    private func carryLaunch(_ id: UInt64, _ generation: Int, _ action: LaunchMachine.Action) {
        guard let client = clients[id] else { return fail("launch action for unknown client \(id)") }
        func answer(_ event: LaunchMachine.Event) { feed(.launch(id, generation: generation, event)) }
        switch action {
        case let .create(daemon, joinHolder, timeout):
            admittedIfQueued(id)
            if let held = launchSlot[id] {
                // The lifecycle gave that launch up (its daemon went down) with its create still
                // out, and placed the client again: the old slot is the abandoned launch's now.
                guard let key = lifecycle.abandoned.keys.first(where: { $0.client == id && abandonedSlot[$0] == nil }),
                      lifecycle.abandoned[key]?.daemon == held else {
                    return fail("client \(id) launches on daemon \(daemon) while holding a slot on \(held)")
                }
                if markedDown.contains(daemon) { return fail("client \(id) placed again on daemon \(daemon), which is down") }
                abandonedSlot[key] = held
                launchSlot[id] = nil
                inDocker[id] = nil
            }
            if let other = inDocker[id] { return fail("client \(id) creates on daemon \(daemon) while its launch on \(other) is still in Docker's part") }
            inDocker[id] = daemon
            if failedThisStep[id] == daemon { return fail("client \(id) placed again on daemon \(daemon), whose call just failed without an answer") }
            launchSlot[id] = daemon
            ledger[daemon] += 1
            let holder = joinHolder && rng.chance(0.7) ? holders[daemon].first { $0.user == nil } : nil
            holder?.user = ""
            let ref = holder?.ref
            engine.create(on: daemon, timeout: timeout.nanoseconds, name: "lost-\(id)-\(generation)") { [unowned self] result, orphan in
                switch result {
                case let .success(container):
                    if let holder {
                        holder.user = container.id
                        holderTargets[holder.ref.address] = container.id
                    }
                    answer(.created(id: container.id, holder: ref))
                case let .failure(failure):
                    // As `LaunchIO`: a create without an answer names what it may have made, and
                    // the launch disposes of that name (a container that was made stays counted
                    // until then; a name never made is "no such container").
                    guard failure.isTransport || failure.isTimeout else { return answer(.createFailed(failure, holder: ref)) }
                    answer(.createFailed(failure, holder: ref, maybeMade: orphan?.id ?? "lost-\(id)-\(generation)"))
                }
            }
        case let .start(daemon, containerID, timeout):
            engine.start(containerID, on: daemon, timeout: timeout.nanoseconds) { result in
                switch result {
                case .success: answer(.started)
                case let .failure(failure): answer(.startFailed(failure))
                }
            }
        case let .locate(daemon, containerID, _):
            leftDocker(id)
            engine.inspect(containerID, on: daemon) { result in
                switch result {
                case let .success(found): answer(.located(found))
                case let .failure(failure): answer(.locateFailed(failure))
                }
            }
        case let .recheck(daemon, containerID):
            engine.inspect(containerID, on: daemon) { [unowned self] result in
                switch result {
                case let .success(found): answer(.rechecked(found))
                case let .failure(failure): note("recheck of \(containerID) failed: \(failure.message)")
                }
            }
        case let .connect(address, timeout):
            leftDocker(id)
            client.probeAddress = address
            let token = client.waitToken
            connect(address, timeout: timeout.nanoseconds) { event in
                guard client.waitToken == token else { return }
                answer(event)
            }
        case .settle:
            let token = client.waitToken
            let address = client.probeAddress
            queue.after(scenario.settleTime) { [unowned self] in
                guard client.waitToken == token else { return }
                var hungUp = true
                if let address, let container = engine.byAddress[address], container.portOpen(at: queue.now) {
                    if container.refusals > 0 { container.refusals -= 1 } else { hungUp = false }
                }
                answer(.settled(hungUp: hungUp))
            }
        case .retryAt, .needSlot, .launchSettled:
            fail("the lifecycle passed \(action) to the driver (it answers those itself)")
        case .stopWaiting:
            client.waitToken += 1
        case let .dispose(daemon, containerID, holder, clean):
            if let held = abandonedSlot.removeValue(forKey: .init(client: id, generation: generation)) {
                guard held == daemon else { return fail("client \(id)'s abandoned launch disposed of a slot on daemon \(daemon), it holds one on \(held)") }
                if let holder { release(holder, on: daemon, clean: clean) }
                if let containerID { removeContainer(containerID, on: daemon) } else { slotFreed(daemon) }
                return
            }
            leftDocker(id)
            guard launchSlot.removeValue(forKey: id) == daemon else {
                return fail("client \(id)'s launch disposed of a slot on daemon \(daemon) it does not hold")
            }
            if let holder { release(holder, on: daemon, clean: clean) }
            if let containerID { removeContainer(containerID, on: daemon) } else { slotFreed(daemon) }
        case let .holderJoined(ref):
            guard holders.joined().contains(where: { $0.ref == ref && $0.user != nil && $0.user != "" }) else {
                return fail("client \(id)'s launch joined holder \(ref.containerID), which no container of it uses")
            }
        case let .daemonFailed(daemon, failure):
            if failure.isTransport { failedThisStep[id] = daemon }
            daemonFailed(daemon, failure)
        case let .refused(daemon, _):
            fail("client \(id)'s refusal on daemon \(daemon) reached the driver: the lifecycle keeps it (LaunchBreaker)")
        case let .log(line):
            if line.message == "container exited before it served", let prefix = line.metadata["container"] {
                let running = engine.daemons.contains { $0.containers[prefix]?.running == true }
                if running { fail("client \(id)'s launch replaced container \(prefix), which still runs") }
            }
        case let .succeeded(daemon, containerID, _, _):
            guard launchSlot.removeValue(forKey: id) == daemon else {
                return fail("client \(id)'s launch succeeded on daemon \(daemon) without holding a slot there")
            }
            sessionSlot[containerID] = daemon
        case .failed:
            break
        }
    }

    /// A launch's container started (it locates or probes it now) or the launch gave up (it
    /// disposes of what it has): it left Docker's part, and its place in the launch window.
    private func leftDocker(_ id: UInt64) {
        inDocker[id] = nil
    }

    /// A client connects to a container's address: directly on a local daemon; through the
    /// daemon's proxy for a published port (which accepts while the container runs, and hangs up
    /// during the settle if the service is not listening).
    private func connect(_ address: SocketAddress, timeout: UInt64, reply: @escaping (LaunchMachine.Event) -> Void) {
        let quick = rng.latency(typical: 0.2)
        let target = engine.byAddress[address] ?? holderTargets[address].flatMap { id in engine.daemons.lazy.compactMap { $0.containers[id] }.first }
        guard let container = target, container.running else {
            let published = engine.byAddress[address].map { engine.daemons[$0.daemon].publishes } ?? false
            return queue.after(published ? quick : timeout) { reply(.connectFailed(published ? "connection refused" : "timed out")) }
        }
        if engine.daemons[container.daemon].publishes {
            let up = engine.daemons[container.daemon].alive
            return queue.after(quick) { reply(up ? .connected : .connectFailed("connection refused")) }
        }
        var accepted = false
        if container.portOpen(at: queue.now) {
            if container.refusals > 0 { container.refusals -= 1 } else { accepted = true }
        }
        queue.after(quick) { reply(accepted ? .connected : .connectFailed("connection refused")) }
    }

    /// A launch or session gives its holder back: it must hold it; unclean, a fresh one replaces it.
    private func release(_ ref: LaunchMachine.HolderRef, on daemon: Int, clean: Bool) {
        guard let holder = holders[daemon].first(where: { $0.ref == ref }), holder.user != nil else {
            return fail("holder \(ref.containerID) released but nobody holds it")
        }
        holderTargets[ref.address] = nil
        holder.user = nil
        if !clean { holder.ref = Self.nextHolder(&holderSequence, on: daemon) }
    }

    // MARK: Slots and removal

    /// Removes a container Ganger holds a slot for; its slot is freed (`.slotFreed`) once it is
    /// gone. A failed removal is retried: the slot stays counted until then.
    func removeContainer(_ id: String, on daemon: Int) {
        // A name, not an id (a create without an answer): as the supervisor, remember it, so
        // that a container dockerd makes under it later is removed (`lateCreated`).
        if id.hasPrefix("lost-") { lostNames.insert(id) }
        removing.insert(id)
        if let client = relayByContainer[id], let owner = clients[client] { endRelay(owner, "service closed", after: 0) }
        engine.remove(id, on: daemon) { [unowned self] result in
            switch result {
            case .success:
                removing.remove(id)
                slotFreed(daemon)
            case let .failure(failure) where !failure.isTransport && failure.message.hasPrefix("no such container"):
                removing.remove(id)
                slotFreed(daemon)
            case let .failure(failure):
                note("remove \(id) failed: \(failure.message); retrying")
                daemonFailed(daemon, failure)
                queue.after(1_000_000_000) { [unowned self] in
                    removing.remove(id)
                    removeContainer(id, on: daemon)
                }
            }
        }
    }

    func slotFreed(_ daemon: Int) {
        ledger[daemon] -= 1
        feed(.slotFreed(daemon: daemon))
    }

    /// dockerd made a container after its create's failure was answered: its `create` event
    /// names it, and one whose name was given up and removed already goes now (as
    /// `Supervisor.lateCreate`; counted while its removal runs, as a stray is).
    func lateCreated(_ container: SimContainer) {
        guard let name = container.name, lostNames.remove(name) != nil else { return }
        run("late create \(container.id) (\(name)) on daemon \(container.daemon)") {
            note("late create: \(container.id) named \(name), given up already: removed")
            lifecycle.add(on: container.daemon)
            ledger[container.daemon] += 1
            container.counted = true
            removeContainer(container.id, on: container.daemon)
            return []
        }
    }

    /// A transport failure marks the daemon down until a ping answers and its strays are removed.
    func daemonFailed(_ daemon: Int, _ failure: LaunchMachine.CallFailure) {
        guard failure.isTransport else { return }
        if !markedDown.contains(daemon) {
            markedDown.insert(daemon)
            note("daemon \(daemon) marked down: \(failure.message)")
            apply("daemon \(daemon) down") { lifecycle.setHealthy(daemon, false, now: queue.now) }
        }
        guard !healthChecking.contains(daemon) else { return }
        healthChecking.insert(daemon)
        healthCheck(daemon, after: 500_000_000)
    }

    /// The supervisor's health check of an up daemon (`Supervisor.healthCheck`): a ping every
    /// 2 s; one that gets no answer while the daemon answered no call for two intervals and a
    /// ping's timeout (busy, not down, otherwise) marks it down. Runs until the last freeze has
    /// been over for 10 s, so that the scenario ends.
    func periodicPing(_ daemon: Int) {
        let interval: UInt64 = 2_000_000_000
        let until = (scenario.faults.freezes.map { $0.at + $0.length }.max() ?? 0) + 10_000_000_000
        queue.after(interval) { [unowned self] in
            guard queue.now < until, violation == nil else { return }
            if !markedDown.contains(daemon) && !healthChecking.contains(daemon) {
                engine.ping(daemon) { [unowned self] alive in
                    let busy = queue.now - engine.daemons[daemon].lastAnswer <= 2 * interval + SimEngine.pingTimeout
                    guard !alive, !busy, !markedDown.contains(daemon) else { return }
                    daemonFailed(daemon, LaunchMachine.CallFailure(message: "ping: no complete response", isTransport: true, isTimeout: true))
                }
            }
            periodicPing(daemon)
        }
    }

    private func healthCheck(_ daemon: Int, after delay: UInt64) {
        queue.after(delay) { [unowned self] in
            engine.ping(daemon) { [unowned self] alive in
                guard alive else { return healthCheck(daemon, after: min(delay * 2, 4_000_000_000)) }
                engine.list(on: daemon) { [unowned self] result in
                    guard case let .success(listed) = result else { return healthCheck(daemon, after: delay) }
                    reconcile(daemon, listed)
                }
            }
        }
    }

    /// The daemon answers again: containers of the instance no one owns are counted and removed,
    /// then it is used again.
    private func reconcile(_ daemon: Int, _ listed: [SimContainer]) {
        run("daemon \(daemon) up again: reconcile") {
            var known = Set(lifecycle.sessions.values.compactMap(\.containerID))
            known.formUnion(lifecycle.abandoned.values.compactMap(\.containerID))
            for pool in pools.values {
                known.formUnion(pool.ready.map(\.id))
                known.formUnion(pool.launchingIDs)
            }
            known.formUnion(removing)
            for stray in listed where !known.contains(stray.id) && engine.container(stray.id, on: daemon) != nil {
                note("reconcile: stray \(stray.id) on daemon \(daemon)")
                lifecycle.add(on: daemon)
                ledger[daemon] += 1
                stray.counted = true
                removeContainer(stray.id, on: daemon)
            }
            healthChecking.remove(daemon)
            markedDown.remove(daemon)
            return lifecycle.setHealthy(daemon, true, now: queue.now)
        }
    }

    // MARK: Endings

    private func ended(_ id: UInt64, _ end: Lifecycle.End) {
        guard let client = clients[id], client.accepted else { return fail("ended for client \(id), never accepted") }
        client.ends += 1
        liveChanged = true
        guard client.ends == 1 else { return fail("client \(id) ended twice (\(end.reason))") }
        client.queueSequence = nil
        endedThisStep.append(id)
        reasons.append(end.reason)
        if end.reason.hasPrefix("queue timeout") {
            timedOutThisStep.append((id, services.firstIndex { $0.uid == client.serviceUID } ?? -1))
        }
        if end.kind == .relayed { relayed += 1 }
        guard Self.isKnownReason(end.reason) else { return fail("client \(id) ended with an unknown reason: \(end.reason)") }
        if (end.kind == .relayed) != (end.phase == .relaying) {
            fail("client \(id) ended as \(end.kind) in phase \(end.phase)")
        }
        // What Docker said of "the container" must be of the container the session relayed on.
        if end.reason.contains(" (container: "), let container = client.relayContainer, !exited.contains(container) {
            fail("client \(id) ended with a note about a container, but its container \(container) never exited: \(end.reason)")
        }
        if case .refused = end.kind, end.phase == .relaying { fail("client \(id) refused in phase \(end.phase)") }
    }

    /// A queued client's launch or warm container begins: it left its queue, admitted.
    private func admittedIfQueued(_ id: UInt64) {
        guard let client = clients[id], let sequence = client.queueSequence else { return }
        client.queueSequence = nil
        queueAdmissions += 1
        admittedFromQueue.append((client: id, service: lifecycle.sessions[id]?.service ?? -1, sequence: sequence))
    }
}
