import Logging

extension Supervisor {
    /// Looks up the networks of `settings` on each of `up` daemons, all in parallel
    /// (`ServiceNetwork`): `done` gets the first problem (a network a daemon lacks, or one it
    /// did not answer for), or nil. A sandboxed service whose sessions can reach each other's
    /// ports there is warned about, once per daemon each time its daemons are readied.
    func prepareNetworks(_ settings: [ServiceConfig], on up: [Int], _ done: @escaping (String?) -> Void) {
        let names = Set(settings.map(\.network)).sorted()
        var firstError: String?
        let join = Join(names.count * up.count) { done(firstError) }
        for name in names {
            let users = settings.filter { $0.network == name }
            for index in up {
                let daemon = daemons[index]
                daemon.engine.inspectNetwork(name) { [self] result in
                    switch result {
                    case .success(nil):
                        if firstError == nil { firstError = ServiceNetwork.missing(name, services: users.map(\.name), daemon: daemon.name) }
                    case let .success(network?):
                        for service in ServiceNetwork.exposed(users, on: network) {
                            logger.warning("sessions of this sandboxed service can reach each other's ports: give it a network created with -o \(ServiceNetwork.iccOption)=false (docs/security.md)", metadata: [
                                "service": "\(service.name)", "network": "\(name)", "driver": "\(network.driver ?? "-")", "daemon": "\(daemon.name)",
                            ])
                        }
                    case let .failure(error):
                        if firstError == nil { firstError = "cannot look up network \(name) on daemon \(daemon.name): \(error.message)" }
                    }
                    join.leave()
                }
            }
        }
    }
}
