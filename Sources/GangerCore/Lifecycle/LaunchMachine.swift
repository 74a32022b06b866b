public import EventLoop

/// One container brought up until its service accepts a connection, as a pure state machine:
/// create → start → locate (inspect) → probe (connect), retrying within the readiness budget and
/// replacing a container that exits before it serves.
///
/// A value: events in, actions out, no I/O and no clock of its own (`now` comes with each
/// event). `Launch` carries the actions out on the reactor; the simulation carries them out
/// against a simulated engine. Slot and container ownership: the machine starts holding one
/// placement slot on `daemon`. It ends in exactly one of three ways: `.succeeded` (slot,
/// container and the connected socket pass to the caller), `.failed` (it disposed of what it
/// made first), or cancelled (no outcome; what it made is disposed of, a create still in flight
/// first finished). Every `.dispose` action frees one slot once carried out.
public struct LaunchMachine: Sendable {
    /// What the machine needs of the service's settings.
    public struct Settings: Sendable, Equatable {
        public var readyTimeout: Duration
        public var attempts: Int
        public var interval: Duration
        /// The container's network, for the "no address" message.
        public var network: String
        /// Whether the service may join a network holder (`netns.mode: holder`).
        public var holders: Bool

        public init(readyTimeout: Duration, attempts: Int, interval: Duration, network: String, holders: Bool) {
            self.readyTimeout = readyTimeout
            self.attempts = attempts
            self.interval = interval
            self.network = network
            self.holders = holders
        }

        public init(_ service: ServiceConfig) {
            self.init(readyTimeout: service.ready.timeout, attempts: service.ready.attempts, interval: service.ready.interval,
                      network: service.network, holders: service.netns.mode == .holder)
        }
    }

    /// A network holder the container joined: its namespace's service address is known.
    public struct HolderRef: Sendable, Equatable {
        public let containerID: String
        public let address: SocketAddress
        /// Read-only binds the joining container gets (`Holder.sharedFiles`).
        public let sharedFiles: [ContainerSpec.Mount]
        public init(containerID: String, address: SocketAddress, sharedFiles: [ContainerSpec.Mount] = []) {
            self.containerID = containerID
            self.address = address
            self.sharedFiles = sharedFiles
        }
    }

    /// A failed Docker call, as much of it as the machine decides on.
    public struct CallFailure: Sendable, Equatable, Error {
        public let message: String
        /// No answer at all (the daemon counts as down): another daemon may serve.
        public let isTransport: Bool
        /// No complete answer within the call's time, whether or not the daemon counts as down
        /// for it (a daemon that answers pings but stalls on create is degraded, not down).
        public let isTimeout: Bool
        /// The daemon answered, but with an error status (no such image, no space left, a
        /// runtime error) or a body of the wrong shape: `DockerError.isRefusal`. Not a local
        /// shortage of this host, not silence.
        public let isRefusal: Bool
        public init(message: String, isTransport: Bool, isTimeout: Bool = false, isRefusal: Bool = false) {
            self.message = message
            self.isTransport = isTransport
            self.isTimeout = isTimeout
            self.isRefusal = isRefusal
        }
        public init(_ error: DockerError) {
            self.init(message: error.message, isTransport: error.isTransport, isTimeout: error.isTimeout, isRefusal: error.isRefusal)
        }
    }

    /// What an inspect found: the service's address (nil when none) and the container's state.
    public struct Inspection: Sendable, Equatable {
        public var address: SocketAddress?
        public var running: Bool
        public var exitCode: Int
        public var oomKilled: Bool
        public init(address: SocketAddress?, running: Bool, exitCode: Int = 0, oomKilled: Bool = false) {
            self.address = address
            self.running = running
            self.exitCode = exitCode
            self.oomKilled = oomKilled
        }
    }

