import EventLoop
import GangerCore

/// A container on a simulated daemon.
final class SimContainer {
    let id: String
    let daemon: Int
    let address: SocketAddress
    let sequence: Int
    var running = false
    var exited = false
    var exitCode = 0
    var oom = false
    /// After a start: how long until the service listens (nil: never).
    let portDelay: UInt64?
    var portOpenAt: UInt64?
    /// Connections refused after the port opened (a service still warming up).
    var refusals: Int
    /// After a start: when it dies by itself (nil: it runs until removed).
    let dieAfter: UInt64?
    /// Counted in placement. False for a container whose create answer was lost: its slot was
    /// freed, and only reconciliation finds it.
    var counted = true
    /// The name its create gave it (a launch's `lost-…` name), if any.
    var name: String?

    init(id: String, daemon: Int, address: SocketAddress, sequence: Int, portDelay: UInt64?, refusals: Int, dieAfter: UInt64?) {
        self.id = id
        self.daemon = daemon
        self.address = address
        self.sequence = sequence
        self.portDelay = portDelay
        self.refusals = refusals
        self.dieAfter = dieAfter
    }

    func portOpen(at now: UInt64) -> Bool { running && portOpenAt.map { now >= $0 } ?? false }
}

/// One simulated daemon: containers in memory, alive or dead (its calls then fail as transport
/// errors; its containers live on, as with live-restore).
final class SimDaemon {
    let index: Int
    let publishes: Bool
    var alive = true
    /// Frozen until then (`Faults.freezes`): calls made meanwhile are held.
    var frozenUntil: UInt64 = 0
    /// Refuses every create until then (`Faults.refusing`): an error answer, at once.
    var refusingUntil: UInt64 = 0
    /// Stuck until then (`Faults.stalls`): starts and removals are held, everything else
    /// (pings, creates, inspects, listings) answers.
    var stalledUntil: UInt64 = 0
    /// When it last answered a call (a frozen daemon answers none): the health check's "busy".
    var lastAnswer: UInt64 = 0
    /// Bumped at each death: a call that spans one fails as a transport error.
    var epoch = 0
    var containers: [String: SimContainer] = [:]

    init(index: Int, publishes: Bool) {
        self.index = index
        self.publishes = publishes
    }

    /// Containers in creation order (dictionary order is not deterministic across processes).
    var listed: [SimContainer] { containers.values.sorted { $0.sequence < $1.sequence } }
}

/// The simulated Docker engine of every daemon: each call answers after a drawn latency, or fails
/// as the scenario's faults say (an error, a transport failure, a hang until the call's timeout,
/// a create whose answer is lost after the container exists, a daemon dying mid-call).
final class SimEngine {
    typealias Failure = LaunchMachine.CallFailure
    let daemons: [SimDaemon]
    private let queue: SimQueue
    private var rng: SimRandom
    private let faults: SimScenario.Faults
    private let callTimeout: UInt64
    private var sequence = 0
    /// Every container by address, for the simulated network.
    private(set) var byAddress: [SocketAddress: SimContainer] = [:]
    /// A container stopped running (died or was killed by a removal): the world routes the event.
    var onExit: (SimContainer) -> Void = { _ in }
    /// Per daemon, the congestion model of create and start (nil: plain latencies).
    let congestion: [SimCongestion?]
    /// Per daemon: when the first create call went out, and when each container start took effect
    /// (the goodput measure of burst scenarios).
    private(set) var firstCreateAt: [UInt64?]
    private(set) var startedAt: [[UInt64]]

    init(scenario: SimScenario, queue: SimQueue, rng: SimRandom) {
        daemons = scenario.daemons.indices.map { SimDaemon(index: $0, publishes: scenario.daemons[$0].publishes) }
        self.queue = queue
        self.rng = rng
        faults = scenario.faults
        callTimeout = scenario.callTimeout
        congestion = scenario.daemons.map { _ in scenario.startCapacity.map { SimCongestion(capacity: $0, queue: queue) } }
        firstCreateAt = scenario.daemons.map { _ in nil }
        startedAt = scenario.daemons.map { _ in [] }
    }

    /// Containers `daemon` started a second, from its first create call to its last start.
    func startRate(_ daemon: Int) -> Double? {
        guard let first = firstCreateAt[daemon], let last = startedAt[daemon].last, startedAt[daemon].count >= 2, last > first else { return nil }
        return Double(startedAt[daemon].count) / (Double(last - first) / 1e9)
    }

