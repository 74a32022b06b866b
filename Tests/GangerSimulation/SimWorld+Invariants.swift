import GangerCore

/// The invariants, after every step and at the end of a scenario.
extension SimWorld {
    func checkStep() {
        guard violation == nil else { return }
        let placement = lifecycle.scheduler.placement
        for daemon in placement.daemons.indices {
            let load = placement.daemons[daemon].load
            if load != ledger[daemon] { return fail("daemon \(daemon): placement counts \(load) containers, Ganger holds \(ledger[daemon]) slots") }
            let cap = scenario.daemons[daemon].capacity
            let held = engine.daemons[daemon].containers.count
            if cap >= 0, held > cap { return fail("daemon \(daemon): \(held) containers exceed its cap of \(cap)") }
        }
        if !lifecycle.containerIndexIsConsistent { return fail("the lifecycle's container index differs from its sessions' containers") }
        if let broken = checkWindows(lifecycle.scheduler) { return fail(broken) }
        if let broken = checkWorkConserved(lifecycle.scheduler) { return fail(broken) }
        if let broken = checkBreaker() { return fail(broken) }
        for (index, service) in services.enumerated() {
            let ready = pools[service.uid]?.ready.count ?? 0
            let warm = lifecycle.scheduler.warm(index)
            if warm != ready { return fail("service \(index): the scheduler counts \(warm) warm containers, the pool has \(ready)") }
        }
        for admitted in admittedFromQueue {
            for client in liveClients {
                guard let sequence = client.queueSequence, sequence < admitted.sequence,
                      lifecycle.sessions[client.id]?.service == admitted.service else { continue }
                return fail("FIFO: client \(admitted.client) admitted in service \(admitted.service) before client \(client.id), who waited longer")
            }
        }
        admittedFromQueue = []
        // Queued this step, in their queue's order: two clients placed again in one step (their
        // daemon went down) go back in the order the lifecycle readmitted them.
        let queuedNow = liveClients.filter { $0.queueSequence == nil && lifecycle.sessions[$0.id]?.phase == .queued }
        for client in queuedNow.sorted(by: { (lifecycle.sessions[$0.id]?.ticket ?? 0) < (lifecycle.sessions[$1.id]?.ticket ?? 0) }) {
            queueSequence += 1
            client.queueSequence = queueSequence
        }
        checkCounts()
        for id in endedThisStep where lifecycle.sessions[id] != nil { return fail("client \(id) ended but its session remains") }
        endedThisStep = []
        for client in liveClients where queue.now > client.deadline {
            return fail("liveness: client \(client.id) still in phase \(lifecycle.sessions[client.id]?.phase.rawValue ?? "none") \(Self.format(queue.now - client.acceptedAt)) after it connected")
        }
    }

    /// The launch window's bookkeeping: each daemon's launches in flight are the launches the
    /// driver knows in Docker's part there (sessions' and the pool's); with windows on, launches
    /// only begin below the window (a window that shrank may leave more in flight, which then
    /// only go down until below it).
    private func checkWindows(_ scheduler: Scheduler) -> String? {
        let daemons = scheduler.placement.daemons
        var known = poolInDocker
        for daemon in inDocker.values { known[daemon] += 1 }
        // An abandoned launch stays in its daemon's window until its create answers.
        for (key, daemon) in abandonedSlot where lifecycle.abandoned[key] != nil { known[daemon] += 1 }
        defer { for index in daemons.indices { launchingBefore[index] = daemons[index].launching } }
        for (index, daemon) in daemons.enumerated() {
            if daemon.launching != known[index] {
                return "daemon \(index): placement counts \(daemon.launching) launches in flight, the driver knows \(known[index]) in Docker's part"
            }
            guard let window = scenario.window else {
                if daemon.window != Int.max { return "daemon \(index): a launch window of \(daemon.window) while windows are off" }
                continue
            }
            if daemon.window < window.minimum || daemon.window > window.maximum {
                return "daemon \(index): launch window \(daemon.window) outside \(window.minimum)…\(window.maximum)"
            }
            if daemon.launching > daemon.window, daemon.launching > launchingBefore[index] {
                return "daemon \(index): \(daemon.launching) launches in flight, above its window of \(daemon.window) (\(launchingBefore[index]) before this step)"
            }
        }
        return nil
    }

