/// Every client session and the scheduler that admits them, as one pure value: the logic of a
/// connection from accept to removal.
///
/// Events in (`handle`), actions out; `now` (monotonic nanoseconds) comes with each call and
/// `nextDeadline` says when to call back with `.tick`. The supervisor carries the actions out on
/// the reactor (sockets, Docker calls, relays, logs); the simulation carries them out against a
/// simulated engine and clients. Nothing here touches a descriptor or a daemon.
///
/// Answers the driver owes at once (before the next event): `.takeWarm` → `.warmTaken`. Every
/// `.dispose` is answered by `.slotFreed` when the container is gone (at once if there is none),
/// and so is every `.evictWarm` that found a ready container.
public struct Lifecycle: Sendable {
    public typealias ClientID = Scheduler.ClientID

    public enum Event: Sendable, Equatable {
        /// A client connected to `service` from `source` (its per-source key).
        case accepted(ClientID, service: Int, source: String, settings: SessionMachine.Settings)
        /// The client sent its FIN before its relay started.
        case clientFIN(ClientID)
        /// The client reset or failed before its relay started.
        case clientLeft(ClientID, detail: String)
        /// An answer for the session's launch (`generation` as the action carried it).
        case launch(ClientID, generation: Int, LaunchMachine.Event)
        /// The answer to `.takeWarm`: the container taken (nil: the pool had none after all).
        case warmTaken(ClientID, daemon: Int?, containerID: String)
        /// The session's relay ended (its client and service sockets are closed).
        case relayEnded(ClientID, reason: String)
        /// A container Ganger held on `daemon` is gone: its slot is free.
        case slotFreed(daemon: Int)
        /// A warm container of `service` is ready / went away.
        case warmAdded(service: Int)
        case warmRemoved(service: Int)
        /// Docker's event stream: a container of this instance died (or ran out of memory).
        case containerDied(containerID: String, exitCode: Int, oom: Bool)
        /// The owner ends a session (shutdown, limits).
        case close(ClientID, why: String)
        /// Time passed: queue timeouts, launch retries, session limits.
        case tick
    }

    /// How a session ended, for counters.
    public enum EndKind: Sendable, Equatable {
        case refused(Scheduler.Refusal)
        case queueTimeout
        /// After its relay (the driver logged the session already).
        case relayed
        case other
    }

    public struct End: Sendable, Equatable {
        public let reason: String
        /// The phase the session was in when it ended.
        public let phase: SessionMachine.Phase
        public let kind: EndKind
    }

    public enum Action: Sendable, Equatable {
        /// Carry out an action of the session's launch (Docker calls, connect, settle, dispose…).
        case launch(ClientID, generation: Int, LaunchMachine.Action)
        /// Take a ready warm container of `service` and answer `.warmTaken`.
        case takeWarm(ClientID, service: Int)
        /// Start relaying between the client and the service socket the launch (or the warm
        /// container) connected.
        case startRelay(ClientID)
        case closeRelay(ClientID, why: String)
        /// Hand the warm container back to its pool (it may serve again).
        case giveBackWarm(ClientID, daemon: Int, containerID: String)
        /// Remove one ready warm container of `service` (already off the scheduler's count, so
        /// no `.warmRemoved`): a client of another service waits for its slot (`.slotFreed`).
        case evictWarm(service: Int)
        /// Remove a session's container (if any), then free its slot (`.slotFreed`) and release
        /// the holder.
        case dispose(daemon: Int, id: String?, holder: LaunchMachine.HolderRef?, clean: Bool)
        /// The session is over: close its client if still open, count, log. It is gone from
        /// `sessions`.
        case ended(ClientID, End)
        /// A death no session claims (pool or holder containers): the driver's to route.
        case unclaimedDeath(containerID: String, exitCode: Int, oom: Bool)
        case log(LogLine)
    }

    struct Timer: Comparable, Sendable {
        /// `breakerDue`: a hold of `breaker` may have run out (`client` is 0). `stallCheck`: the
        /// client's launch call on `daemon` out since `since` may be stuck (`StallWatch`).
        enum Kind: Sendable {
            case launchRetry(generation: Int), maxDuration, breakerDue
            case stallCheck(daemon: Int, call: StallWatch.Call, since: UInt64)
        }
        let at: UInt64
        let client: ClientID
        let kind: Kind
        static func < (a: Self, b: Self) -> Bool { a.at < b.at || (a.at == b.at && a.client < b.client) }
        static func == (a: Self, b: Self) -> Bool { a.at == b.at && a.client == b.client }
    }