    public enum Event: Sendable, Equatable {
        /// The create call answered; `holder` is the network holder the driver gave it, if any.
        case created(id: String, holder: HolderRef?)
        /// `maybeMade`: the name the create gave its container when no answer came (a timeout, a
        /// reset): dockerd may have made it all the same, so it is removed by that name before
        /// the slot is freed.
        case createFailed(CallFailure, holder: HolderRef?, maybeMade: String? = nil)
        case started
        case startFailed(CallFailure)
        /// The inspect that looks for the service's address.
        case located(Inspection)
        case locateFailed(CallFailure)
        case connected
        case connectFailed(String)
        /// The probe found no route to the container's address at all (ENETUNREACH on a local
        /// daemon, whose containers are reached directly or not at all): the daemon's network is
        /// broken (its bridge down), not the service slow.
        case unreachable(String)
        /// A connection to a published port waited out its settle time (`hungUp`: the daemon's
        /// proxy closed it, the service is not there yet).
        case settled(hungUp: Bool)
        /// The retry timer fired.
        case retryDue
        /// The liveness inspect made between probes answered.
        case rechecked(Inspection)
        /// Docker's event stream: the container died.
        case died(exitCode: Int, oomKilled: Bool)
        /// The answer to `.needSlot`: a slot on `daemon` (nil: no capacity).
        case slot(daemon: Int?, publishes: Bool)
        /// The owner gives up (client left, shutdown).
        case cancel
    }

    public enum Action: Sendable, Equatable {
        /// Create the service's container on `daemon`; with `joinHolder`, join a ready network
        /// holder on that daemon if one exists (and report it with the outcome).
        /// `timeout`: what the launch's budget leaves for the call (the driver caps it at
        /// `docker_timeout`).
        case create(daemon: Int, joinHolder: Bool, timeout: Duration)
        case start(daemon: Int, id: String, timeout: Duration)
        case locate(daemon: Int, id: String, timeout: Duration)
        /// An inspect to learn whether the container still runs (answer: `.rechecked`).
        case recheck(daemon: Int, id: String)
        case connect(SocketAddress, timeout: Duration)
        /// Watch the connected socket for `publishedSettle` (answer: `.settled`).
        case settle
        /// Deliver `.retryDue` at `deadline` (monotonic nanoseconds).
        case retryAt(UInt64)
        /// Drop whatever connection attempt, settle watch or timer is outstanding.
        case stopWaiting
        /// Remove `id` (nil: none was made; a name: a create whose answer never came) on
        /// `daemon`, then free its slot and release the holder (`clean`: it may serve again).
        case dispose(daemon: Int, id: String?, holder: HolderRef?, clean: Bool)
        /// A container in `holder` started: the holder pool may start a replacement.
        case holderJoined(HolderRef)
        /// A Docker call failed on `daemon`: a transport failure marks it down.
        case daemonFailed(daemon: Int, CallFailure)
        /// Docker on `daemon` answered this launch's create or start with an error (`error`): it
        /// refuses the service's launches there for now (`LaunchBreaker`). Comes before the
        /// launch's `launchSettled` and `failed`, which places the client again.
        case refused(daemon: Int, error: String)
        /// Acquire a slot for a fresh container; answer at once with `.slot`.
        case needSlot
        /// The launch left Docker's part on `daemon` (its container started, or it gave up
        /// before): its place in the daemon's launch window is free.
        case launchSettled(daemon: Int, Scheduler.LaunchOutcome)
        case log(LogLine)
        /// Ready: slot, container and the connected socket are the caller's now.
        case succeeded(daemon: Int, id: String, address: SocketAddress, holder: HolderRef?)
        case failed(reason: String, placeAgain: Bool)
    }

    enum State: Sendable, Equatable {
        case creating(daemon: Int)
        case starting(daemon: Int, id: String)
        case locating(daemon: Int, id: String)
        case probing(daemon: Int, id: String, address: SocketAddress)
        case settling(daemon: Int, id: String, address: SocketAddress)
        case backingOff(daemon: Int, id: String, address: SocketAddress)
        /// A fresh container is wanted: waiting for `.slot`.
        case awaitingSlot(reason: String)
        /// Cancelled while its create call was out: what it creates is removed.
        case abandoned(daemon: Int)
        case done
    }

