import EventLoop
import Logging

/// A network holder: a pause container that owns a network namespace (address and published
/// port known in advance) for session containers to join with `NetworkMode: container:<id>`.
final class Holder {
    let daemon: Int
    let containerID: String
    /// Where the service answers once a session's container has bound its port in here.
    let address: SocketAddress
    /// Read-only binds of the files Docker shares with every container that joins this one's
    /// network — /etc/hosts, /etc/hostname, /etc/resolv.conf, kept on the daemon's host with the
    /// holder — for a holder that serves more than one session. Docker mounts them writable
    /// into a joining container (unless its root is read-only), so without these a session
    /// could append `6.6.6.6 bank.example` to /etc/hosts and the next session in the holder
    /// would resolve by it (tried on dockerd 20.10; HolderTests checks it no longer does).
    /// Docker makes its own mount of each file read-only when a mount of the container's is
    /// there already.
    let sharedFiles: [ContainerSpec.Mount]
    /// Sessions it has served; replaced after `netns.reuse`.
    var served = 0
    /// On its way back: its session's client has closed or its container is being stopped, and
    /// it serves again after (`HolderPool.returning`).
    fileprivate(set) var isReturning = false
    /// The pool's generation when it started: a reload drains the pool and bumps it, so a
    /// holder made with the old settings (network, ports) is not taken back after its session.
    fileprivate(set) var generation = 0
    /// When it last became ready (monotonic nanoseconds): a spare idle for
    /// `PoolPolicy.spareIdle` is retired.
    fileprivate(set) var readySince: UInt64 = 0

    init(daemon: Int, containerID: String, address: SocketAddress, sharedFiles: [ContainerSpec.Mount] = []) {
        self.daemon = daemon
        self.containerID = containerID
        self.address = address
        self.sharedFiles = sharedFiles
    }

    /// The binds `sharedFiles` holds, from the holder's inspect; nil when the daemon named a
    /// path that is not a plain absolute one (the holder is then not used: a daemon's answer
    /// is not trusted to be sane).
    static func sharedFiles(_ info: ContainerInspect) -> [ContainerSpec.Mount]? {
        var mounts: [ContainerSpec.Mount] = []
        for (path, target) in [(info.hostsPath, "/etc/hosts"), (info.hostnamePath, "/etc/hostname"),
                               (info.resolvConfPath, "/etc/resolv.conf")] {
            guard let path, !path.isEmpty else { continue }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard path.hasPrefix("/"), path.utf8.count <= 4096, !path.utf8.contains(0),
                  !parts.contains(".."), !parts.contains(".") else { return nil }
            mounts.append(ContainerSpec.Mount(source: path, target: target))
        }
        return mounts
    }
}

/// Keeps `netns.holders` ready holders per healthy daemon for one service (`netns.mode:
/// holder`). Docker spends about half of a container's start setting up its network namespace;
/// a session container that joins a holder's skips that. Holders are tiny (the pause image, 16
/// MiB, 8 pids) and are not counted against `max_containers`, which caps session containers.
final class HolderPool {
    private unowned let host: any PoolHost
    private unowned let service: ServiceRuntime
    private var ready: [Holder] = []
    private var starting: [Int: Int] = [:]
    /// Holders lent to a session that will come back (reuse left), per daemon: they count toward
    /// `netns.holders`, or a spare would be started and the reused namespace passed over.
    private var onLoan: [Int: Int] = [:]
    private let backoff = RefillBackoff()
    private var retryTimer: TimerID?
    /// Armed while a spare holder is ready (`trimSpares`).
    private var spareTimer: TimerID?
    /// Cold sessions served through a holder (fast path) and on the normal path (no holder
    /// ready on the daemon, or the holder's launch failed); holders removed after their last
    /// `netns.reuse` session (retired) and after trouble (discarded). For the status page.
    private(set) var fastPathSessions = 0
    private(set) var normalPathSessions = 0
    private(set) var retired = 0
    private(set) var discarded = 0
    /// Holders this pool started and that still exist (ready or lent to a session).
    private var live: Set<ObjectIdentifier> = []
    /// Bumped by `drain()` (reload, shutdown): holders from before are not taken back.
    private var generation = 0
    /// Holders on their way back, per daemon: their session's client has closed
    /// (`Supervisor.holderMayReturn`) or its container is being stopped
    /// (`Supervisor.stopThenRemove`), and they serve again after.
    private var returning: [Int: Int] = [:]
    /// Launches waiting for one of those, per daemon, oldest first (`take(on:waiting:)`).
    private var waiters: [Int: [Waiter]] = [:]
    private final class Waiter {
        let handler: (Holder?) -> Void
        var timer: TimerID?
        init(handler: @escaping (Holder?) -> Void) { self.handler = handler }

