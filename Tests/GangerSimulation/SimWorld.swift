import EventLoop
import GangerCore

/// One invariant broken: which seed, at which step and simulated time, and what.
public struct SimViolation: Sendable, CustomStringConvertible {
    public let seed: UInt64
    public let step: Int
    public let time: UInt64
    public let invariant: String
    public var trace: [String] = []
    /// Of a burst scenario (`SIM_BURST` replays it).
    public var burst = false

    public var description: String {
        "seed \(seed): step \(step) at \(SimWorld.format(time)): \(invariant)"
    }
}

/// What one scenario did.
public struct SimOutcome: Sendable {
    public let seed: UInt64
    public let steps: Int
    public let clients: Int
    public let violation: SimViolation?
    /// Reasons the sessions ended with (for the summary and tests).
    public let reasons: [String]
    /// Clients admitted from a queue (each one a FIFO check).
    public let admittedFromQueue: Int
    /// Sessions that relayed (served).
    public var relayed = 0
    /// Per daemon: containers started, and how many a second from its first create call to its
    /// last start (nil below two starts).
    public var starts: [Int] = []
    public var startRates: [Double?] = []
    /// How long each served client waited for its relay, from its connect (nanoseconds, sorted).
    public var waits: [UInt64] = []
}

/// The simulated world of one scenario and the sim driver: it carries out the actions of the
/// real `Lifecycle` (and each session's `LaunchMachine`) against a simulated engine, simulated
/// clients and a warm-pool stand-in, feeds the results back as events, schedules `.tick` at
/// `nextDeadline`, and checks the invariants after every step and at the end.
public final class SimWorld {
    typealias Action = Lifecycle.Action
    typealias Event = Lifecycle.Event

    let scenario: SimScenario
    let queue = SimQueue()
    var rng: SimRandom
    let engine: SimEngine
    var lifecycle: Lifecycle
    /// The services listening now; the index is the lifecycle's service index.
    var services: [SimScenario.Service]
    var pools: [Int: SimPool] = [:]
    var clients: [UInt64: SimClient] = [:]
    let clientOrder: [SimClient]
    /// The live clients in connect order (the invariants walk them after every step), rebuilt
    /// only when a client connects or ends: a burst of 1,000 would otherwise cost N² per step.
    var liveClients: [SimClient] {
        if liveChanged {
            liveCache = clientOrder.filter(\.live)
            liveChanged = false
        }
        return liveCache
    }
    private var liveCache: [SimClient] = []
    var liveChanged = false
    /// Slots Ganger holds per daemon, as the actions say: launches (from `.create` to their
    /// `.dispose` or `.succeeded`), sessions' containers, pool containers, reconciled strays,
    /// and removals until their `.slotFreed`.
    var ledger: [Int]
    var launchSlot: [UInt64: Int] = [:]
    var sessionSlot: [String: Int] = [:]
    var removing: Set<String> = []
    var relayByContainer: [String: UInt64] = [:]
    /// Containers that stopped running (died, or were killed by a removal).
    var exited: Set<String> = []
    /// Network holders per daemon, and which container serves at a holder's address.
    var holders: [[SimHolder]] = []
    var holderTargets: [SocketAddress: String] = [:]
    var holderSequence = 0
    var healthChecking: Set<Int> = []
    /// Launches in Docker's part (from `.create` until their container started or they gave
    /// up), by client: what the daemon's launch window must count, with the pool's.
    var inDocker: [UInt64: Int] = [:]
    /// The slot (and place in Docker's part) of a launch the lifecycle gave up while its create
    /// was out, for a session it placed again (its daemon went down): held until that launch's
    /// dispose, by its key.
    var abandonedSlot: [Lifecycle.LaunchKey: Int] = [:]
    /// Daemons the driver marked down (the supervisor's `DaemonRuntime.down`): marked once per
    /// outage, whatever the lifecycle's placement already knows.
    var markedDown: Set<Int> = []
    /// Pool launches in Docker's part, per daemon (from `acquireForPool` to their settle).
    var poolInDocker: [Int]
    /// Launches in flight per daemon after the previous step (the window invariant).
    var launchingBefore: [Int]
    /// Clients that ended with a queue timeout or out of budget in this step (work conservation).
    /// Names of creates without an answer, removed by name already (`lateCreated`).
    var lostNames: Set<String> = []
    var poolCreates = 0
    /// Clients that ended with a queue timeout this step, with their service's index.
    var timedOutThisStep: [(id: UInt64, service: Int)] = []