    public let settings: Settings
    private(set) var state: State
    private var publishes: Bool
    private var holder: HolderRef?
    /// A retry after a failed container takes the normal path: a holder that could not bring the
    /// service up (its port still busy, say) is not trusted again.
    private var mayJoinHolder: Bool
    public private(set) var attempts = 0
    /// Until when Docker may take to create and start the first container: the client's own
    /// budget (what it may still wait), not the readiness budget.
    public let dockerDeadline: UInt64
    /// Until when the service must answer: `ready.timeout` after the first container started
    /// (a replacement container must come up by then too). Nil before that.
    public private(set) var readyDeadline: UInt64?
    /// The current deadline: Docker's before the first start, readiness's after.
    public var deadline: UInt64 { readyDeadline ?? dockerDeadline }
    /// When the current container's create call went out (its start latency feeds the window).
    private var createdAt: UInt64 = 0
    /// Counts containers this launch made; results for an older one are stale.
    public private(set) var generation = 0

    /// Starts on `daemon` (a slot the caller acquired and hands over): returns the machine and
    /// its first actions. `after`: the last generation an earlier launch of the same owner used,
    /// so that answers still in flight for that launch's containers stay stale for this one.
    /// `dockerDeadline`: until when Docker may take to start the container (nil: five minutes).
    public static func start(settings: Settings, daemon: Int, publishes: Bool, now: UInt64, after: Int = 0,
                             dockerDeadline: UInt64? = nil) -> (LaunchMachine, [Action]) {
        var machine = LaunchMachine(settings: settings, daemon: daemon, publishes: publishes,
                                    dockerDeadline: dockerDeadline ?? now &+ 300_000_000_000)
        machine.generation = after
        // The machine is returned after `create` (a tuple would copy it before the call, with
        // the generation its first actions do not carry).
        let actions = machine.create(on: daemon, publishes: publishes, now: now)
        return (machine, actions)
    }

    private init(settings: Settings, daemon: Int, publishes: Bool, dockerDeadline: UInt64) {
        self.settings = settings
        self.publishes = publishes
        mayJoinHolder = settings.holders
        self.dockerDeadline = dockerDeadline
        state = .creating(daemon: daemon)
    }

    /// What the budget leaves for one Docker call, but at least a second: a call sent with no
    /// time at all only makes dockerd do work whose answer nobody waits for (a create timed out
    /// after a millisecond made its container all the same).
    private func callTimeout(now: UInt64) -> Duration {
        .nanoseconds(Int64(clamping: max(deadline > now ? deadline - now : 0, 1_000_000_000)))
    }

    /// Past its budget a Docker call's failure says so: the client was not refused by Docker, it
    /// ran out of time while Docker worked.
    private func outOfBudget(_ what: String, _ failure: CallFailure, now: UInt64) -> String {
        guard now >= deadline else { return "\(what) failed: \(failure.message)" }
        if readyDeadline == nil {
            return "Docker did not start the container within the client's budget (\(what) failed: \(failure.message))"
        }
        return "not ready within \(settings.readyTimeout) (\(what) failed: \(failure.message))"
    }

    public var isDone: Bool { state == .done }
    /// Waiting for the service port (probing, backing off, settling): a death replaces the container.
    public var isProbing: Bool {
        switch state {
        case .probing, .settling, .backingOff: true
        default: false
        }
    }

    /// The container this launch holds, if one exists.
    public var containerID: String? {
        switch state {
        case let .starting(_, id), let .locating(_, id), let .probing(_, id, _), let .settling(_, id, _), let .backingOff(_, id, _): id
        default: nil
        }
    }

    /// The daemon whose answer this launch waits for (a create, start or inspect call out), if
    /// any: a daemon marked down may never give it.
    public var waitsOnDaemon: Int? {
        switch state {
        case let .creating(daemon), let .starting(daemon, _), let .locating(daemon, _): daemon
        default: nil
        }
    }