        /// Ends the wait with `holder` (nil: the normal path), before its timer does.
        func resolve(_ holder: Holder?, on reactor: Reactor?) {
            if let timer { reactor?.cancel(timer) }
            timer = nil
            handler(holder)
        }
    }

    func owns(_ holder: Holder) -> Bool { live.contains(ObjectIdentifier(holder)) }

    init(host: any PoolHost, service: ServiceRuntime) {
        self.host = host
        self.service = service
    }

    private var enabled: Bool { service.config.netns.mode == .holder && !host.draining }
    var readyCount: Int { ready.count }
    /// Every holder container this pool created and has not removed (ready, lent, starting).
    private(set) var containerIDs: Set<String> = []

    /// A ready holder on `daemon` (now the caller's), or nil.
    private func take(on daemon: Int) -> Holder? {
        // Most recently returned first: a holder with reuse left is used up before a fresh one.
        guard enabled, let index = ready.lastIndex(where: { $0.daemon == daemon }) else { return nil }
        let holder = ready.remove(at: index)
        if PoolPolicy.holderCounts(served: holder.served, reuse: service.config.netns.reuse) { onLoan[daemon, default: 0] += 1 }
        // No refill yet: the replacement's start (a network setup) would run beside this
        // session's container start and slow the very client the holder is for (bench/README.md
        // (i)). It starts once that container has started (`joined`) or the holder is back; a
        // holder that no longer counts (`PoolPolicy.holderCounts`) is replaced then.
        return holder
    }

    /// A ready holder on `daemon`, or — when none is ready but one is on its way back or being
    /// started that no other launch waits for — the next one ready there, or nil after
    /// `netns.return_wait` / `netns.start_wait`; nil at once otherwise. `handler` runs exactly
    /// once (at once when nothing is to be waited for). Back-to-back clients of a reused holder
    /// find it still being stopped, and the client whose holder retired finds its replacement
    /// still starting: without the waits, each of them took the normal path (bench/README.md (j)).
    func take(on daemon: Int, waiting handler: @escaping (Holder?) -> Void) {
        if let holder = take(on: daemon) { return handler(holder) }
        // `netns.return_wait` (150 ms by default): a stop answers in tens of milliseconds here,
        // while the normal path costs a network setup more than joining a holder (≈ 100–200 ms
        // on the bench machine, bench/README.md (i)): waiting that long is never much worse and
        // usually far better. `netns.start_wait` (1 s): a holder being started is a network
        // setup already under way, which the normal path would only repeat beside it.
        let netns = service.config.netns
        guard enabled, let wait = PoolPolicy.holderWait(returning: returning[daemon, default: 0], starting: starting[daemon, default: 0],
                                                        waiting: waiters[daemon, default: []].count,
                                                        returnWait: netns.returnWait, startWait: netns.startWait),
              let reactor = host.reactor else {
            return handler(nil)
        }
        let waiter = Waiter(handler: handler)
        waiters[daemon, default: []].append(waiter)
        waiter.timer = reactor.schedule(after: wait) { [weak self, weak waiter] in
            guard let self, let waiter else { return }
            waiter.timer = nil
            waiters[daemon]?.removeAll { $0 === waiter }
            waiter.handler(nil)
        }
    }