    public private(set) var scheduler: Scheduler
    public private(set) var sessions: [ClientID: SessionMachine] = [:]
    /// The (service, daemon) pairs whose launches Docker refused, held off placement a while.
    public private(set) var breaker = LaunchBreaker()
    /// When each daemon last answered each kind of launch call: tells a stuck daemon (it
    /// answers pings, not launches) from a busy one.
    public private(set) var stalls = StallWatch()
    /// Per daemon: whether its service ports are published on its host (remote daemons).
    private var publishes: [Bool]
    private var timers = MinHeap<Timer>()
    /// A launch given up while its create call was still out, by its client and generation
    /// (answers carry both): the session ended, or its daemon went down and the client was
    /// placed again. The call's answer is disposed of.
    public struct LaunchKey: Hashable, Sendable, Comparable {
        public let client: ClientID
        public let generation: Int
        public init(client: ClientID, generation: Int) {
            self.client = client
            self.generation = generation
        }
        public static func < (a: Self, b: Self) -> Bool { (a.client, a.generation) < (b.client, b.generation) }
    }

    public private(set) var abandoned: [LaunchKey: LaunchMachine] = [:]
    /// Clients a settled launch window admitted while a batch was being routed: admitted once the
    /// batch is done, so one session's actions are not interleaved with another's.
    private var pendingGrants: [Scheduler.Grant] = []
    /// Which session holds each container (a launch's or its own), so a death Docker reports
    /// finds its session without a scan; kept at every change of a session's container.
    private var byContainer: [String: ClientID] = [:]
    private var indexed: [ClientID: String] = [:]

    /// Admission decisions as debug lines (`.log`): a client queued, admitted from the queue, a
    /// launch leaving the launch window, each with what placement saw. Off unless the driver's
    /// log level is debug (the lines cost a string each); the integration tests run with it on,
    /// so a client that waits for no visible reason leaves a trace.
    public var traceDecisions = false

    public init(scheduler: Scheduler, publishes: [Bool]) {
        self.scheduler = scheduler
        self.publishes = publishes
    }

    /// When to call back with `.tick` (it may be early: stale timers are skipped).
    public var nextDeadline: UInt64? {
        switch (scheduler.nextDeadline, timers.min?.at) {
        case let (a?, b?): min(a, b)
        case let (a, b): a ?? b
        }
    }

    // MARK: Events

    public mutating func handle(_ event: Event, now: UInt64) -> [Action] {
        var actions = dispatch(event, now: now)
        if !pendingGrants.isEmpty { actions += grantsAfterSettling(now: now) }
        dropStaleTimers()
        return actions + evictions()
    }

    /// Pops timers at the head that can no longer fire for anything (a session gone, a launch
    /// call answered), so that `nextDeadline` does not wake the driver for them: each launch
    /// call leaves a stall check behind (`StallWatch`), almost always stale by its time.
    private mutating func dropStaleTimers() {
        while let first = timers.min, !isLive(first) { timers.popMin() }
    }

    /// Whether `timer` can still act when it fires: its session is there and still in the
    /// state the timer was set for (the same launch, the same relay deadline, the same call out).
    private func isLive(_ timer: Timer) -> Bool {
        let session = sessions[timer.client]
        return switch timer.kind {
        case .breakerDue: true
        case let .launchRetry(generation): session?.launch?.generation == generation
        case .maxDuration: session?.phase == .relaying && session?.relayDeadline == timer.at
        case let .stallCheck(daemon, _, since): session?.callSince == since && session?.launch?.waitsOnDaemon == daemon
        }
    }

    /// Idle warm containers to remove for clients waiting behind daemons at their caps
    /// (`Scheduler.evictions`): after every event and every control call, since a change of
    /// health, cap or membership can leave a client waiting as surely as an event can.
    private mutating func evictions() -> [Action] {
        scheduler.evictions().map { .evictWarm(service: $0) }
    }

