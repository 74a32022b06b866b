public import EventLoop
import Logging

/// `ganger cleanup`: removes this instance's containers (or every ganger-labelled one) on every
/// configured daemon, then reports how many went and what failed. With `consul:`, the daemons
/// are those Consul lists now: one non-blocking health query per datacenter (passing instances,
/// as `ganger run` would use), reached with `consul.daemon_tls` when it is set.
public enum Cleanup {
    public struct Outcome: Sendable {
        public var removed = 0
        public var errors: [String] = []
        /// The daemons that were asked, in order (the static list, or what Consul listed).
        public var daemons: [String] = []
        public init() {}
    }

    /// Runs on `reactor` and calls `done` on the loop when every daemon has been handled.
    public static func run(config: GangerConfig, everyInstance: Bool, reactor: Reactor,
                           done: @escaping (Outcome) -> Void) {
        guard let consul = config.consul else {
            return clean(config.daemons, config: config, everyInstance: everyInstance, reactor: reactor, outcome: Outcome(), done: done)
        }
        var outcome = Outcome()
        let discovery: ConsulDiscovery
        do {
            // Errors come back in the outcome; the query's own log lines would only repeat them.
            discovery = try ConsulDiscovery(reactor: reactor, config: consul,
                                            logger: Logger(label: "ganger.cleanup") { _ in SwiftLogNoOpLogHandler() })
        } catch {
            outcome.errors.append(error.description)
            return done(outcome)
        }
        discovery.list { found, failures in
            discovery.stop()
            for failure in failures {
                outcome.errors.append("consul: cannot list service \(consul.service)"
                    + (failure.datacenter.map { " in datacenter \($0)" } ?? "") + ": \(failure.error)")
            }
            let daemons = found.map { DaemonConfig(url: $0.url, maxContainers: $0.maxContainers, tls: consul.daemonTLS) }
            clean(daemons, config: config, everyInstance: everyInstance, reactor: reactor, outcome: outcome, done: done)
        }
    }

    private static func clean(_ daemons: [DaemonConfig], config: GangerConfig, everyInstance: Bool, reactor: Reactor,
                              outcome initial: Outcome, done: @escaping (Outcome) -> Void) {
        var outcome = initial
        var clients: [DockerClient] = []
        let labels = everyInstance ? ["\(GangerLabels.managed)=true"] : GangerLabels.filters(instance: config.instance)
        let join = Join(daemons.count) { done(outcome); _ = clients }
        for daemon in daemons {
            outcome.daemons.append(daemon.url.description)
            let client: DockerClient
            do {
                client = try DockerClient(reactor: reactor, url: daemon.url, timeout: config.dockerTimeout, tls: daemon.tls)
            } catch {
                outcome.errors.append(error.description)
                join.leave()
                continue
            }
            clients.append(client)
            let removeAll = {
                remove(labels: labels, on: client, outcome: { outcome.removed += $0; outcome.errors += $1 }, done: { join.leave() })
            }
            // A daemon that answers nothing (frozen, deadlocked) is named and skipped within
            // `HealthTiming.contactTimeout`, not after `docker_timeout` per call. Any answer,
            // even an error status, says it is there: the calls below report their own errors.
            client.ping(timeout: config.contactTimeout) { result in
                if case let .failure(error) = result, error.isTransport {
                    outcome.errors.append(error.description)
                    return join.leave()
                }
                if everyInstance { return removeAll() }
                // A live Ganger holds this instance there: its sessions are not leftovers.
                checkLease(client, instance: config.instance) { held in
                    guard let held else { return removeAll() }
                    outcome.errors.append(held)
                    join.leave()
                }
            }
        }
    }

    /// Nil when no live process holds `instance` on `client`'s daemon (lapsed leases are removed);
    /// else why the daemon is skipped.
    private static func checkLease(_ client: DockerClient, instance: String, _ done: @escaping (String?) -> Void) {
        client.list(labels: Supervisor.leaseFilters(instance: instance)) { result in
            guard case let .success(found) = result else { return done(nil) }
            let leases = found.compactMap(InstanceLease.Record.init)
            switch InstanceLease.check(leases, boot: "", now: Int(wallClock()), host: currentHostName(), pidAlive: Supervisor.pidAlive) {
            case let .held(by: holder):
                done("docker \(client.name): instance \(instance) is held by a running Ganger (boot \(holder.boot), host "
                     + "\(holder.host), pid \(holder.pid)): stop it first; its containers were left alone")
            case let .free(lapsed):
                let join = Join(lapsed.count) { done(nil) }
                for id in lapsed { client.remove(id) { _ in join.leave() } }
            }
        }
    }

    /// Removes every container carrying `labels` (and `ganger.managed=true`) on `client`'s daemon.
    private static func remove(labels: [String], on client: DockerClient, outcome: @escaping (Int, [String]) -> Void,
                               done: @escaping () -> Void) {
        client.list(labels: labels) { result in
            switch result {
            case let .failure(error):
                outcome(0, [error.description])
                done()
            case let .success(listed):
                // The label filter is the daemon's to apply; one that ignores it (or a proxy in
                // between) must not get other containers removed. Only what is removed is
                // counted, or the join would wait for removals that never happen.
                let containers = listed.filter { $0.labels[GangerLabels.managed] == "true" }
                let each = Join(containers.count, done: done)
                for container in containers {
                    client.remove(container.id) { result in
                        switch result {
                        case .success: outcome(1, [])
                        case let .failure(error): outcome(0, [error.description])
                        }
                        each.leave()
                    }
                }
            }
        }
    }
}