    var containerCount: Int { daemons.reduce(0) { $0 + $1.containers.count } }

    func container(_ id: String, on daemon: Int) -> SimContainer? { daemons[daemon].containers[id] }

    // MARK: Calls

    /// Carries out `perform` on `daemon` after a latency, with the scenario's faults, and answers
    /// with `reply`. `losable`: the answer may be lost after the work was done (create).
    /// `timeout`: what the action allows the call (capped at the scenario's call timeout, as the
    /// driver caps it at `docker_timeout`); `share`: the call's part of a launch's daemon time
    /// when the daemon is congested (create and start).
    private func call<T>(_ daemon: Int, _ op: String, losable: Bool = false, timeout: UInt64? = nil, share: Double? = nil,
                         perform: @escaping () -> Result<T, Failure>, reply: @escaping (Result<T, Failure>) -> Void) {
        let target = daemons[daemon]
        let epoch = target.epoch
        let latency = rng.latency(typical: 2)
        guard target.alive else {
            queue.after(rng.latency(typical: 0.3)) { reply(.failure(Failure(message: "\(op): connection refused", isTransport: true))) }
            return
        }
        let reply = { [queue] (result: Result<T, Failure>) in
            if case .failure(let failure) = result, failure.isTransport {} else { target.lastAnswer = queue.now }
            reply(result)
        }
        if target.frozenUntil > queue.now {
            // Held: done and answered once it thaws, unless the call times out first (the
            // request was delivered: dockerd does the work all the same).
            let limit = min(timeout ?? callTimeout, callTimeout)
            let thawed = target.frozenUntil - queue.now + latency
            if thawed <= limit {
                queue.after(thawed) {
                    guard target.alive && target.epoch == epoch else {
                        return reply(.failure(Failure(message: "\(op): daemon died mid-call", isTransport: true)))
                    }
                    reply(perform())
                }
            } else {
                queue.after(thawed) { if target.alive && target.epoch == epoch { _ = perform() } }
                queue.after(limit) {
                    reply(.failure(Failure(message: "\(op): no complete response within \(SimWorld.format(limit)) (frozen daemon)",
                                           isTransport: true, isTimeout: true)))
                }
            }
            return
        }
        if op == "start" || op == "remove", target.stalledUntil > queue.now {
            // Held until the stall ends, then done; past the call's time the caller gets no
            // complete response (the daemon answers other calls: busy, not down, as `LaunchIO`
            // reports a timeout on a daemon that answered recently).
            let limit = min(timeout ?? callTimeout, callTimeout)
            let freed = target.stalledUntil - queue.now + latency
            queue.after(freed) {
                let alive = target.alive && target.epoch == epoch
                let result = alive ? perform() : .failure(Failure(message: "\(op): daemon died mid-call", isTransport: true))
                if freed <= limit { reply(result) }
            }
            if freed > limit {
                queue.after(limit) {
                    reply(.failure(Failure(message: "\(op): no complete response within \(SimWorld.format(limit)) (stuck daemon)",
                                           isTransport: false, isTimeout: true)))
                }
            }
            return
        }
        if op == "create", target.refusingUntil > queue.now {
            return queue.after(latency) { reply(.failure(Failure(message: "\(op): No such image (simulated)", isTransport: false, isRefusal: true))) }
        }
        let draw = rng.unit()
        let performedAnyway = rng.chance(0.5)
        if draw < faults.error {
            queue.after(latency) { reply(.failure(Failure(message: "\(op): simulated daemon error", isTransport: false, isRefusal: true))) }
        } else if draw < faults.error + faults.transport {
            queue.after(latency) { reply(.failure(Failure(message: "\(op): connection reset by peer", isTransport: true))) }
        } else if draw < faults.error + faults.transport + faults.hang {
            if performedAnyway { queue.after(latency) { if target.alive && target.epoch == epoch { _ = perform() } } }
            queue.after(callTimeout) { reply(.failure(Failure(message: "\(op): timed out", isTransport: true))) }
        } else if losable && draw < faults.error + faults.transport + faults.hang + faults.lostCreate {
            queue.after(latency) {
                if target.alive && target.epoch == epoch { _ = perform() }
                reply(.failure(Failure(message: "\(op): connection reset by peer (answer lost)", isTransport: true)))
            }
        } else if let share, let server = congestion[daemon] {
            congested(server, target, epoch, op, work: server.work(share: share), losable: losable,
                      timeout: min(timeout ?? callTimeout, callTimeout), performedAnyway: performedAnyway, perform: perform, reply: reply)
        } else {
            queue.after(latency) {
                guard target.alive && target.epoch == epoch else {
                    // The daemon died mid-call: the work may or may not have been done.
                    if performedAnyway { _ = perform() }
                    reply(.failure(Failure(message: "\(op): daemon died mid-call", isTransport: true)))
                    return
                }
                reply(perform())
            }
        }
    }