    private mutating func dispatch(_ event: Event, now: UInt64) -> [Action] {
        switch event {
        case let .accepted(id, service, source, settings):
            return accepted(id, service: service, source: source, settings: settings, now: now)
        case let .clientFIN(id):
            guard var session = sessions[id], session.phase != .relaying else { return [] }
            session.clientFIN = true
            sessions[id] = session
            // A FIN cannot be told from a half-close (a request, then `shutdown(SHUT_WR)`): by default
            // the client keeps its place and the relay passes the FIN on, as HAProxy does without
            // `option abortonclose`.
            guard session.phase == .queued && session.settings.abortOnClose else { return [] }
            return finish(id, "client left while queued", now: now)
        case let .clientLeft(id, detail):
            guard let session = sessions[id], session.phase != .relaying else { return [] }
            return finish(id, "client left (\(detail))", now: now)
        case let .launch(id, generation, event):
            if abandoned[LaunchKey(client: id, generation: generation)] != nil {
                return abandonedLaunch(id, generation: generation, event, now: now)
            }
            guard var session = sessions[id] else { return [] }
            guard var launch = session.launch else { return [] }
            if generation == launch.generation, let daemon = launch.daemon { noteAnswer(event, on: daemon, now: now) }
            let actions = launch.handle(event, generation: generation, now: now)
            session.launch = launch
            sessions[id] = session
            return route(id, actions, now: now)
        case let .warmTaken(id, daemon, containerID):
            guard var session = sessions[id] else { return [] }
            guard let daemon else { return finish(id, "pooled connection lost", now: now) }
            session.container = .init(daemon: daemon, id: containerID, holder: nil, warm: true)
            sessions[id] = session
            reindex(id)
            return startRelay(id, now: now)
        case let .relayEnded(id, reason):
            guard let session = sessions[id] else { return [] }
            return finish(id, session.reason(reason), kind: .relayed, now: now)
        case let .slotFreed(daemon):
            return apply(scheduler.release(daemon), now: now)
        case let .warmAdded(service):
            return apply(scheduler.warmAdded(service: service), now: now)
        case let .warmRemoved(service):
            scheduler.warmRemoved(service: service)
            return []
        case let .containerDied(containerID, exitCode, oom):
            return died(containerID, exitCode: exitCode, oom: oom, now: now)
        case let .close(id, why):
            guard let session = sessions[id] else { return [] }
            if session.phase == .relaying { return [.closeRelay(id, why: why)] }
            return finish(id, why, now: now)
        case .tick:
            return tick(now: now)
        }
    }

    private mutating func accepted(_ id: ClientID, service: Int, source: String, settings: SessionMachine.Settings,
                                   now: UInt64) -> [Action] {
        precondition(sessions[id] == nil, "client id \(id) reused")
        sessions[id] = SessionMachine(id: id, service: service, source: source, acceptedAt: now, settings: settings)
        switch scheduler.admit(id, service: service, source: source, now: now) {
        case let .admitted(slot):
            return admitted(id, slot, now: now)
        case let .queued(ticket):
            sessions[id]?.ticket = ticket
            return trace("client queued", ["session": "\(id)", "service": "\(service)"])
        case let .refused(why):
            sessions[id]?.service = -1  // never counted
            return finish(id, why.rawValue, kind: .refused(why), now: now)
        }
    }

    private mutating func admitted(_ id: ClientID, _ slot: Scheduler.Slot, now: UInt64) -> [Action] {
        guard var session = sessions[id] else { return [] }
        session.ticket = nil
        switch slot {
        case .warm:
            sessions[id] = session
            return [.takeWarm(id, service: session.service)]
        case let .daemon(daemon):
            // Docker's part is bounded by what the client may still wait (its budget since it
            // connected), but never by less than the readiness budget: a client let in late gets
            // a fair try rather than a create with no time left.
            let dockerDeadline = max(session.acceptedAt &+ session.settings.clientBudget, now &+ session.settings.launch.readyTimeout.nanoseconds)
            let (launch, actions) = LaunchMachine.start(settings: session.settings.launch, daemon: daemon,
                                                        publishes: publishes[daemon], now: now, after: session.launchGenerations,
                                                        dockerDeadline: dockerDeadline)
            session.phase = .launching
            session.launch = launch
            sessions[id] = session
            placed(id, on: daemon)
            return route(id, actions, now: now)
        }
    }

    private mutating func apply(_ grants: [Scheduler.Grant], now: UInt64) -> [Action] {
        grants.flatMap { grant in
            trace("client admitted from the queue", ["session": "\(grant.client)", "slot": "\(grant.slot)"])
                + admitted(grant.client, grant.slot, now: now)
        } + evictions()
    }

    /// A debug line with what placement and the queues hold now (`traceDecisions`). The
    /// metadata is built only when tracing: admissions are the hot path.
    private func trace(_ message: String, _ metadata: @autoclosure () -> [String: String]) -> [Action] {
        guard traceDecisions else { return [] }
        var all = metadata()
        all["queued"] = "\((0..<scheduler.serviceCount).map { scheduler.queued($0) })"
        all["daemons"] = scheduler.placement.daemons.map { d in
            "load \(d.load)/\(d.capacity) launching \(d.launching)/\(d.window == Int.max ? "-" : "\(d.window)")"
                + (d.healthy ? "" : " down") + (d.retired ? " retired" : "")
        }.joined(separator: "; ")
        return [.log(LogLine(level: .debug, message: message, metadata: all))]
    }