    /// `holder` serves again once its session's container has stopped (`release` follows), or
    /// probably will: its client has closed. Once per loan.
    func returning(_ holder: Holder) {
        guard !holder.isReturning else { return }
        holder.isReturning = true
        returning[holder.daemon, default: 0] += 1
    }

    /// Launches waiting on `daemon` beyond the holders still on their way back or being started
    /// there go on now.
    private func releaseExcessWaiters(on daemon: Int) {
        let netns = service.config.netns
        let owed = PoolPolicy.owedHolders(returning: returning[daemon, default: 0], starting: starting[daemon, default: 0],
                                          returnWait: netns.returnWait, startWait: netns.startWait)
        releaseWaiters(on: daemon, count: PoolPolicy.excessWaiters(owed: owed, waiting: waiters[daemon, default: []].count))
    }

    /// The newest `count` launches waiting on `daemon` (all by default: the pool is draining
    /// there, and holders still starting predate the drain) go on to the normal path now.
    private func releaseWaiters(on daemon: Int, count: Int = .max) {
        for _ in 0..<count {
            guard let waiter = waiters[daemon]?.popLast() else { break }
            waiter.resolve(nil, on: host.reactor)
        }
    }

    /// A holder taken but never joined (its launch ended while it waited): ready again as it
    /// was, its loan undone.
    func giveBack(_ holder: Holder) {
        endLoan(holder)
        guard enabled, holder.generation == generation else { return remove(holder) }
        _ = readied(holder)
    }

    /// `holder` is back from a loan (`take` counted it when it would come back).
    private func endLoan(_ holder: Holder) {
        if PoolPolicy.holderCounts(served: holder.served, reuse: service.config.netns.reuse), let lent = onLoan[holder.daemon], lent > 0 {
            onLoan[holder.daemon] = lent - 1
        }
    }

    /// `holder` is ready: to the oldest launch waiting on its daemon (true), or to the pool.
    private func readied(_ holder: Holder) -> Bool {
        ready.append(holder)
        holder.readySince = host.reactor?.now ?? 0
        guard let waiter = waiters[holder.daemon]?.first, let taken = take(on: holder.daemon) else {
            if PoolPolicy.holderIsSpare(served: holder.served, reuse: service.config.netns.reuse) { armSpareTrim() }
            return false
        }
        waiters[holder.daemon]?.removeFirst()
        waiter.resolve(taken, on: host.reactor)
        return true
    }

    /// One timer at a time, due when the oldest spare could have idled `PoolPolicy.spareIdle`.
    private func armSpareTrim() {
        guard spareTimer == nil, let reactor = host.reactor else { return }
        spareTimer = reactor.schedule(after: PoolPolicy.spareIdle) { [weak self] in
            self?.spareTimer = nil
            self?.trimSpares()
        }
    }

    /// Retires the spares (`PoolPolicy.holderIsSpare`) that stayed ready and unused for
    /// `PoolPolicy.spareIdle`, oldest first, while their daemon has more holders than
    /// `netns.holders` (`PoolPolicy.surplus`); comes back for those not idle long enough yet.
    private func trimSpares() {
        guard let now = host.reactor?.now else { return }
        let netns = service.config.netns
        let idle = PoolPolicy.spareIdle.nanoseconds
        var pending = false
        for daemon in Set(ready.map(\.daemon)) {
            var surplus = PoolPolicy.surplus(target: netns.holders, ready: ready.filter { $0.daemon == daemon }.count,
                                             starting: starting[daemon, default: 0], onLoan: onLoan[daemon, default: 0])
            for holder in ready where holder.daemon == daemon && PoolPolicy.holderIsSpare(served: holder.served, reuse: netns.reuse) {
                guard surplus > 0 else { break }
                guard now &- holder.readySince >= idle else {
                    pending = true
                    continue
                }
                ready.removeAll { $0 === holder }
                surplus -= 1
                retired += 1
                remove(holder)
            }
        }
        if pending { armSpareTrim() }
    }