    /// Work conservation: no client waits in a queue (nor ended this step with a queue timeout)
    /// while a daemon has room for a launch: healthy, in the set, below its
    /// cap and below its launch window, and its service's launches not held off it
    /// (`LaunchBreaker`). Shutting down, nobody is placed.
    private func checkWorkConserved(_ scheduler: Scheduler) -> String? {
        defer { timedOutThisStep = [] }
        guard !draining, scheduler.placement.hasRoom else { return nil }
        var room: [Int] {
            scheduler.placement.daemons.indices.filter { index in
                let daemon = scheduler.placement.daemons[index]
                return daemon.healthy && !daemon.retired && (daemon.capacity < 0 || daemon.load < daemon.capacity) && daemon.launching < daemon.window
            }
        }
        // A daemon a service's launches are held off (`LaunchBreaker`) has no room for that service.
        func open(for service: Int) -> [Int] { room.filter { !scheduler.heldOff(service).contains($0) } }
        if scheduler.anyQueued, let waiting = liveClients.first(where: { client in
            guard let session = lifecycle.sessions[client.id], session.phase == .queued else { return false }
            return !open(for: session.service).isEmpty
        }) {
            return "work conservation: client \(waiting.id) waits in a queue while daemons \(room) have room for a launch"
        }
        if let late = timedOutThisStep.first(where: { !open(for: $0.service).isEmpty }) {
            return "work conservation: client \(late.id) ended with a queue timeout while daemons \(room) have room for a launch"
        }
        return nil
    }

    /// The launch breaker never strands a pair, which work conservation cannot see (a held-off
    /// daemon has no room for its service): a hold ends when it is due, a trial is a launch in
    /// Docker's part on that daemon, and placement holds off exactly the open and trial pairs.
    private func checkBreaker() -> String? {
        let now = queue.now
        for (pair, entry) in lifecycle.breaker.entries.sorted(by: { $0.key < $1.key }) {
            switch entry.phase {
            case let .open(until) where until < now:
                return "launch breaker: service \(pair.service) held off daemon \(pair.daemon) past its hold (\(until) < \(now))"
            case let .trial(client) where lifecycle.sessions[client]?.launchDaemon != pair.daemon:
                return "launch breaker: the trial of service \(pair.service) on daemon \(pair.daemon) is client \(client), whose launch is not there"
            default:
                break
            }
        }
        for service in services.indices {
            let expected = Set(lifecycle.breaker.entries.filter { $0.key.service == service && lifecycle.breaker.holdsOff($0.key) }.map(\.key.daemon))
            let held = lifecycle.scheduler.heldOff(service)
            if held != expected { return "launch breaker: placement holds service \(service) off daemons \(held.sorted()), the breaker \(expected.sorted())" }
            let probation = Set(lifecycle.breaker.entries.filter { $0.key.service == service && $0.value.phase == .probation }.map(\.key.daemon))
            let trial = lifecycle.scheduler.onTrial(service)
            if trial != probation { return "launch breaker: placement has service \(service)'s trials on daemons \(trial.sorted()), the breaker \(probation.sorted())" }
        }
        return nil
    }

    /// The scheduler's queue lengths and per-source counts equal what the sessions say: every
    /// queued session is in its service's queue, every live session of a service counted once
    /// against its source.
    private func checkCounts() {
        let scheduler = lifecycle.scheduler
        var queued = Array(repeating: 0, count: scheduler.serviceCount)
        var sources = Array(repeating: [String: Int](), count: scheduler.serviceCount)
        for client in liveClients {
            guard let session = lifecycle.sessions[client.id], session.service >= 0 else { continue }
            if session.phase == .queued { queued[session.service] += 1 }
            sources[session.service][session.source, default: 0] += 1
        }
        for service in 0..<scheduler.serviceCount {
            if scheduler.queued(service) != queued[service] {
                return fail("service \(service): the scheduler queues \(scheduler.queued(service)) clients, \(queued[service]) sessions wait")
            }
            if scheduler.sourcesCounted(service) != sources[service].count {
                return fail("service \(service): \(scheduler.sourcesCounted(service)) sources counted, live sessions come from \(sources[service].count)")
            }
            for (source, count) in sources[service] where scheduler.perSource(service, source) != count {
                return fail("service \(service): source \(source) counted \(scheduler.perSource(service, source)) times, \(count) live sessions")
            }
        }
    }