    /// Passes a launch's actions to the driver, answering what the lifecycle owns itself: slots,
    /// retry timers and the launch's outcome.
    private mutating func route(_ id: ClientID, _ actions: [LaunchMachine.Action], now: UInt64) -> [Action] {
        defer { reindex(id) }
        var out: [Action] = []
        for action in actions {
            guard let generation = sessions[id]?.launch?.generation else { break }
            switch action {
            case let .launchSettled(daemon, outcome):
                // Traced after the grants it made (placement and queues as they now stand).
                let grants = scheduler.launchSettled(daemon, outcome)
                pendingGrants += grants
                out += trace("launch settled", ["session": "\(id)", "daemon": "\(daemon)", "outcome": "\(outcome)", "admits": "\(grants.count)"])
            case let .refused(daemon, error):
                guard let service = sessions[id]?.service, service >= 0 else { break }
                sessions[id]?.refusal = error
                let pair = LaunchBreaker.Pair(service: service, daemon: daemon)
                out += breakerChanged(pair, breaker.refused(pair, error: error, now: now), now: now)
            case .needSlot:
                // A fresh container, maybe elsewhere: a trial there is over.
                out += trialEnded(id, now: now)
                let service = sessions[id].map(\.service).flatMap { $0 >= 0 ? $0 : nil }
                let daemon = scheduler.acquire(service: service)
                if let daemon { placed(id, on: daemon) }
                out += feed(id, .slot(daemon: daemon, publishes: daemon.map { publishes[$0] } ?? false), now: now)
            case let .retryAt(at):
                timers.push(Timer(at: at, client: id, kind: .launchRetry(generation: generation)))
            case let .create(daemon, _, _):
                out += callOut(id, .create, on: daemon, action, generation: generation, now: now)
            case let .start(daemon, _, _):
                out += callOut(id, .start, on: daemon, action, generation: generation, now: now)
            case let .locate(daemon, _, _):
                out += callOut(id, .inspect, on: daemon, action, generation: generation, now: now)
            case let .succeeded(daemon, container, _, holder):
                if let service = sessions[id]?.service, service >= 0 {
                    let pair = LaunchBreaker.Pair(service: service, daemon: daemon)
                    out += breakerChanged(pair, breaker.succeeded(pair), now: now)
                }
                out.append(.launch(id, generation: generation, action))
                sessions[id]?.launch = nil
                sessions[id]?.container = .init(daemon: daemon, id: container, holder: holder, warm: false)
                out += startRelay(id, now: now)
            case let .failed(reason, placeAgain):
                out += trialEnded(id, now: now)
                out.append(.launch(id, generation: generation, action))
                sessions[id]?.launch = nil
                sessions[id]?.launchGenerations = generation
                out += launchFailed(id, reason: reason, placeAgain: placeAgain, now: now)
            case let .daemonFailed(daemon, failure):
                markDown(daemon, failure)
                out.append(.launch(id, generation: generation, action))
            case .dispose:
                // The launch gave its container up (replaced, failed): what Docker said of that
                // container is not what the session's end reason reports.
                sessions[id]?.containerNote = nil
                out.append(.launch(id, generation: generation, action))
            default:
                out.append(.launch(id, generation: generation, action))
            }
        }
        return out
    }

    /// A launch call goes out: a stall check is due when it has been out for `StallWatch.after`.
    private mutating func callOut(_ id: ClientID, _ call: StallWatch.Call, on daemon: Int, _ action: LaunchMachine.Action,
                                  generation: Int, now: UInt64) -> [Action] {
        sessions[id]?.callSince = now
        timers.push(Timer(at: now &+ StallWatch.after, client: id, kind: .stallCheck(daemon: daemon, call: call, since: now)))
        return [.launch(id, generation: generation, action)]
    }

    /// An answer to a launch's call on `daemon` (an error answer too): that daemon does that
    /// kind of work.
    private mutating func noteAnswer(_ event: LaunchMachine.Event, on daemon: Int, now: UInt64) {
        func answered(_ failure: LaunchMachine.CallFailure) -> Bool { !failure.isTimeout && !failure.isTransport }
        switch event {
        case .created: stalls.answered(.create, daemon: daemon, now: now)
        case let .createFailed(failure, _, _) where answered(failure): stalls.answered(.create, daemon: daemon, now: now)
        case .started: stalls.answered(.start, daemon: daemon, now: now)
        case let .startFailed(failure) where answered(failure): stalls.answered(.start, daemon: daemon, now: now)
        case .located, .rechecked: stalls.answered(.inspect, daemon: daemon, now: now)
        case let .locateFailed(failure) where answered(failure): stalls.answered(.inspect, daemon: daemon, now: now)
        default: break
        }
    }