    /// A create or start on a congested daemon: a small fixed latency, then its share of the
    /// daemon's time. Past its timeout the caller gets "no complete response" (not a transport
    /// failure: the daemon answers other calls, it is busy, as `LaunchIO` reports it); a start
    /// goes on in the daemon and takes effect later, a create is dropped (so no container is
    /// left that only reconciliation would find).
    private func congested<T>(_ server: SimCongestion, _ target: SimDaemon, _ epoch: Int, _ op: String, work: Double, losable: Bool,
                              timeout: UInt64, performedAnyway: Bool,
                              perform: @escaping () -> Result<T, Failure>, reply: @escaping (Result<T, Failure>) -> Void) {
        var answered = false
        var job: Int?
        queue.after(Self.fixedLatency) { [self] in
            guard !(answered && losable) else { return }
            job = server.enter(work: work) { [self] in
                guard !answered else {
                    if target.alive && target.epoch == epoch { _ = perform() }
                    return
                }
                answered = true
                guard target.alive && target.epoch == epoch else {
                    if performedAnyway { _ = perform() }
                    return reply(.failure(Failure(message: "\(op): daemon died mid-call", isTransport: true)))
                }
                queue.after(Self.fixedLatency) { reply(perform()) }
            }
        }
        queue.after(timeout) {
            guard !answered else { return }
            answered = true
            if losable, let job { server.withdraw(job) }
            reply(.failure(Failure(message: "\(op): no complete response within \(SimWorld.format(timeout)) (busy daemon)", isTransport: false)))
        }
    }

    /// The fixed part of a congested call's latency, each way.
    static let fixedLatency: UInt64 = 5_000_000

    /// `reply` gets the result and, when the call failed although the container was made (its
    /// answer lost, a hang, the daemon dying mid-call), that container: what only the simulation
    /// knows, so the world can mark it an orphan.
    /// `name`: what the create names the container; a create made after its failure was
    /// answered (a frozen daemon working through its backlog) is reported to `onLateCreate`,
    /// as dockerd's `create` event reports it to Ganger.
    func create(on daemon: Int, timeout: UInt64? = nil, name: String? = nil,
                reply: @escaping (Result<SimContainer, Failure>, SimContainer?) -> Void) {
        var made: SimContainer?
        var answered = false
        if firstCreateAt[daemon] == nil { firstCreateAt[daemon] = queue.now }
        call(daemon, "create", losable: true, timeout: timeout, share: 0.3, perform: { [self] in
            let container = make(on: daemon)
            container.name = name
            made = container
            if answered { onLateCreate?(container) }
            return .success(container)
        }, reply: { result in
            answered = true
            if case .failure = result { reply(result, made) } else { reply(result, nil) }
        })
    }

    /// A container made after its create's failure was answered (see `create`).
    var onLateCreate: ((SimContainer) -> Void)?

    private func make(on daemon: Int) -> SimContainer {
        sequence += 1
        let id = "d\(daemon)c\(sequence)"
        let host = "10.\(daemon + 1).\(sequence / 250).\(sequence % 250 + 2)"
        let address = daemons[daemon].publishes ? SocketAddress.v4(host: "192.0.2.\(daemon + 1)", port: UInt16(20000 + sequence % 40000))
            : SocketAddress.v4(host: host, port: 8000)
        let portDelay: UInt64? = rng.chance(faults.neverOpens) ? nil : rng.latency(typical: 20)
        let refusals = faults.maxRefusals > 0 ? rng.int(0...faults.maxRefusals) : 0
        let dieAfter: UInt64? = rng.chance(faults.die) ? (rng.chance(0.5) ? rng.millis(0, 60) : rng.millis(0, 3000)) : nil
        let container = SimContainer(id: id, daemon: daemon, address: address, sequence: sequence, portDelay: portDelay,
                                     refusals: refusals, dieAfter: dieAfter)
        daemons[daemon].containers[id] = container
        byAddress[address] = container
        return container
    }

