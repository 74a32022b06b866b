extension GangerConfig {
    /// The fully resolved configuration as YAML: every key, defaults filled in, durations and
    /// sizes in their shortest exact form. This is what `ganger check` prints, and parsing it
    /// again yields an equal configuration. With `consul` the `daemons` key is left out (the
    /// two exclude each other); without it the daemons are listed, even when they came from
    /// `$DOCKER_HOST`, so the output does not depend on the environment it is read in.
    ///
    /// `env` values are shown as `"***"` unless `showSecrets`: they often hold passwords and
    /// tokens, and `ganger check` output ends up in terminals, tickets and CI logs. Only the
    /// unmasked form parses back to an equal configuration.
    public func renderYAML(showSecrets: Bool = false) -> String {
        var out: [String] = []
        out.append("instance: \(yaml(instance))")
        if let consul {
            out.append("consul:")
            out.append("  hosts:")
            out += consul.hosts.map { "    - \(yaml($0.description))" }
            out.append("  service: \(yaml(consul.service))")
            out.append("  datacenters: \(flowList(consul.datacenters))")
            out.append("  default_max_containers: \(consul.defaultMaxContainers)")
            out.append("  consistency: \(consul.consistency.rawValue)")
            out.append("  host_ip: \(consul.hostIP.map { yaml($0) } ?? "auto")")
            if let token = consul.token {
                out.append(showSecrets ? "  token: \(yaml(token))" : "  token: \"***\"  # hidden: ganger check --show-secrets shows it")
            }
            if let file = consul.tokenFile { out.append("  token_file: \(yaml(file))") }
            out.append("  scheme: \(consul.scheme.rawValue)")
            if let file = consul.caFile { out.append("  ca_file: \(yaml(file))") }
            out.append("  allow_addresses: \(flowList(consul.allowAddresses.sorted().map(\.rawValue)))")
            out.append("  max_containers_limit: \(consul.maxContainersLimit)")
            out.append("  insecure: \(consul.insecure)")
            if let tls = consul.daemonTLS {
                out.append("  daemon_tls:")
                out += render(tls, indent: "    ")
            }
        } else {
            out.append("daemons:")
            for daemon in daemons {
                out.append("  - url: \(yaml(daemon.url.description))")
                out.append("    max_containers: \(daemon.maxContainers)")
                if daemon.url.isRemote {
                    out.append("    host_ip: \(daemon.hostIP.map { yaml($0) } ?? "auto")")
                }
                if let tls = daemon.tls {
                    out.append("    tls:")
                    out += render(tls, indent: "      ")
                }
            }
        }
        out.append("services:")
        for service in services {
            out += render(service, showSecrets: showSecrets)
        }
        out.append("status:")
        out.append("  listen: \(yaml(status.listen.description))")
        out.append("  max_connections_per_address: \(status.maxConnectionsPerAddress)")
        // Only when set: the derived default follows the instance name (and the uid).
        if let controlSocket { out.append("control: {socket: \(yaml(controlSocket))}") }
        out.append("docker_timeout: \(dockerTimeout.configString)")
        out.append("pull_timeout: \(pullTimeout.configString)")
        out.append("pull_progress_timeout: \((pullProgressTimeout ?? .zero).configString)")
        out.append(launchWindow.map { "launch_window: {min: \($0.minimum), max: \($0.maximum), initial: \($0.initial)}" } ?? "launch_window: off")
        out.append("shutdown_grace: \(shutdownGrace.configString)")
        out.append(relay.rendered)
        out.append("log: {level: \(log.level.rawValue), format: \(log.format.rawValue)}")
        return out.joined(separator: "\n") + "\n"
    }

    /// The three PEM paths, one per line (`cert_path` is printed expanded).
    private func render(_ tls: DaemonConfig.TLS, indent: String) -> [String] {
        ["\(indent)ca: \(yaml(tls.ca))", "\(indent)cert: \(yaml(tls.cert))", "\(indent)key: \(yaml(tls.key))"]
    }

    /// One `services` entry, block style, with the small groups in flow style as in DESIGN.md.
    private func render(_ s: ServiceConfig, showSecrets: Bool) -> [String] {
        var out = [
            "  - name: \(yaml(s.name))",
            "    listen: \(yaml(s.listen.description))",
            "    image: \(yaml(s.image))",
            "    port: \(s.port)",
            "    command: \(flowList(s.command))",
        ]
        if s.env.isEmpty {
            out.append("    env: {}")
        } else {
            out.append(showSecrets ? "    env:" : "    env:  # values hidden: ganger check --show-secrets shows them")
            out += s.env.keys.sorted().map { "      \(yaml($0)): \(showSecrets ? yaml(s.env[$0] ?? "") : "\"***\"")" }
        }
        out += [
            "    pull: \(s.pull.rawValue)",
            "    ready: {attempts: \(s.ready.attempts), interval: \(s.ready.interval.configString), "
                + "timeout: \(s.ready.timeout.configString)}",
            "    limits: {memory: \(s.limits.memory), cpus: \(s.limits.cpus), pids: \(s.limits.pids), log: \(s.limits.log)}",
            "    network: \(yaml(s.network))",
            "    pool: {warm: \(s.pool.warm), reuse: \(s.pool.reuse)}",
            "    queue: {max: \(s.queue.max), timeout: \(s.queue.timeout.configString), abort_on_close: \(s.queue.abortOnClose)}",
            "    session: {max_duration: \(s.session.maxDuration.configString), "
                + "idle_timeout: \(s.session.idleTimeout.configString), keepalive: {idle: \(s.session.keepalive.idle.configString), "
                + "interval: \(s.session.keepalive.interval.configString), count: \(s.session.keepalive.count)}, "
                + "user_timeout: \(s.session.userTimeout.configString)}",
            "    per_source: {max_connections: \(s.perSource.maxConnections), rate: \(Int(s.perSource.rate)), burst: \(s.perSource.burst)}",
            "    accept: {rate: \(Int(s.accept.rate)), burst: \(s.accept.burst)}",
            "    client_address: \(s.clientAddress.rawValue)",
            "    netns: {mode: \(s.netns.mode.rawValue), holders: \(s.netns.holders), reuse: \(s.netns.reuse), "
                + "return_wait: \(s.netns.returnWait.configString), start_wait: \(s.netns.startWait.configString)}",
            "    sandbox: {preset: \(s.sandbox.preset.rawValue), read_only: \(s.sandbox.readOnly), tmpfs: {"
                + s.sandbox.tmpfs.keys.sorted().map { "\(yaml($0, flow: true)): \(yaml(s.sandbox.tmpfs[$0] ?? "", flow: true))" }
                    .joined(separator: ", ")
                + "}, cap_drop: \(flowList(s.sandbox.capDrop)), cap_add: \(flowList(s.sandbox.capAdd))}",
        ]
        return out
    }

    /// `[a, "b c"]` with each element quoted as a flow context needs.
    private func flowList(_ items: [String]) -> String {
        "[" + items.map { yaml($0, flow: true) }.joined(separator: ", ") + "]"
    }

    /// A string as a YAML scalar: plain when that reads back as the same string, else double
    /// quoted. In flow context (`[...]`, `{...}`) a `:` forces quotes, since libyaml may take it
    /// as a key indicator there; in block context a `:` at the end does (`cpus:` then a line
    /// end is a key: found by the config fuzzer in an `env` value).
    private func yaml(_ text: String, flow: Bool = false) -> String {
        let plainStart: (Unicode.Scalar) -> Bool = { ("a"..."z").contains($0) || ("A"..."Z").contains($0)
            || ("0"..."9").contains($0) || $0 == "/" || $0 == "_" }
        let plainRest: (Unicode.Scalar) -> Bool = { plainStart($0) || $0 == "." || $0 == "-" || $0 == "+"
            || $0 == "@" || (!flow && $0 == ":") }
        if let first = text.unicodeScalars.first, plainStart(first), text.unicodeScalars.allSatisfy(plainRest),
           text.unicodeScalars.last != ":", YAMLScalar.resolve(plain: text) == .str {
            return text
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