    /// `call` on `daemon` has been out for `StallWatch.after` with no answer to any such call
    /// there meanwhile, while the daemon answers its pings (or the health check would have
    /// marked it down): it is stuck. Every launch waiting on it is placed again, and each
    /// service is held off it (`LaunchBreaker`: a trial when the hold runs out tells when it
    /// works again).
    private mutating func stalled(_ daemon: Int, _ call: StallWatch.Call, now: UInt64) -> [Action] {
        let seconds = StallWatch.after / 1_000_000_000
        let error = "no answer to \(call == .inspect ? "an" : "a") \(call.rawValue) in \(seconds) s while the daemon answers pings (stuck)"
        var opened = false
        var out: [Action] = []
        for service in 0..<scheduler.serviceCount {
            let pair = LaunchBreaker.Pair(service: service, daemon: daemon)
            let change = breaker.refused(pair, error: error, now: now)
            opened = opened || change != nil
            out += breakerChanged(pair, change, now: now, logged: false)
        }
        out += placeAgainOff(daemon, "daemon stuck while Docker worked on the launch: placed again", now: now)
        // Said once per hold: a launch that could not be placed again (its budget spent) waits
        // on there still, and its own check finds the daemon held off already.
        guard opened else { return out }
        return [.log(LogLine(level: .warning, message: "Docker on the daemon does no launch work: its launches are placed again, its services held off",
                             metadata: ["daemon": "\(daemon)", "call": call.rawValue, "for": "\(seconds)s"]))] + out
    }

    /// A call that got no answer marks its daemon down at once, before the rest of the batch:
    /// a `.failed(placeAgain: true)` that follows must place the client on another daemon, not
    /// back on this one (the driver's health check brings it back with `setHealthy`).
    private mutating func markDown(_ daemon: Int, _ failure: LaunchMachine.CallFailure) {
        if failure.isTransport { _ = scheduler.setHealthy(daemon, false) }
    }

    private mutating func feed(_ id: ClientID, _ event: LaunchMachine.Event, now: UInt64) -> [Action] {
        guard var session = sessions[id], var launch = session.launch else { return [] }
        let actions = launch.handle(event, now: now)
        session.launch = launch
        sessions[id] = session
        return route(id, actions, now: now)
    }

    // Between a daemon's death and the next health ping, placement may still pick it: a client a
    // healthy daemon could serve is placed again, within its readiness budget.
    private mutating func launchFailed(_ id: ClientID, reason: String, placeAgain: Bool, now: UInt64) -> [Action] {
        guard let session = sessions[id] else { return [] }
        // A session whose service a reload removed (-1) has no queue to go back to.
        guard placeAgain, session.service >= 0, session.mayPlaceAgain(now: now) else { return finish(id, reason, now: now) }
        if session.refusal != nil {
            return self.placeAgain(id, "Docker refused the launch: placed again", metadata: ["session": "\(id)", "reason": reason],
                                   orEnd: reason, now: now)
        }
        return self.placeAgain(id, "daemon failed before the container existed: placed again", metadata: ["session": "\(id)"], now: now)
    }

    /// `id`'s launch got a slot on `daemon`: the first launch after a hold is the trial, and
    /// nothing else of its service goes there meanwhile (placement held it off already).
    private mutating func placed(_ id: ClientID, on daemon: Int) {
        guard let service = sessions[id]?.service, service >= 0,
              breaker.placed(.init(service: service, daemon: daemon), client: id) else { return }
        scheduler.holdOff(daemon: daemon, service: service)
    }

    /// `id`'s launch left its daemon without reaching the service: if it was a trial (and
    /// not refused, which opened the breaker again), the next launch there tries instead.
    private mutating func trialEnded(_ id: ClientID, now: UInt64) -> [Action] {
        breaker.ended(client: id).flatMap { breakerChanged($0.0, $0.1, now: now) }
    }

    /// Carries a breaker change out on placement, with its log line and its timer.
    /// `logged: false`: the caller logs why (one line for a whole daemon).
    private mutating func breakerChanged(_ pair: LaunchBreaker.Pair, _ change: LaunchBreaker.Change?, now: UInt64,
                                         logged: Bool = true) -> [Action] {
        guard let change else { return [] }
        let metadata = ["service": "\(pair.service)", "daemon": "\(pair.daemon)"]
        switch change {
        case let .opened(until, hold, first):
            scheduler.holdOff(daemon: pair.daemon, service: pair.service)
            timers.push(Timer(at: until, client: 0, kind: .breakerDue))
            guard logged else { return [] }
            let message = first ? "Docker refused a launch: the service's launches held off the daemon"
                                : "Docker refused the trial launch too: held off longer"
            return [.log(LogLine(level: .warning, message: message, metadata: metadata.merging([
                "for": "\(Duration.nanoseconds(Int64(hold)))", "error": breaker.entries[pair]?.error ?? "",
            ]) { a, _ in a }))]
        case let .resumed(closed):
            pendingGrants += scheduler.resume(daemon: pair.daemon, service: pair.service, trial: !closed)
            guard closed else { return trace("launch hold over: the next launch there is a trial", metadata) }
            return [.log(LogLine(level: .notice, message: "the service answered in a container there: launches no longer held off",
                                 metadata: metadata))]
        }
    }

