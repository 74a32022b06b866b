public import EventLoop

/// `ganger cleanup`: removes this instance's containers (or every ganger-labelled one) on every
/// configured daemon, then reports how many went and what failed.
public enum Cleanup {
    public struct Outcome: Sendable {
        public var removed = 0
        public var errors: [String] = []
        public init() {}
    }

    /// Runs on `reactor` and calls `done` on the loop when every daemon has been handled.
    public static func run(config: GangerConfig, everyInstance: Bool, reactor: Reactor,
                           done: @escaping (Outcome) -> Void) {
        var outcome = Outcome()
        var clients: [DockerClient] = []
        let labels = everyInstance ? ["\(GangerLabels.managed)=true"] : GangerLabels.filters(instance: config.instance)
        let join = Join(config.daemons.count) { done(outcome); _ = clients }
        for daemon in config.daemons {
            let client: DockerClient
            do {
                client = try DockerClient(reactor: reactor, url: daemon.url, timeout: config.dockerTimeout)
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
                case let .success(containers):
                    let each = Join(containers.count) { join.leave() }
                    for container in containers where container.labels[GangerLabels.managed] == "true" {
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