    private var urgent: [Event] = []
    private var pending: [Event] = []
    private(set) var inStep = false
    private var tickAt: UInt64?
    public private(set) var step = 0
    var draining = false
    var listenersClosed = false
    var queueSequence: UInt64 = 0
    /// Clients a step admitted from a queue: (client, service, queue position).
    var admittedFromQueue: [(client: UInt64, service: Int, sequence: UInt64)] = []
    var endedThisStep: [UInt64] = []
    var queueAdmissions = 0
    /// Daemons a launch's call just failed on without an answer, per client, this step.
    var failedThisStep: [UInt64: Int] = [:]
    var reasons: [String] = []
    var relayed = 0
    var waits: [UInt64] = []
    public private(set) var violation: SimViolation?

    /// Trace: nil = off (no strings built); else the last `traceLimit` lines (or all, printed live).
    private let traceLimit: Int?
    private let traceLive: Bool
    private(set) var trace: [String] = []
    static let maxSteps = 200_000

    public init(scenario: SimScenario, traceLimit: Int? = nil, traceLive: Bool = false) {
        self.scenario = scenario
        self.traceLimit = traceLimit
        self.traceLive = traceLive
        rng = SimRandom(seed: scenario.seed ^ 0x5EED_0F_5EED)
        engine = SimEngine(scenario: scenario, queue: queue, rng: SimRandom(seed: scenario.seed ^ 0xE61E))
        let placement = Placement(capacities: scenario.daemons.map(\.capacity), ranks: scenario.daemons.map(\.rank))
        lifecycle = Lifecycle(scheduler: Scheduler(placement: placement, policies: scenario.services.map(\.policy)),
                              publishes: scenario.daemons.map(\.publishes))
        // Replaying one seed with its trace printed: the lifecycle's admission decisions too.
        lifecycle.traceDecisions = traceLive
        services = scenario.services
        for service in services { pools[service.uid] = SimPool(uid: service.uid, target: service.warm) }
        clientOrder = scenario.clients.map(SimClient.init)
        for client in clientOrder { clients[client.id] = client }
        ledger = Array(repeating: 0, count: scenario.daemons.count)
        poolInDocker = ledger
        launchingBefore = ledger
        holders = scenario.daemons.indices.map { daemon in (0..<2).map { _ in SimHolder(Self.nextHolder(&holderSequence, on: daemon)) } }
        engine.onExit = { [unowned self] container in containerExited(container) }
        engine.onLateCreate = { [unowned self] container in lateCreated(container) }
    }

    // MARK: Running

    /// Runs the scenario to its end (or its first violation).
    public func run() -> SimOutcome {
        for client in clientOrder { queue.schedule(at: client.spec.connectAt) { [unowned self] in connect(client) } }
        for death in scenario.faults.daemonDeaths {
            queue.schedule(at: death.at) { [unowned self] in
                note("daemon \(death.daemon) dies for \(Self.format(death.length))")
                engine.kill(death.daemon, for: death.length)
            }
        }
        for refusal in scenario.faults.refusing {
            queue.schedule(at: refusal.at) { [unowned self] in
                note("daemon \(refusal.daemon) refuses every create for \(Self.format(refusal.length))")
                engine.refuse(refusal.daemon, for: refusal.length)
            }
        }
        for stall in scenario.faults.stalls {
            queue.schedule(at: stall.at) { [unowned self] in
                note("daemon \(stall.daemon) holds every start and removal for \(Self.format(stall.length))")
                engine.stall(stall.daemon, for: stall.length)
            }
        }
        for freeze in scenario.faults.freezes {
            queue.schedule(at: freeze.at) { [unowned self] in
                note("daemon \(freeze.daemon) freezes for \(Self.format(freeze.length))")
                engine.freeze(freeze.daemon, for: freeze.length)
            }
        }
        // The supervisor pings every daemon every 2 s; here only where a daemon freezes (a dead
        // one is found by its refused calls).
        if !scenario.faults.freezes.isEmpty { for daemon in engine.daemons.indices { periodicPing(daemon) } }
        for leave in scenario.faults.retirements {
            queue.schedule(at: leave.at) { [unowned self] in
                run("daemon \(leave.daemon) leaves the discovered set") { lifecycle.setRetired(leave.daemon, true, now: queue.now) }
                queue.after(leave.length) { [unowned self] in
                    run("daemon \(leave.daemon) rejoins") { lifecycle.setRetired(leave.daemon, false, now: queue.now) }
                }
            }
        }
        if let at = scenario.reloadAt { queue.schedule(at: at) { [unowned self] in reload() } }
        if let at = scenario.shutdownAt { queue.schedule(at: at) { [unowned self] in shutdown(grace: scenario.grace) } }
        if let window = scenario.window {
            run("launch window on: \(window.minimum)…\(window.maximum), first \(window.current)") { lifecycle.setLaunchWindow(window, now: queue.now) }
        }
        afterStep()
        while violation == nil, queue.step() {
            if step > Self.maxSteps { fail("runaway: more than \(Self.maxSteps) steps") }
        }
        if violation == nil { checkEnd() }
        var outcome = SimOutcome(seed: scenario.seed, steps: step, clients: clientOrder.filter(\.accepted).count, violation: violation,
                                 reasons: reasons, admittedFromQueue: queueAdmissions)
        outcome.relayed = relayed
        outcome.starts = engine.startedAt.map(\.count)
        outcome.startRates = engine.daemons.indices.map { engine.startRate($0) }
        outcome.waits = waits.sorted()
        return outcome
    }