    /// Admits a session whose launch was given up once more: on another daemon at once, or back
    /// into its queue.
    /// `orEnd`: the reason to end with when the queue cannot take it back (rather than the
    /// queue's own: the client never waited for a full daemon).
    private mutating func placeAgain(_ id: ClientID, _ message: String, metadata: [String: String] = [:], orEnd: String? = nil,
                                     now: UInt64) -> [Action] {
        guard let session = sessions[id] else { return [] }
        switch scheduler.readmit(id, service: session.service, source: session.source, now: now, until: session.budgetEnd) {
        case let .admitted(slot):
            return [.log(LogLine(level: .notice, message: message, metadata: metadata))] + admitted(id, slot, now: now)
        case let .queued(ticket):
            sessions[id]?.phase = .queued
            sessions[id]?.ticket = ticket
            // No daemon has room for it now: it waits, and the log says so.
            return [.log(LogLine(level: .notice, message: message, metadata: metadata.merging(["queued": "true"]) { a, _ in a }))]
        case let .refused(why):
            sessions[id]?.service = -1  // readmit uncounted it
            if let orEnd, why == .queueFull { return finish(id, orEnd, now: now) }
            return finish(id, why.rawValue, kind: .refused(why), now: now)
        }
    }

    private mutating func startRelay(_ id: ClientID, now: UInt64) -> [Action] {
        guard var session = sessions[id] else { return [] }
        session.phase = .relaying
        if session.settings.maxDuration > 0 {
            let at = now &+ session.settings.maxDuration
            session.relayDeadline = at
            timers.push(Timer(at: at, client: id, kind: .maxDuration))
        }
        sessions[id] = session
        return [.startRelay(id)]
    }

    private mutating func died(_ containerID: String, exitCode: Int, oom: Bool, now: UInt64) -> [Action] {
        guard let id = byContainer[containerID], var session = sessions[id] else {
            return [.unclaimedDeath(containerID: containerID, exitCode: exitCode, oom: oom)]
        }
        if oom {
            session.containerNote = "out of memory"
        } else if session.containerNote == nil {
            session.containerNote = "exit code \(exitCode)"
        }
        sessions[session.id] = session
        // Relayed: the service socket is closing anyway and the relay delivers what is left.
        // Launching: the launch replaces the container at once.
        guard !oom, session.launch != nil else { return [] }
        return feed(session.id, .died(exitCode: exitCode, oomKilled: session.containerNote == "out of memory"), now: now)
    }

    /// Brings the container index up to date with session `id` (gone, or holding another one).
    private mutating func reindex(_ id: ClientID) {
        let current = sessions[id]?.containerID
        let previous = indexed[id]
        guard current != previous else { return }
        if let previous, byContainer[previous] == id { byContainer[previous] = nil }
        indexed[id] = current
        if let current { byContainer[current] = id }
    }

    /// Whether the container index says what a scan of every session says (an invariant the
    /// simulation checks after every step).
    public var containerIndexIsConsistent: Bool {
        var expected: [String: ClientID] = [:]
        for (id, session) in sessions { if let container = session.containerID { expected[container] = id } }
        return expected == byContainer
    }

    private mutating func tick(now: UInt64) -> [Action] {
        var out: [Action] = []
        for expired in scheduler.tick(now: now) {
            sessions[expired.client]?.ticket = nil
            // A client placed again after a refusal says why it waited.
            let reason = sessions[expired.client]?.refusal.map { "queue timeout (last launch: \($0))" } ?? "queue timeout"
            out += finish(expired.client, reason, kind: .queueTimeout, now: now)
        }
        while let first = timers.min, first.at <= now {
            timers.popMin()
            if case .breakerDue = first.kind {
                for pair in breaker.entries.keys.sorted() { out += breakerChanged(pair, breaker.due(pair, now: now), now: now) }
                continue
            }
            guard isLive(first) else { continue }
            switch first.kind {
            case .launchRetry:
                out += feed(first.client, .retryDue, now: now)
            case .maxDuration:
                out.append(.closeRelay(first.client, why: "max duration"))
            case let .stallCheck(daemon, call, since):
                guard stalls.isStalled(call, daemon: daemon, callSince: since, now: now) else { continue }
                out += stalled(daemon, call, now: now)
            case .breakerDue:
                break
            }
        }
        return out
    }

    // MARK: Ending

    /// Ends a session whatever its phase: its queue place, launch and container are given up
    /// (the launch disposes of what it made), its source uncounted, and `.ended` tells the driver.
    private mutating func finish(_ id: ClientID, _ reason: String, kind: EndKind = .other, now: UInt64) -> [Action] {
        guard var session = sessions[id] else { return [] }
        let previous = session.phase
        session.phase = .over
        sessions[id] = session
        var out: [Action] = []
        if let ticket = session.ticket, session.service >= 0 { scheduler.leave(service: session.service, ticket: ticket) }
        if let launch = session.launch { out += abandon(id, launch, now: now) }
        if let container = session.container {
            out.append(container.warm
                ? .giveBackWarm(id, daemon: container.daemon, containerID: container.id)
                : .dispose(daemon: container.daemon, id: container.id, holder: container.holder, clean: true))
        }
        if session.service >= 0 { scheduler.ended(service: session.service, source: session.source) }
        sessions.removeValue(forKey: id)
        reindex(id)
        out.append(.ended(id, End(reason: reason, phase: previous, kind: kind)))
        return out
    }

