import EventLoop
import Glibc
import Logging

/// This process's hold on its instance, daemon by daemon (InstanceLease has the rules).
extension Supervisor {
    /// Labels that find an instance's leases (they carry no `ganger.instance` label, so nothing
    /// that lists the instance's containers — leftovers, reconciliation, `docker ps` in tests —
    /// mistakes a lease for a session's container).
    static func leaseFilters(instance: String) -> [String] {
        ["\(GangerLabels.managed)=true", "\(GangerLabels.lease)=\(instance)"]
    }

    /// Takes the instance on every daemon of `up`; `done` gets the first refusal (another live
    /// Ganger holds it, or a daemon failed the calls), nil when all are held.
    func acquireLeases(on up: [Int], _ done: @escaping (String?) -> Void) {
        var firstError: String?
        let join = Join(up.count) { done(firstError) }
        for index in up {
            acquireLease(index) { error in
                if let error, firstError == nil { firstError = error }
                join.leave()
            }
        }
    }

    /// Lists the leases on `index`, removes lapsed ones, creates ours, and checks no rival
    /// appeared meanwhile (then ours goes and the instance is refused).
    ///
    /// A lease held by a process on another host may be a crashed one's: it is watched until it
    /// is renewed (its holder lives: refused) or lapses (taken over), at most one lease term.
    func acquireLease(_ index: Int, watching watched: InstanceLease.Record? = nil, _ done: @escaping (String?) -> Void) {
        let daemon = daemons[index]
        let engine = daemon.engine
        let filters = Self.leaseFilters(instance: instance)
        engine.list(labels: filters) { [self] result in
            let leases: [InstanceLease.Record]
            switch result {
            case let .success(found): leases = found.compactMap(InstanceLease.Record.init).filter { $0.boot != predecessorBoot }
            case let .failure(error): return done("cannot list the instance's leases on daemon \(daemon.name): \(error.message)")
            }
            switch InstanceLease.check(leases, boot: boot, now: Int(wallClock()), host: hostName, pidAlive: Self.pidAlive) {
            case let .held(by: holder):
                // Renewed since first seen, or alive on this very host: its holder runs.
                if holder.host == hostName || (watched.map { $0.id == holder.id && holder.expires > $0.expires } ?? false) {
                    return done(heldMessage(holder, daemon: daemon.name))
                }
                if watched == nil {
                    logger.notice("instance lease held by another Ganger: waiting to see it renewed or lapse", metadata: [
                        "daemon": "\(daemon.name)", "boot": "\(holder.boot)", "host": "\(holder.host)",
                        "lapses_in_s": "\(max(holder.expires - Int(wallClock()), 0))",
                    ])
                }
                guard let reactor else { return done(heldMessage(holder, daemon: daemon.name)) }
                reactor.schedule(after: .seconds(1)) { [self] in acquireLease(index, watching: watched ?? holder, done) }
                return
            case let .free(lapsed):
                if !lapsed.isEmpty {
                    logger.notice("instance lease lapsed: taken over", metadata: ["daemon": "\(daemon.name)", "leases": "\(lapsed.count)"])
                }
                let removed = Join(lapsed.count) { [self] in createLease(index, done) }
                for id in lapsed { engine.remove(id) { _ in removed.leave() } }
            }
        }
    }

    /// Creates this process's lease on `index`, then checks that no rival appeared meanwhile.
    private func createLease(_ index: Int, _ done: @escaping (String?) -> Void) {
        let daemon = daemons[index]
        let engine = daemon.engine
        let filters = Self.leaseFilters(instance: instance)
        engine.create(leaseSpec(), name: InstanceLease.name(instance: instance, boot: boot, expires: leaseExpiry())) { [self] created in
            guard case let .success(id) = created else {
                return done("cannot create the instance lease on daemon \(daemon.name): \(created.failureMessage ?? "?")")
            }
            engine.list(labels: filters) { [self] listed in
                let now = Int(wallClock())
                let all = ((try? listed.get())?.compactMap(InstanceLease.Record.init) ?? []).filter { $0.boot != predecessorBoot }
                if let rival = InstanceLease.rival(all, boot: boot, now: now, host: hostName, pidAlive: Self.pidAlive) {
                    engine.remove(id) { _ in }
                    return done(heldMessage(rival, daemon: daemon.name))
                }
                daemon.leaseID = id
                done(nil)
            }
        }
    }