    /// A session's container in a holder of this pool has started: start the replacement.
    func joined() {
        refill()
    }

    /// A cold session's container answered: counted by the path it took. Counted here, not at
    /// `take`, because a holder whose container fails is dropped and the retry takes the normal
    /// path.
    func served(throughHolder: Bool) {
        if throughHolder { fastPathSessions += 1 } else { normalPathSessions += 1 }
    }

    /// Starts holders until each healthy daemon has `netns.holders` ready or starting.
    func refill() {
        guard enabled, !backoff.isWaiting else { return }
        for daemon in host.placeableDaemons {
            let wanted = PoolPolicy.wanted(target: service.config.netns.holders, ready: ready.filter { $0.daemon == daemon }.count,
                                           starting: starting[daemon, default: 0], onLoan: onLoan[daemon, default: 0])
            // Holder starts share the daemon's launch window with sessions, and wait while any
            // client does: a refill that finds no place tries again shortly.
            for _ in 0..<wanted {
                guard host.reserveLaunch(daemon) else {
                    retryRefillSoon()
                    break
                }
                start(on: daemon)
            }
        }
    }

    /// One timer at a time: a refill held back by the launch window runs again in half a second.
    private func retryRefillSoon() {
        guard retryTimer == nil, let reactor = host.reactor else { return }
        retryTimer = reactor.schedule(after: .milliseconds(500)) { [weak self] in
            self?.retryTimer = nil
            self?.refill()
        }
    }

    private func start(on daemon: Int) {
        starting[daemon, default: 0] += 1
        let settings = service.config
        let generation = generation
        let docker = host.engine(daemon)
        var spec = ContainerSpec.session(service: settings, instance: host.instance, client: nil,
                                         publish: host.publishHostIP(daemon), logDriver: docker.logDriver)
        spec.image = PauseImage.reference
        spec.cmd = ["/pause"]
        spec.env = []
        spec.labels[GangerLabels.boot] = host.boot
        spec.labels[GangerLabels.role] = "holder"
        spec.hostConfig.memory = 16 << 20
        spec.hostConfig.nanoCpus = 100_000_000
        spec.hostConfig.pidsLimit = 8
        spec.hostConfig.readonlyRootfs = true
        spec.hostConfig.capDrop = ["ALL"]
        spec.hostConfig.tmpfs = nil
        let createdAt = host.reactor?.now ?? 0
        docker.create(spec) { [self] created in
            guard case let .success(id) = created else {
                host.launchSettled(daemon, .failed)
                return failed(daemon, nil, created.failureMessage)
            }
            containerIDs.insert(id)
            docker.start(id) { [self] started in
                guard case .success = started else {
                    host.launchSettled(daemon, .failed)
                    return failed(daemon, id, started.failureMessage)
                }
                host.launchSettled(daemon, .started(latency: (host.reactor?.now ?? createdAt) &- createdAt))
                docker.inspect(id) { [self] inspected in
                    guard case let .success(info) = inspected,
                          let address = host.serviceAddress(info, daemon: daemon, port: settings.port, network: settings.network)
                    else { return failed(daemon, id, inspected.failureMessage ?? "no address") }
                    // Only a holder that serves again shares files between sessions.
                    guard let shared = settings.netns.reuse > 1 ? Holder.sharedFiles(info) : [] else {
                        return failed(daemon, id, "the daemon named a path that is not plain for /etc/hosts, /etc/hostname or /etc/resolv.conf")
                    }
                    starting[daemon, default: 1] -= 1
                    backoff.succeeded()
                    let holder = Holder(daemon: daemon, containerID: id, address: address, sharedFiles: shared)
                    holder.generation = generation
                    live.insert(ObjectIdentifier(holder))
                    guard enabled, generation == self.generation else {
                        // Started before a reload or shutdown: the pool refills with the new settings.
                        remove(holder)
                        releaseExcessWaiters(on: daemon)
                        return refill()
                    }
                    _ = readied(holder)
                }
            }
        }
    }