    /// Takes the launch-window actions out of `actions` (the scheduler's), keeping the grants
    /// they free for `grantsAfterSettling`.
    private mutating func settleWindows(_ actions: [LaunchMachine.Action], now: UInt64) -> [LaunchMachine.Action] {
        actions.filter { action in
            guard case let .launchSettled(daemon, outcome) = action else { return true }
            pendingGrants += scheduler.launchSettled(daemon, outcome)
            return false
        }
    }

    /// Admits the clients a settled launch window let in (after the batch that settled it).
    private mutating func grantsAfterSettling(now: UInt64) -> [Action] {
        let grants = pendingGrants
        pendingGrants = []
        return apply(grants, now: now)
    }

    /// Cancels `launch` (the session's): what it made is disposed of; a create still out is
    /// kept in `abandoned` until it answers.
    private mutating func abandon(_ id: ClientID, _ launch: LaunchMachine, now: UInt64) -> [Action] {
        var launch = launch
        var out: [Action] = []
        // A trial given up says nothing of the daemon: the next launch there tries instead.
        out += trialEnded(id, now: now)
        let actions = settleWindows(launch.handle(.cancel, now: now), now: now)
        if !launch.isDone { abandoned[LaunchKey(client: id, generation: launch.generation)] = launch }
        return out + actions.map { .launch(id, generation: launch.generation, $0) }
    }

    private mutating func abandonedLaunch(_ id: ClientID, generation: Int, _ event: LaunchMachine.Event, now: UInt64) -> [Action] {
        let key = LaunchKey(client: id, generation: generation)
        guard var launch = abandoned[key] else { return [] }
        if let daemon = launch.daemon { noteAnswer(event, on: daemon, now: now) }
        let actions = launch.handle(event, generation: generation, now: now)
        abandoned[key] = launch.isDone ? nil : launch
        for case let .daemonFailed(daemon, failure) in actions { markDown(daemon, failure) }
        return settleWindows(actions, now: now).map { .launch(id, generation: generation, $0) } + grantsAfterSettling(now: now)
    }

    // MARK: Owner's controls

    /// Closes every session (shutdown's second signal, grace over).
    public mutating func closeAll(_ why: String, now: UInt64) -> [Action] {
        sessions.keys.sorted().flatMap { handle(.close($0, why: why), now: now) }
    }

    /// Shutdown: nothing is admitted any more; queued clients are closed.
    public mutating func drain(now: UInt64) -> [Action] {
        scheduler.drain().flatMap { expired -> [Action] in
            sessions[expired.client]?.ticket = nil
            return finish(expired.client, "shutting down", now: now)
        }
    }

    /// A reload changed the services (see `Scheduler.reconfigure`): sessions follow their
    /// service's new index; clients queued for a removed service are closed.
    public mutating func reconfigure(policies: [Scheduler.Policy], previous: [Int?], now: UInt64) -> [Action] {
        let dropped = scheduler.reconfigure(policies: policies, previous: previous)
        // Services are renumbered and their images may have changed: every daemon is tried afresh.
        breaker.reset()
        scheduler.clearHeldOff()
        for id in sessions.keys {
            let old = sessions[id]!.service
            sessions[id]!.service = old >= 0 ? previous.firstIndex(of: old) ?? -1 : -1
        }
        var out: [Action] = []
        for expired in dropped {
            sessions[expired.client]?.ticket = nil
            out += finish(expired.client, "service removed by reload", now: now)
        }
        return out + apply(scheduler.grants(), now: now)
    }

    /// A pool launch on `daemon` left Docker's part (see `LaunchMachine.Action.launchSettled`).
    public mutating func launchSettled(_ daemon: Int, _ outcome: Scheduler.LaunchOutcome, now: UInt64) -> [Action] {
        apply(scheduler.launchSettled(daemon, outcome), now: now)
    }

    /// Docker on `daemon` refused a warm pool's launch of `service`: the breaker holds the
    /// service off that daemon as it would for a client's launch (a pool launch is never a trial).
    public mutating func poolLaunchRefused(service: Int, daemon: Int, error: String, now: UInt64) -> [Action] {
        guard scheduler.serviceCount > service, service >= 0 else { return [] }
        let pair = LaunchBreaker.Pair(service: service, daemon: daemon)
        return breakerChanged(pair, breaker.refused(pair, error: error, now: now), now: now)
    }

    /// A place in `daemon`'s launch window for a network holder's start (see
    /// `Scheduler.reserveLaunch`); `launchSettled` gives it back.
    public mutating func reserveLaunch(_ daemon: Int) -> Bool { scheduler.reserveLaunch(daemon) }

