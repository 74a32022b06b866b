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
            client.list(labels: labels) { result in
                switch result {
                case let .failure(error):
                    outcome.errors.append(error.description)
                    join.leave()
                case let .success(listed):
                    // The label filter is the daemon's to apply; one that ignores it (or a proxy in
                    // between) must not get other containers removed. Only what is removed is
                    // counted, or the join would wait for removals that never happen.
                    let containers = listed.filter { $0.labels[GangerLabels.managed] == "true" }
                    let each = Join(containers.count) { join.leave() }
                    for container in containers {
                        client.remove(container.id) { result in
                            switch result {
                            case .success: outcome.removed += 1
                            case let .failure(error): outcome.errors.append(error.description)
                            }
                            each.leave()
                        }
                    }
                }
            }
        }
    }
}