    func checkEnd() {
        for client in clientOrder where client.accepted && client.ends != 1 {
            return fail("client \(client.id) never ended (phase \(lifecycle.sessions[client.id]?.phase.rawValue ?? "none"))")
        }
        if !lifecycle.sessions.isEmpty { return fail("sessions left: \(lifecycle.sessions.keys.sorted())") }
        if !lifecycle.abandoned.isEmpty { return fail("abandoned launches left: \(lifecycle.abandoned.keys.sorted())") }
        let scheduler = lifecycle.scheduler
        for index in 0..<scheduler.serviceCount {
            if scheduler.queued(index) != 0 { return fail("service \(index): \(scheduler.queued(index)) still queued") }
            if scheduler.sourcesCounted(index) != 0 { return fail("service \(index): \(scheduler.sourcesCounted(index)) sources still counted") }
            if scheduler.warm(index) != 0 { return fail("service \(index): \(scheduler.warm(index)) warm containers still counted") }
        }
        for daemon in scheduler.placement.daemons.indices where scheduler.placement.daemons[daemon].load != 0 || ledger[daemon] != 0 {
            return fail("daemon \(daemon): load \(scheduler.placement.daemons[daemon].load), slots held \(ledger[daemon]) at the end")
        }
        let left = engine.daemons.flatMap { $0.listed.map(\.id) }
        if !left.isEmpty { return fail("containers without an owner at the end: \(left)") }
        if let next = lifecycle.nextDeadline { return fail("a timer still pending at the end (\(Self.format(next)))") }
        if !launchSlot.isEmpty || !abandonedSlot.isEmpty || !sessionSlot.isEmpty || !removing.isEmpty { return fail("slots still held by the driver at the end") }
        if let held = holders.joined().first(where: { $0.user != nil }) { return fail("holder \(held.ref.containerID) still held at the end") }
        for (index, daemon) in scheduler.placement.daemons.enumerated() where daemon.launching != 0 {
            return fail("daemon \(index): \(daemon.launching) launches still in flight at the end")
        }
        if scenario.isBurst { checkGoodput() }
    }

    /// Burst scenarios: each daemon that launched at least ten containers started them at no
    /// less than 0.9 × its start capacity, measured from its first create call to its last
    /// container start.
    private func checkGoodput() {
        guard let capacity = scenario.startCapacity else { return }
        for daemon in engine.daemons.indices where engine.startedAt[daemon].count >= 10 {
            guard let rate = engine.startRate(daemon) else { continue }
            if rate < 0.9 * capacity {
                return fail("goodput: daemon \(daemon) started \(engine.startedAt[daemon].count) containers at \(rate) a second, under 0.9 × its \(capacity)")
            }
        }
    }

    /// The reasons a session may end with: what Lifecycle and LaunchMachine emit, what the driver
    /// gives a relay's end, each optionally followed by what Docker said of the container.
    static func isKnownReason(_ full: String) -> Bool {
        var reason = Substring(full)
        if let note = reason.firstRange(of: " (container: ") { reason = reason[..<note.lowerBound] }
        if reason.hasPrefix("queue timeout (last launch: ") && reason.hasSuffix(")") { return true }
        if reason.hasSuffix("; no capacity to retry") { reason = reason.dropLast("; no capacity to retry".count) }
        let exact: Set<Substring> = [
            "per-source limit", "queue full", "shutting down", "client left while queued", "pooled connection lost", "queue timeout",
            "service removed by reload", "max duration", "client closed", "service closed", "client reset", "idle timeout",
        ]
        if exact.contains(reason) { return true }
        let prefixes = ["client left (", "create failed: ", "Docker did not start the container within the client's budget", "start failed: ", "inspect failed: ", "not ready after ", "not ready within ",
                        "container exited before it served ("]
        if prefixes.contains(where: { reason.hasPrefix($0) }) { return true }
        return reason.hasPrefix("container ") && reason.contains(" has no address on network ")
    }
}