    /// One step: `body` changes the lifecycle (an event, a control call), its actions are carried
    /// out, the answers owed at once are fed, then the invariants are checked.
    func run(_ label: @autoclosure () -> String, _ body: () -> [Action]) {
        precondition(!inStep, "steps do not nest")
        guard violation == nil else { return }
        inStep = true
        step += 1
        if traceLimit != nil { note("step \(step): \(label())") }
        carry(body())
        while violation == nil, let event = urgent.isEmpty ? (pending.isEmpty ? nil : pending.removeFirst()) : urgent.removeFirst() {
            if traceLimit != nil { note("  event \(event)") }
            carry(lifecycle.handle(event, now: queue.now))
        }
        inStep = false
        failedThisStep = [:]
        afterStep()
    }

    /// An event from outside (an engine answer, a client, a timer): a step of its own, or queued
    /// behind the current step's actions when one is under way.
    func feed(_ event: Event) {
        if inStep { pending.append(event) } else { run("\(event)") { lifecycle.handle(event, now: queue.now) } }
    }

    /// Changes the lifecycle inside the current step, or as a step of its own outside one.
    func apply(_ label: @autoclosure () -> String, _ body: () -> [Action]) {
        if inStep { carry(body()) } else { run(label(), body) }
    }

    /// Answers owed before the next event (`.warmTaken`).
    func feedAtOnce(_ event: Event) { urgent.append(event) }

    private func afterStep() {
        guard violation == nil else { return }
        refillPools()
        if let next = lifecycle.nextDeadline, tickAt.map({ next < $0 }) ?? true {
            tickAt = next
            queue.schedule(at: next) { [unowned self] in
                if tickAt == next { tickAt = nil }
                run("tick") { lifecycle.handle(.tick, now: queue.now) }
            }
        }
        checkStep()
        // Every client came and went: shut down, which also removes the pools.
        if !shutdownScheduled, !listenersClosed, clientOrder.last.map({ $0.spec.connectAt <= queue.now }) ?? true, liveClients.isEmpty {
            shutdownScheduled = true
            queue.after(0) { [unowned self] in shutdown(grace: 0) }
        }
    }

    private var shutdownScheduled = false

    static func nextHolder(_ sequence: inout Int, on daemon: Int) -> LaunchMachine.HolderRef {
        sequence += 1
        return .init(containerID: "h\(daemon)-\(sequence)", address: .v4(host: "10.\(daemon + 1).250.\(sequence % 250 + 1)", port: 8000))
    }

    // MARK: Trace

    func note(_ line: @autoclosure () -> String) {
        guard let limit = traceLimit else { return }
        let text = "[\(Self.format(queue.now))] \(line())"
        if traceLive { print(text) }
        trace.append(text)
        if trace.count > limit * 2 { trace.removeFirst(trace.count - limit) }
    }

    func fail(_ invariant: String) {
        guard violation == nil else { return }
        note("VIOLATION: \(invariant)")
        violation = SimViolation(seed: scenario.seed, step: step, time: queue.now, invariant: invariant,
                                 trace: traceLimit.map { Array(trace.suffix($0)) } ?? [], burst: scenario.isBurst)
    }