    /// Renews the lease on `index` (a rename to a later expiry); one lost meanwhile is taken
    /// again if free. `done(true)` while this process holds the instance there.
    func ensureLease(_ index: Int, _ done: @escaping (Bool) -> Void) {
        guard !draining else { return done(false) }
        let daemon = daemons[index]
        guard let id = daemon.leaseID else {
            return acquireLease(index) { [self] error in
                if let error { logger.error("instance lease not held: no sessions placed on this daemon", metadata: [
                    "daemon": "\(daemon.name)", "error": "\(error)",
                ]) }
                done(error == nil)
            }
        }
        daemon.engine.rename(id, to: InstanceLease.name(instance: instance, boot: boot, expires: leaseExpiry())) { [self] result in
            switch result {
            case .success:
                done(true)
            case let .failure(error) where error.isNotFound:
                // Removed while this process could not renew it (a lapse seen by another one).
                daemon.leaseID = nil
                ensureLease(index, done)
            case .failure:
                done(false)
            }
        }
    }

    /// Renews every held lease every `InstanceLease.renewEvery`.
    func startLeaseRenewal() {
        guard let reactor, !draining else { return }
        reactor.schedule(after: InstanceLease.renewEvery) { [weak self] in
            guard let self, !draining else { return }
            for index in daemons.indices where daemons[index].leaseID != nil && placement.daemons[index].healthy {
                ensureLease(index) { [weak self] held in
                    if !held { self?.markDown(index, "instance lease lost") }
                }
            }
            startLeaseRenewal()
        }
    }

    /// Shutdown: every lease removed (the instance is free at once for the next process).
    func releaseLeases(_ done: @escaping () -> Void) {
        let held = daemons.filter { $0.leaseID != nil }
        let join = Join(held.count, done: done)
        for daemon in held {
            let id = daemon.leaseID!
            daemon.leaseID = nil
            daemon.engine.remove(id) { _ in join.leave() }
        }
    }

    private func leaseSpec() -> ContainerSpec {
        // Created, never started: any image the daemon has will do, and the services' images
        // are there (pulled before the lease is taken).
        // Never started, so it never logs: no log options to get wrong.
        var spec = ContainerSpec.session(service: config.services[0], instance: instance, client: nil, publish: nil,
                                         logDriver: nil)
        spec.labels = [
            GangerLabels.managed: "true", GangerLabels.lease: instance, GangerLabels.role: InstanceLease.role,
            GangerLabels.boot: boot, GangerLabels.host: hostName, GangerLabels.pid: "\(getpid())",
        ]
        spec.env = []
        spec.exposedPorts = [:]
        spec.hostConfig.portBindings = nil
        spec.hostConfig.networkMode = "none"
        return spec
    }

    private func leaseExpiry() -> Int { Int(wallClock()) + InstanceLease.duration }

    private func heldMessage(_ holder: InstanceLease.Record, daemon: String) -> String {
        "instance \(instance) is held on daemon \(daemon) by another Ganger (boot \(holder.boot), host \(holder.host), "
            + "pid \(holder.pid)) until its lease lapses in \(max(holder.expires - Int(wallClock()), 0)) s: "
            + "give this one another `instance:`, or stop that one"
    }

    /// A lease's pid on this host still runs (a zombie does not: `ProcessState`).
    static func pidAlive(_ pid: Int32) -> Bool { ProcessState.isAlive(pid) }
}
