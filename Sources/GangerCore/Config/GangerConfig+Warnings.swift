extension GangerConfig {
    /// Settings that are valid but open something an operator should know about, one line each
    /// (`KEY PATH: what is open and what to do`). `ganger check` prints them to standard error;
    /// they never fail a load.
    public func warnings() -> [String] {
        var lines: [String] = []
        let open = "publishes every session's port on every interface of the daemon's host: anyone who can reach "
            + "that host reaches other clients' containers directly, bypassing Ganger (leave host_ip out for the "
            + "address Ganger reaches the daemon at, or name the interface Ganger uses)"
        if let consul {
            if let ip = consul.hostIP, DaemonConfig.isEveryInterface(ip) {
                lines.append("consul.host_ip: \(shownHostIP(ip)) \(open)")
            }
            if consul.insecure && consul.daemonTLS == nil {
                lines.append("consul.insecure: true reaches every discovered daemon over plain TCP: whoever can register a "
                    + "service named \(consul.service) in Consul, or sits on the path, receives images, env values, client "
                    + "addresses and client bytes (set daemon_tls to verify the daemons)")
            }
            if consul.scheme == .http && (consul.token != nil || consul.tokenFile != nil) {
                lines.append("consul.token: sent over plain http: anyone on the path to Consul reads it (scheme: https)")
            }
            if !consul.allowAddresses.isEmpty {
                lines.append("consul.allow_addresses: \(consul.allowAddresses.sorted().map(\.rawValue).joined(separator: ", ")) "
                    + "lets a registration aim Ganger at such addresses (this host's loopback, a metadata service)")
            }
        } else {
            for (index, daemon) in daemons.enumerated() where daemon.url.isRemote {
                if let ip = daemon.hostIP, DaemonConfig.isEveryInterface(ip) {
                    lines.append("daemons[\(index)].host_ip: \(shownHostIP(ip)) \(open)")
                }
            }
        }
        for (index, service) in services.enumerated() where service.limits.log.bytes == 0 {
            lines.append("services[\(index)].limits.log: 0 leaves a session's log to the daemon's settings: with Docker's "
                + "default json-file driver, whatever a session writes to its stdout stays on the daemon's disk for as long "
                + "as it runs (leave it out for 10m)")
        }
        return lines
    }

    private func shownHostIP(_ ip: String) -> String {
        ip.isEmpty ? "\"\" (Docker's every interface)" : ip
    }
}