    /// The daemon whose slot this launch holds, if any.
    public var daemon: Int? {
        switch state {
        case let .creating(daemon), let .abandoned(daemon), let .starting(daemon, _), let .locating(daemon, _),
             let .probing(daemon, _, _), let .settling(daemon, _, _), let .backingOff(daemon, _, _): daemon
        case .awaitingSlot, .done: nil
        }
    }

    /// Feeds one event; events of an older container (`generation` differs) must be dropped by
    /// the caller before this (`handle(_:generation:now:)` does).
    public mutating func handle(_ event: Event, generation: Int, now: UInt64) -> [Action] {
        guard generation == self.generation else { return [] }
        return handle(event, now: now)
    }

    public mutating func handle(_ event: Event, now: UInt64) -> [Action] {
        switch (state, event) {
        case let (.abandoned(daemon), .created(id, holder)):
            state = .done
            return [.launchSettled(daemon: daemon, .abandoned), .dispose(daemon: daemon, id: id, holder: holder, clean: false)]
        case let (.abandoned(daemon), .createFailed(failure, holder, maybeMade)):
            state = .done
            return [.daemonFailed(daemon: daemon, failure), .launchSettled(daemon: daemon, .failed),
                    .dispose(daemon: daemon, id: maybeMade, holder: holder, clean: false)]
        case (.abandoned, _), (.done, _):
            return []
        case (_, .cancel):
            return cancel()
        case let (.creating(daemon), .created(id, holder)):
            self.holder = holder
            state = .starting(daemon: daemon, id: id)
            return [.start(daemon: daemon, id: id, timeout: callTimeout(now: now))]
        case let (.creating(daemon), .createFailed(failure, holder, maybeMade)):
            self.holder = holder
            // No answer (the daemon is now marked down), or an error answer (the daemon refused
            // it: its image gone, a full disk): no container exists, and the caller may place
            // the client on another daemon instead of closing it.
            let refusal: [Action] = failure.isRefusal ? [.refused(daemon: daemon, error: "create failed: \(failure.message)")] : []
            return [.daemonFailed(daemon: daemon, failure)] + refusal
                + fail(outOfBudget("create", failure, now: now),
                         placeAgain: (failure.isTransport || failure.isRefusal) && now < deadline, lost: maybeMade)
        case let (.starting(daemon, id), .started):
            // Docker's part is done: the window learns how long it took, and readiness is
            // measured from here (the first start), not from the queue or Docker's own wait.
            if readyDeadline == nil { readyDeadline = now &+ settings.readyTimeout.nanoseconds }
            let settled = Action.launchSettled(daemon: daemon, .started(latency: now &- createdAt))
            if let holder {
                // The holder's address is known already: no inspect on this path.
                return [settled, .holderJoined(holder)] + probe(daemon: daemon, id: id, address: holder.address, now: now)
            }
            state = .locating(daemon: daemon, id: id)
            return [settled, .locate(daemon: daemon, id: id, timeout: callTimeout(now: now))]
        case let (.starting(daemon, _), .startFailed(failure)):
            // Docker picks a published host port from its own bookkeeping, not from what is bound
            // on the host: another process may hold it. A fresh container gets another port.
            if publishes, !failure.isTransport,
               failure.message.contains("address already in use") || failure.message.contains("port is already allocated") {
                attempts += 1  // no probe counts this one
                let log = LogLine(level: .notice, message: "published port taken on the daemon's host: a fresh container",
                                  metadata: ["error": failure.message])
                return [.daemonFailed(daemon: daemon, failure), .log(log)] + retryFresh("start failed: \(failure.message)", now: now)
            }
            // An error answer: Docker there refuses this service's containers (a broken runtime,
            // a mount it cannot make); the container goes, and the client may go elsewhere. No
            // answer: the container may run, so the client is not placed again.
            guard failure.isRefusal else {
                return [.daemonFailed(daemon: daemon, failure)] + fail(outOfBudget("start", failure, now: now))
            }
            return [.daemonFailed(daemon: daemon, failure)]
                + refused(daemon, "start failed: \(failure.message)", reason: outOfBudget("start", failure, now: now), now: now)
        case let (.locating(daemon, id), .located(found)):
            guard let address = found.address else {
                if !found.running { return replace(found, now: now) }
                // The daemon ran it off the service's network (its network setup is broken):
                // Docker's answer, so the daemon is held off and the client may go elsewhere.
                return refused(daemon, "container \(id.prefix(12)) has no address on network \(settings.network)", now: now)
            }
            return probe(daemon: daemon, id: id, address: address, now: now)
        case let (.locating(daemon, _), .locateFailed(failure)):
            // An inspect answered with an error or garbage is a refusal like a create's.
            guard failure.isRefusal else { return fail(outOfBudget("inspect", failure, now: now)) }
            return refused(daemon, "inspect failed: \(failure.message)", reason: outOfBudget("inspect", failure, now: now), now: now)
        case let (.probing(daemon, id, address), .connected):
            guard publishes else { return succeed(daemon: daemon, id: id, address: address) }
            state = .settling(daemon: daemon, id: id, address: address)
            return [.settle]
        case let (.probing(daemon, id, address), .connectFailed(error)):
            guard attempts < settings.attempts else { return fail("not ready after \(attempts) attempts (\(error))") }
            return backOff(daemon: daemon, id: id, address: address, now: now)
        case let (.probing(daemon, id, _), .unreachable(error)):
            // Known at the first connect, so it is a refusal like a create's: the daemon is held
            // off, and the client may go to another daemon rather than wait out its attempts.
            return refused(daemon, "container \(id.prefix(12)) unreachable (\(error))", now: now)
        case let (.settling(daemon, id, address), .settled(hungUp)):
            guard hungUp else { return succeed(daemon: daemon, id: id, address: address) }
            guard attempts < settings.attempts else {
                return fail("not ready after \(attempts) attempts (the published port's proxy closed each connection)")
            }
            return backOff(daemon: daemon, id: id, address: address, now: now)
        case let (.backingOff(daemon, id, address), .retryDue):
            return probe(daemon: daemon, id: id, address: address, now: now)
        case let (_, .rechecked(found)) where isProbing && !found.running:
            return replace(found, now: now)
        case let (_, .died(exitCode, oom)) where isProbing:
            return replace(Inspection(address: nil, running: false, exitCode: exitCode, oomKilled: oom), now: now)
        case let (.awaitingSlot(reason), .slot(daemon, publishes)):
            guard let daemon else {
                state = .done
                return [.failed(reason: reason + "; no capacity to retry", placeAgain: false)]
            }
            return create(on: daemon, publishes: publishes, now: now)
        default:
            // Late or duplicate answers (a recheck of a running container, a death before the
            // probe): nothing to do.
            return []
        }
    }

