extension GangerConfig {
    /// The rules that involve more than one key: at least one service, unique service names,
    /// listen addresses that can all be bound, unique daemons, a total cap above zero, and
    /// `client_address: env` only with containers created for their client.
    ///
    /// Rules about a single value (ranges, name syntax) are checked while decoding.
    /// Placeholders left by a failed decode (empty name, port 0) are skipped: they were
    /// reported already.
    public func validationErrors() -> [ConfigError] {
        var errors: [ConfigError] = []
        if services.isEmpty {
            errors.append(ConfigError(path: "services", message: "at least one service is required"))
        }
        var names: [String: Int] = [:]
        var listeners: [(path: String, address: HostPort)] = []
        for (index, service) in services.enumerated() {
            let path = "services[\(index)]"
            if !service.name.isEmpty {
                if let first = names[service.name] {
                    errors.append(ConfigError(
                        path: "\(path).name", message: "\(shown(service.name)) is already the name of services[\(first)]"))
                } else {
                    names[service.name] = index
                }
            }
            if let clash = listeners.first(where: { $0.address.conflicts(with: service.listen) }) {
                errors.append(ConfigError(
                    path: "\(path).listen", message: "\(service.listen) overlaps \(clash.path) (\(clash.address))"))
            }
            listeners.append(("\(path).listen", service.listen))
            errors += clientAddressErrors(service, at: path)
            // A reused network namespace outlives a session: a service that may reconfigure it
            // (NET_ADMIN) or craft raw packets in it (NET_RAW) could leave traps for the next one.
            if service.netns.returnWait > ServiceConfig.Netns.maxReturnWait {
                errors.append(ConfigError(path: "\(path).netns.return_wait", message:
                    "\(service.netns.returnWait.configString) is over the limit of \(ServiceConfig.Netns.maxReturnWait.configString)"))
            }
            if service.netns.startWait > ServiceConfig.Netns.maxStartWait {
                errors.append(ConfigError(path: "\(path).netns.start_wait", message:
                    "\(service.netns.startWait.configString) is over the limit of \(ServiceConfig.Netns.maxStartWait.configString)"))
            }
            if service.netns.reuse > 1 {
                for cap in service.sandbox.capAdd where ["NET_ADMIN", "NET_RAW", "ALL", "CAP_NET_ADMIN", "CAP_NET_RAW"].contains(cap) {
                    errors.append(ConfigError(path: "\(path).sandbox.cap_add", message:
                        "\(cap) cannot be granted with netns.reuse \(service.netns.reuse): a reused network namespace would carry its changes to the next session"))
                }
            }
        }
        if let clash = listeners.first(where: { $0.address.conflicts(with: status.listen) }) {
            errors.append(ConfigError(
                path: "status.listen", message: "\(status.listen) overlaps \(clash.path) (\(clash.address))"))
        }
        errors += daemonErrors()
        return errors
    }

    /// `env` bakes the address into the container at creation: it must be created for exactly
    /// one, already known client.
    private func clientAddressErrors(_ service: ServiceConfig, at path: String) -> [ConfigError] {
        guard service.clientAddress == .env else { return [] }
        var errors: [ConfigError] = []
        if service.pool.warm > 0 {
            errors.append(ConfigError(
                path: "\(path).client_address",
                message: "env cannot be used with pool.warm \(service.pool.warm): a pooled container is started "
                    + "before its client is known (use proxy-v1 or proxy-v2, or pool.warm 0)"))
        }
        if service.pool.reuse > 1 {
            errors.append(ConfigError(
                path: "\(path).client_address",
                message: "env cannot be used with pool.reuse \(service.pool.reuse): later clients would see the "
                    + "first client's address (use proxy-v1 or proxy-v2, or pool.reuse 1)"))
        }
        return errors
    }

    /// Static daemons: no URL twice, and not every cap zero.
    private func daemonErrors() -> [ConfigError] {
        guard consul == nil, !daemons.isEmpty else { return [] }
        var errors: [ConfigError] = []
        var seen: [DaemonURL: Int] = [:]
        for (index, daemon) in daemons.enumerated() {
            if let first = seen[daemon.url] {
                errors.append(ConfigError(
                    path: "daemons[\(index)].url", message: "\(daemon.url) is already listed as daemons[\(first)]"))
            } else {
                seen[daemon.url] = index
            }
        }
        if daemons.allSatisfy({ $0.maxContainers == 0 }) {
            errors.append(ConfigError(
                path: "daemons",
                message: "every daemon has max_containers 0, so no container could ever start "
                    + "(raise one cap, or -1 for unlimited)"))
        }
        return errors
    }
}