    /// Turns the adaptive launch window on (a template: minimum, maximum, first size) or off.
    public mutating func setLaunchWindow(_ template: LaunchWindow?, now: UInt64) -> [Action] {
        apply(scheduler.setLaunchWindow(template), now: now)
    }

    /// A slot for a warm pool's launch, only while no client waits, off the daemons `service`'s
    /// launches are held off.
    public mutating func acquireForPool(service: Int? = nil) -> Int? { scheduler.acquireForPool(service: service) }

    /// A slot for a pool launch that replaces its failed container.
    public mutating func acquire() -> Int? { scheduler.acquire() }

    /// A session another Ganger relayed until it handed it over (takeover): relaying already,
    /// its container counted on its daemon, its source counted, its `max_duration` deadline
    /// kept. It ends like any other.
    public mutating func inherit(_ id: ClientID, service: Int, source: String, acceptedAt: UInt64, settings: SessionMachine.Settings,
                                 container: SessionMachine.Container, relayDeadline: UInt64?) {
        precondition(sessions[id] == nil, "client id \(id) reused")
        var session = SessionMachine(id: id, service: service, source: source, acceptedAt: acceptedAt, settings: settings)
        session.phase = .relaying
        session.container = container
        scheduler.inherit(service: service, source: source, daemon: container.daemon)
        if let relayDeadline {
            session.relayDeadline = relayDeadline
            timers.push(Timer(at: relayDeadline, client: id, kind: .maxDuration))
        }
        sessions[id] = session
    }

    /// Counts a container found on `daemon` that Ganger holds outside sessions.
    public mutating func add(on daemon: Int) { scheduler.add(on: daemon) }

    /// A daemon marked down (`healthy` false) also gives up the launches still waiting on its
    /// answers (`placeAgainOff`).
    public mutating func setHealthy(_ daemon: Int, _ healthy: Bool, now: UInt64) -> [Action] {
        let grants = apply(scheduler.setHealthy(daemon, healthy), now: now)
        guard !healthy else { return grants }
        var out = grants + placeAgainOff(daemon, now: now)
        if !pendingGrants.isEmpty { out += grantsAfterSettling(now: now) }
        return out + evictions()
    }

    /// A daemon marked down may never answer the calls its launches wait for (a frozen dockerd
    /// holds them until `docker_timeout`, five minutes by default). Each such launch is given
    /// up — what it made is removed, a create still out is disposed of when it answers — and
    /// its client placed again at once, within its budget, as after a create that failed
    /// without an answer. A launch that already probes the service keeps going: its container
    /// runs, and a probe needs nothing of the daemon.
    private mutating func placeAgainOff(_ daemon: Int, _ message: String = "daemon down while Docker worked on the launch: placed again",
                                        now: UInt64) -> [Action] {
        var out: [Action] = []
        for id in sessions.keys.sorted() {
            guard let session = sessions[id], let launch = session.launch, launch.waitsOnDaemon == daemon,
                  session.service >= 0, session.mayPlaceAgain(now: now) else { continue }
            out += abandon(id, launch, now: now)
            sessions[id]?.launch = nil
            // What Docker said of the container given up is not what this session's end reports.
            sessions[id]?.containerNote = nil
            sessions[id]?.launchGenerations = launch.generation
            reindex(id)
            out += placeAgain(id, message, metadata: ["session": "\(id)", "daemon": "\(daemon)"], now: now)
        }
        return out
    }

    public mutating func setCapacity(_ daemon: Int, _ capacity: Int, now: UInt64) -> [Action] {
        apply(scheduler.setCapacity(daemon, capacity), now: now)
    }

    public mutating func setRetired(_ daemon: Int, _ retired: Bool, now: UInt64) -> [Action] {
        apply(scheduler.setRetired(daemon, retired), now: now)
    }

    public mutating func setRank(_ daemon: Int, _ rank: Int) { scheduler.setRank(daemon, rank) }

    /// A daemon joined (discovery): its index is the next one.
    public mutating func appendDaemon(capacity: Int, rank: Int, healthy: Bool, publishes: Bool) -> Int {
        self.publishes.append(publishes)
        return scheduler.appendDaemon(capacity: capacity, rank: rank, healthy: healthy)
    }

    /// A daemon that joined (discovery) takes the index of a forgotten one (nothing left on it).
    public mutating func replaceDaemon(_ index: Int, capacity: Int, rank: Int, healthy: Bool, publishes: Bool,
                                       now: UInt64) -> [Action] {
        self.publishes[index] = publishes
        breaker.forget(daemon: index)
        stalls.forget(daemon: index)
        scheduler.clearHeldOff(daemon: index)
        return apply(scheduler.replaceDaemon(index, capacity: capacity, rank: rank, healthy: healthy), now: now)
    }
}