    // MARK: Steps

    private mutating func create(on daemon: Int, publishes: Bool, now: UInt64) -> [Action] {
        generation += 1
        self.publishes = publishes
        holder = nil
        createdAt = now
        state = .creating(daemon: daemon)
        return [.create(daemon: daemon, joinHolder: mayJoinHolder, timeout: callTimeout(now: now))]
    }

    /// Connects until the service answers, starting at once (no fixed sleep).
    private mutating func probe(daemon: Int, id: String, address: SocketAddress, now: UInt64) -> [Action] {
        attempts += 1
        let remaining = deadline > now ? deadline - now : 0
        guard remaining > 0 else { return fail(readyDeadline == nil ? "Docker did not start the container within the client's budget"
                                                                    : "not ready within \(settings.readyTimeout)") }
        state = .probing(daemon: daemon, id: id, address: address)
        return [.connect(address, timeout: .nanoseconds(Int64(min(remaining, 2_000_000_000))))]
    }

    /// Waits before the next attempt; meanwhile asks Docker whether the container still runs.
    private mutating func backOff(daemon: Int, id: String, address: SocketAddress, now: UInt64) -> [Action] {
        state = .backingOff(daemon: daemon, id: id, address: address)
        let delay = Self.retryDelay(attempt: attempts, interval: settings.interval)
        return [.recheck(daemon: daemon, id: id), .retryAt(now &+ delay.nanoseconds)]
    }