    func start(_ id: String, on daemon: Int, timeout: UInt64? = nil, reply: @escaping (Result<Void, Failure>) -> Void) {
        let portTaken = daemons[daemon].publishes && rng.chance(faults.portTaken)
        call(daemon, "start", timeout: timeout, share: 0.7, perform: { [self] in
            guard let container = container(id, on: daemon) else { return .failure(Failure(message: "no such container: \(id)", isTransport: false, isRefusal: true)) }
            if portTaken { return .failure(Failure(message: "driver failed programming external connectivity: port is already allocated", isTransport: false, isRefusal: true)) }
            guard !container.running else { return .success(()) }
            startedAt[daemon].append(queue.now)
            container.running = true
            container.exited = false
            container.portOpenAt = container.portDelay.map { queue.now &+ $0 }
            if let dieAfter = container.dieAfter {
                let oom = rng.chance(faults.oom)
                queue.after(dieAfter) { [self] in
                    guard container.running, daemons[daemon].containers[id] != nil else { return }
                    stop(container, exitCode: oom ? 137 : rng.pick([0, 1, 2, 137]), oom: oom)
                }
            }
            return .success(())
        }, reply: reply)
    }

    func inspect(_ id: String, on daemon: Int, reply: @escaping (Result<LaunchMachine.Inspection, Failure>) -> Void) {
        call(daemon, "inspect", perform: { [self] in
            guard let container = container(id, on: daemon) else { return .failure(Failure(message: "no such container: \(id)", isTransport: false, isRefusal: true)) }
            return .success(LaunchMachine.Inspection(address: container.running ? container.address : nil, running: container.running,
                                                     exitCode: container.exitCode, oomKilled: container.oom))
        }, reply: reply)
    }

    /// Force-removes (a running container is killed first). A missing container answers 404.
    func remove(_ id: String, on daemon: Int, reply: @escaping (Result<Void, Failure>) -> Void) {
        call(daemon, "remove", perform: { [self] in
            guard let container = container(id, on: daemon) else { return .failure(Failure(message: "no such container: \(id)", isTransport: false, isRefusal: true)) }
            daemons[daemon].containers[id] = nil
            byAddress[container.address] = nil
            if container.running { stop(container, exitCode: 137, oom: false) }
            return .success(())
        }, reply: reply)
    }

    func list(on daemon: Int, reply: @escaping (Result<[SimContainer], Failure>) -> Void) {
        call(daemon, "list", perform: { [self] in .success(daemons[daemon].listed) }, reply: reply)
    }

    func ping(_ daemon: Int, reply: @escaping (Bool) -> Void) {
        let target = daemons[daemon]
        // A frozen daemon does not answer: the ping times out (2 s, as `HealthTiming.pingTimeout`).
        if target.frozenUntil > queue.now { return queue.after(Self.pingTimeout) { reply(false) } }
        queue.after(rng.latency(typical: 0.5)) { reply(target.alive) }
    }

    static let pingTimeout: UInt64 = 2_000_000_000

    func refuse(_ daemon: Int, for length: UInt64) {
        daemons[daemon].refusingUntil = max(daemons[daemon].refusingUntil, queue.now + length)
    }

    func stall(_ daemon: Int, for length: UInt64) {
        daemons[daemon].stalledUntil = max(daemons[daemon].stalledUntil, queue.now + length)
    }

    func freeze(_ daemon: Int, for length: UInt64) {
        daemons[daemon].frozenUntil = max(daemons[daemon].frozenUntil, queue.now + length)
    }

    private func stop(_ container: SimContainer, exitCode: Int, oom: Bool) {
        container.running = false
        container.exited = true
        container.exitCode = exitCode
        container.oom = oom
        onExit(container)
    }

    /// The daemon dies for `length`: calls in flight and new ones fail as transport errors.
    func kill(_ daemon: Int, for length: UInt64) {
        let target = daemons[daemon]
        guard target.alive else { return }
        target.alive = false
        target.epoch += 1
        queue.after(length) { target.alive = true }
    }
}