    private func failed(_ daemon: Int, _ id: String?, _ message: String?) {
        starting[daemon, default: 1] -= 1
        // A launch waiting for this start is owed nothing now.
        releaseExcessWaiters(on: daemon)
        host.logger.warning("network holder failed to start", metadata: [
            "service": "\(service.config.name)", "daemon": "\(host.engine(daemon).name)", "error": "\(message ?? "?")",
        ])
        if let id {
            containerIDs.remove(id)
            host.removeContainer(id, on: daemon, attempt: 1) {}
        }
        backoff.failed(on: host.reactor) { [weak self] in self?.refill() }
    }

    /// Whether `holder` would serve again after a session that ended `clean` (then the
    /// supervisor hands it back once the session's container stopped, before its removal).
    func servesAgain(_ holder: Holder, clean: Bool) -> Bool {
        PoolPolicy.afterSession(served: holder.served + 1, reuse: service.config.netns.reuse, clean: clean,
                                current: enabled && holder.generation == generation) == .serveAgain
    }

    /// A session through `holder` ended and its container is stopped (it serves again) or gone.
    /// With `clean` and reuse left, the holder serves again; otherwise it is removed and replaced.
    func release(_ holder: Holder, clean: Bool) {
        endLoan(holder)
        if holder.isReturning {
            holder.isReturning = false
            // `drain` may have zeroed the count already.
            returning[holder.daemon] = max(0, returning[holder.daemon, default: 0] - 1)
        }
        holder.served += 1
        defer { releaseExcessWaiters(on: holder.daemon) }
        switch PoolPolicy.afterSession(served: holder.served, reuse: service.config.netns.reuse, clean: clean,
                                       current: enabled && holder.generation == generation) {
        case .serveAgain:
            // The oldest launch waiting on that daemon takes it straight away.
            if readied(holder) { return }
        case .retire:
            retired += 1
            remove(holder)
        case .discard:
            if !clean { discarded += 1 }
            remove(holder)
        }
        refill()
    }

    /// Docker reported `id` dead: a ready holder with that id is dropped and replaced.
    func containerDied(_ id: String) -> Bool {
        guard let index = ready.firstIndex(where: { $0.containerID == id }) else { return false }
        discarded += 1
        remove(ready.remove(at: index))
        refill()
        return true
    }

    /// Whether a holder of this pool is on `daemon`, ready, starting or lent: a daemon that left
    /// the catalog is forgotten only without any (holders are not counted in its load).
    func holds(on daemon: Int) -> Bool {
        ready.contains { $0.daemon == daemon } || starting[daemon, default: 0] > 0 || onLoan[daemon, default: 0] > 0
    }

    /// `daemon` left the catalog (no session goes there any more): its ready holders are removed.
    func drain(daemon: Int) {
        returning[daemon] = 0
        releaseWaiters(on: daemon)
        let leaving = ready.filter { $0.daemon == daemon }
        ready.removeAll { $0.daemon == daemon }
        for holder in leaving { remove(holder) }
    }

    /// Shutdown or a reload that leaves holder mode: remove every ready holder.
    func drain() {
        generation += 1
        for daemon in Array(waiters.keys) {
            returning[daemon] = 0
            releaseWaiters(on: daemon)
        }
        backoff.cancel(on: host.reactor)
        if let retryTimer { host.reactor?.cancel(retryTimer) }
        retryTimer = nil
        if let spareTimer { host.reactor?.cancel(spareTimer) }
        spareTimer = nil
        for holder in ready { remove(holder) }
        ready.removeAll()
    }

    private func remove(_ holder: Holder) {
        live.remove(ObjectIdentifier(holder))
        containerIDs.remove(holder.containerID)
        host.removeContainer(holder.containerID, on: holder.daemon, attempt: 1) {}
    }
}

extension Result where Failure == DockerError {
    /// The daemon's message, for a log line; nil on success.
    var failureMessage: String? {
        if case let .failure(error) = self { return error.description }
        return nil
    }
}
