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
        } else {
            for (index, daemon) in daemons.enumerated() where daemon.url.isRemote {
                if let ip = daemon.hostIP, DaemonConfig.isEveryInterface(ip) {
                    lines.append("daemons[\(index)].host_ip: \(shownHostIP(ip)) \(open)")
                }
            }
        }
        return lines
    }

    private func shownHostIP(_ ip: String) -> String {
        ip.isEmpty ? "\"\" (Docker's every interface)" : ip
    }
}