    /// Retries start fast and double up to `interval`: a service usually binds its port a few
    /// milliseconds after its container starts, and a fixed 100 ms wait would double a cold
    /// start. (5 ms, 10, 20, 40, 80, then `interval`.)
    public static func retryDelay(attempt: Int, interval: Duration) -> Duration {
        let fast = Duration.milliseconds(5) * (1 << min(max(attempt - 1, 0), 20))
        return min(fast, interval)
    }

    /// The container exited before it served: remove it and try a fresh one within the budget.
    private mutating func replace(_ found: Inspection, now: UInt64) -> [Action] {
        let log = LogLine(level: .warning, message: "container exited before it served", metadata: [
            "container": String(containerID?.prefix(12) ?? ""), "exit_code": "\(found.exitCode)", "oom": "\(found.oomKilled)",
        ])
        let reason = "container exited before it served (exit code \(found.exitCode)\(found.oomKilled ? ", out of memory" : ""))"
        return [.stopWaiting, .log(log)] + retryFresh(reason, now: now)
    }

    /// Removes this launch's container and asks for a slot for a fresh one, within the readiness
    /// budget; past it the launch fails with `reason`.
    private mutating func retryFresh(_ reason: String, now: UInt64) -> [Action] {
        guard attempts < settings.attempts, now < deadline else { return fail(reason) }
        let release = releaseContainer()
        mayJoinHolder = false
        state = .awaitingSlot(reason: reason)
        return release + [.needSlot]
    }

    // MARK: Endings

    private mutating func succeed(daemon: Int, id: String, address: SocketAddress) -> [Action] {
        state = .done
        let holder = self.holder
        self.holder = nil
        return [.succeeded(daemon: daemon, id: id, address: address, holder: holder)]
    }

    /// The daemon refused this launch (`error`, for the breaker): the launch ends with `reason`
    /// (the error itself unless given) and the client may be placed again within its budget.
    private mutating func refused(_ daemon: Int, _ error: String, reason: String? = nil, now: UInt64) -> [Action] {
        [.refused(daemon: daemon, error: error)] + fail(reason ?? error, placeAgain: now < deadline)
    }

    /// `lost`: the name of a container a create without an answer may have made.
    private mutating func fail(_ reason: String, placeAgain: Bool = false, lost: String? = nil) -> [Action] {
        let release = releaseContainer(lost: lost)
        state = .done
        return [.stopWaiting] + release + [.failed(reason: reason, placeAgain: placeAgain)]
    }

    private mutating func cancel() -> [Action] {
        if case let .creating(daemon) = state {
            // The create call is still out: its answer disposes of what it made.
            state = .abandoned(daemon: daemon)
            return []
        }
        let release = releaseContainer(.abandoned)
        state = .done
        return [.stopWaiting] + release
    }

    /// The dispose action for what this launch holds (container, slot, holder), once; a
    /// container that never started also leaves the launch window (`outcome`). `lost`: removed
    /// by that name when no container id is known (a create without an answer).
    private mutating func releaseContainer(_ outcome: Scheduler.LaunchOutcome = .failed, lost: String? = nil) -> [Action] {
        guard let daemon else { return [] }
        var settled: [Action] = []
        switch state {
        case .creating, .starting: settled = [.launchSettled(daemon: daemon, outcome)]
        default: break
        }
        let id = containerID ?? lost
        let holder = self.holder
        self.holder = nil
        state = .done
        return settled + [.dispose(daemon: daemon, id: id, holder: holder, clean: false)]
    }
}
