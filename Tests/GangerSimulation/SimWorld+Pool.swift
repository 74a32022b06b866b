import GangerCore

/// The warm-pool stand-in: what a pool asks of the lifecycle (`acquireForPool`, `.warmAdded`,
/// `.warmRemoved`, `.slotFreed`) and answers (`.takeWarm`, `.giveBackWarm`), without its policy.
extension SimWorld {
    /// Starts pool containers while a pool is below its target and no client waits.
    func refillPools() {
        guard !draining else { return }
        for (index, service) in services.enumerated() {
            guard let pool = pools[service.uid], !pool.retired else { continue }
            while pool.ready.count + pool.launching < pool.target, queue.now >= pool.retryAt,
                  let daemon = lifecycle.acquireForPool(service: index) {
                note("pool \(pool.uid): launch on daemon \(daemon)")
                ledger[daemon] += 1
                poolInDocker[daemon] += 1
                pool.launching += 1
                launchPooled(pool, on: daemon)
            }
        }
    }

    private func launchPooled(_ pool: SimPool, on daemon: Int) {
        let createdAt = queue.now
        // A pool launch leaves the daemon's launch window as a session's does (Supervisor's
        // `LaunchOwner.launchSettled`).
        let settle = { [unowned self] (outcome: Scheduler.LaunchOutcome) in
            poolInDocker[daemon] -= 1
            apply("pool \(pool.uid): launch settled on daemon \(daemon)") { lifecycle.launchSettled(daemon, outcome, now: queue.now) }
        }
        poolCreates += 1
        let name = "lost-pool-\(poolCreates)"
        engine.create(on: daemon, name: name) { [unowned self] result, orphan in
            orphan?.counted = false
            guard case let .success(container) = result else {
                settle(.failed)
                // As `LaunchIO`: a create without an answer is disposed of by its name.
                if case let .failure(failure) = result {
                    return pooledFailed(pool, on: daemon, id: failure.isTransport || failure.isTimeout ? name : nil, failure)
                }
                return
            }
            pool.launchingIDs.insert(container.id)
            engine.start(container.id, on: daemon) { [unowned self] result in
                if case let .failure(failure) = result {
                    settle(.failed)
                    return pooledFailed(pool, on: daemon, id: container.id, failure)
                }
                settle(.started(latency: queue.now &- createdAt))
                let limit = queue.now &+ 2_000_000_000
                let at = container.portOpenAt.map { min($0, limit) } ?? limit
                queue.schedule(at: at) { [unowned self] in
                    guard container.portOpen(at: queue.now), engine.container(container.id, on: daemon) != nil else {
                        return pooledFailed(pool, on: daemon, id: container.id, .init(message: "not ready", isTransport: false))
                    }
                    pool.launchingIDs.remove(container.id)
                    pool.launching -= 1
                    guard !pool.retired, let index = services.firstIndex(where: { $0.uid == pool.uid }) else {
                        return removeContainer(container.id, on: daemon)
                    }
                    pool.ready.append((daemon: daemon, id: container.id))
                    feed(.warmAdded(service: index))
                }
            }
        }
    }

    private func pooledFailed(_ pool: SimPool, on daemon: Int, id: String?, _ failure: LaunchMachine.CallFailure) {
        note("pool \(pool.uid): launch failed: \(failure.message)")
        if let id { pool.launchingIDs.remove(id) }
        pool.launching -= 1
        pool.retryAt = queue.now &+ 1_000_000_000
        queue.schedule(at: pool.retryAt) { [unowned self] in run("pool \(pool.uid) may refill") { [] } }
        daemonFailed(daemon, failure)
        // Docker refused it (an error answer to create or start): the supervisor's `WarmPool`
        // tells the breaker, which holds the service off that daemon.
        if failure.isRefusal, !failure.message.contains("port is already allocated"), let index = services.firstIndex(where: { $0.uid == pool.uid }) {
            apply("pool \(pool.uid): refused on daemon \(daemon)") {
                lifecycle.poolLaunchRefused(service: index, daemon: daemon, error: failure.message, now: queue.now)
            }
        }
        if let id { removeContainer(id, on: daemon) } else { slotFreed(daemon) }
    }

    /// A session hands its warm container back: the pool keeps it (reuse) or removes it.
    func giveBack(_ uid: Int, daemon: Int, containerID: String) {
        if let pool = pools[uid], !pool.retired, !draining, let index = services.firstIndex(where: { $0.uid == uid }),
           pool.ready.count < pool.target, engine.container(containerID, on: daemon)?.running == true, rng.chance(0.5) {
            pool.ready.append((daemon: daemon, id: containerID))
            feed(.warmAdded(service: index))
        } else {
            removeContainer(containerID, on: daemon)
        }
    }

    /// The scheduler wants a ready container's slot for another service's client (`.evictWarm`):
    /// the oldest is removed, its slot freed once it is gone; the count is the scheduler's already.
    func evict(_ service: Int) {
        guard services.indices.contains(service), let pool = pools[services[service].uid], !pool.ready.isEmpty else { return }
        let entry = pool.ready.removeFirst()
        removeContainer(entry.id, on: entry.daemon)
    }

    /// Docker says a container no session claims died: a ready pool container leaves its pool.
    func poolContainerDied(_ containerID: String) {
        for uid in pools.keys.sorted() {
            guard let pool = pools[uid], let at = pool.ready.firstIndex(where: { $0.id == containerID }) else { continue }
            let entry = pool.ready.remove(at: at)
            if let index = services.firstIndex(where: { $0.uid == uid }) { feed(.warmRemoved(service: index)) }
            removeContainer(entry.id, on: entry.daemon)
            return
        }
    }

    /// The pool's service is gone or shutting down: its ready containers are removed (the
    /// scheduler forgot them in the same step), launches under way remove theirs when done.
    func retire(_ pool: SimPool) {
        pool.retired = true
        for entry in pool.ready { removeContainer(entry.id, on: entry.daemon) }
        pool.ready = []
    }

    /// A container stopped: its relay ends; Docker's events (maybe dropped, duplicated or late)
    /// reach the lifecycle: an `oom` event first when it ran out of memory, then `die`.
    func containerExited(_ container: SimContainer) {
        note("container \(container.id) exited (code \(container.exitCode)\(container.oom ? ", oom" : ""))")
        exited.insert(container.id)
        if let id = relayByContainer[container.id], let client = clients[id] { endRelay(client, "service closed", after: rng.millis(0, 3)) }
        guard engine.daemons[container.daemon].alive else { return }
        let faults = scenario.faults
        var events: [Event] = []
        if container.oom { events.append(.containerDied(containerID: container.id, exitCode: 137, oom: true)) }
        events.append(.containerDied(containerID: container.id, exitCode: container.exitCode, oom: false))
        var at = queue.now &+ 1_000_000
        for event in events {
            guard !rng.chance(faults.eventDrop) else { continue }
            let late = rng.chance(faults.eventLate) ? rng.millis(500, 5000) : 0
            at = max(at, queue.now &+ 1_000_000 &+ late)
            queue.schedule(at: at) { [unowned self] in feed(event) }
            if rng.chance(faults.eventDuplicate) { queue.schedule(at: at &+ rng.millis(0, 2000)) { [unowned self] in feed(event) } }
        }
    }
}