    static func format(_ ns: UInt64) -> String {
        let ms = ns / 1_000_000
        let frac = (ns / 1000) % 1000
        return "\(ms).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac)ms"
    }

    // MARK: Clients

    private func connect(_ client: SimClient) {
        guard !listenersClosed || (draining && rng.chance(0.3)) else { return note("client \(client.id): listener closed") }
        guard !services.isEmpty else { return }
        let index = client.spec.serviceChoice % services.count
        let service = services[index]
        client.accepted = true
        liveChanged = true
        client.acceptedAt = queue.now
        client.serviceUID = service.uid
        let launch = service.settings.launch
        let call = scenario.callTimeout
        let rounds = UInt64(launch.attempts + 2) * 3 * call
        // Without a queue timeout a client waits for the others' sessions to end: bounded by
        // the scenario's length, not its own settings.
        let wait = service.policy.queueTimeout > 0 ? 2 * service.policy.queueTimeout : 600_000_000_000
        client.deadline = queue.now &+ wait &+ 2 * launch.readyTimeout.nanoseconds &+ 2 * rounds
            &+ client.spec.relayFor &+ scenario.grace &+ 10_000_000_000
        if let fin = client.spec.finAfter { queue.after(fin) { [unowned self] in clientFIN(client) } }
        if let reset = client.spec.resetAfter { queue.after(reset) { [unowned self] in clientReset(client) } }
        if let close = client.spec.closeAfter {
            queue.after(close) { [unowned self] in if client.live { feed(.close(client.id, why: "idle timeout")) } }
        }
        run("client \(client.id) connects to service \(index) from \(client.spec.source)") {
            lifecycle.handle(.accepted(client.id, service: index, source: client.spec.source, settings: service.settings), now: queue.now)
        }
    }

    private func clientFIN(_ client: SimClient) {
        guard client.live, !client.relaying else { return }
        feed(.clientFIN(client.id))
    }

    private func clientReset(_ client: SimClient) {
        guard client.live else { return }
        if client.relaying { return endRelay(client, "client reset", after: 0) }
        feed(.clientLeft(client.id, detail: "connection reset by peer"))
    }

    // MARK: Relays

    func startRelay(_ client: SimClient) {
        guard let container = lifecycle.sessions[client.id]?.container else { return fail("startRelay for client \(client.id) without a container") }
        client.relaying = true
        waits.append(queue.now - client.acceptedAt)
        client.relayContainer = container.id
        relayByContainer[container.id] = client.id
        guard let running = engine.container(container.id, on: container.daemon), running.running else {
            return endRelay(client, "service closed", after: 1_000_000)
        }
        endRelay(client, "client closed", after: client.spec.relayFor)
    }

    /// The relay ends (once) after `delay`: its sockets close and the lifecycle hears `.relayEnded`.
    func endRelay(_ client: SimClient, _ reason: String, after delay: UInt64) {
        queue.after(delay) { [unowned self] in
            guard client.relaying, !client.relayEnded else { return }
            client.relayEnded = true
            if let id = client.relayContainer, relayByContainer[id] == client.id { relayByContainer[id] = nil }
            feed(.relayEnded(client.id, reason: reason))
        }
    }

    // MARK: Reload and shutdown

    private func reload() {
        guard !draining else { return }
        let next = scenario.reloadServices
        let previous = next.map { service in services.firstIndex { $0.uid == service.uid } }
        run("reload: services \(services.map(\.uid)) -> \(next.map(\.uid))") {
            for old in services where !next.contains(where: { $0.uid == old.uid }) { retire(pools[old.uid]!) }
            for service in next {
                if let pool = pools[service.uid], !pool.retired { pool.target = service.warm } else { pools[service.uid] = SimPool(uid: service.uid, target: service.warm) }
            }
            services = next
            return lifecycle.reconfigure(policies: next.map(\.policy), previous: previous, now: queue.now)
        }
    }

    private func shutdown(grace: UInt64) {
        guard !listenersClosed else { return }
        draining = true
        listenersClosed = true
        run("shutdown: drain") {
            for uid in pools.keys.sorted() { retire(pools[uid]!) }
            return lifecycle.drain(now: queue.now)
        }
        queue.after(grace) { [unowned self] in run("shutdown: close all") { lifecycle.closeAll("shutting down", now: queue.now) } }
    }
}
