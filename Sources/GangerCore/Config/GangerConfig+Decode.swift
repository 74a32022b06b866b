extension GangerConfig {
    static let keys = [
        "instance", "daemons", "consul", "services", "status", "docker_timeout", "pull_timeout", "pull_progress_timeout", "launch_window", "shutdown_grace", "log", "control", "relay",
    ]

    /// Decodes a whole document (nil = empty document). Returns a config even when errors were
    /// recorded, so that the cross-field checks can still run on what was understood.
    static func decode(_ root: YAMLNode?, environment: [String: String], _ decoder: ConfigDecoder) -> GangerConfig {
        var config = GangerConfig(services: [])
        guard let f = decoder.fields(root, at: "", known: keys) else { return config }
        config.instance = decoder.value(f, "instance", default: config.instance) { text throws(ConfigError) in
            guard ServiceConfig.isValidName(text) else {
                throw ConfigError(path: "", message: "\(shown(text)) is not a valid instance name (lower-case letters, "
                    + "digits, '_', '.', '-'; starting with a letter or digit)")
            }
            return text
        }

        let daemonNodes = decoder.list(f, "daemons")
        config.daemons = daemonNodes.map { nodes in
            nodes.enumerated().map { decodeDaemon($1, at: "\(f.path("daemons"))[\($0)]", decoder) }
        } ?? []
        if let daemonNodes, daemonNodes.isEmpty {
            decoder.fail(f.path("daemons"), "must list at least one daemon (or use consul, or leave daemons out for $DOCKER_HOST)")
        }
        if f["consul"] != nil {
            config.consul = decodeConsul(f, decoder)
            if f["daemons"] != nil {
                decoder.fail(f.path("consul"), "daemons and consul are mutually exclusive: list daemons or discover them, not both")
            }
        } else if f["daemons"] == nil {
            do {
                config.daemons = [try DaemonConfig.fromEnvironment(environment)]
            } catch {
                decoder.fail(error.path, error.message)
            }
        }

        // An empty or absent list is reported by `validationErrors()`.
        if let nodes = decoder.list(f, "services") {
            config.services = nodes.enumerated().map { ServiceConfig.decode($1, at: "\(f.path("services"))[\($0)]", decoder) }
        }
        if let status = decoder.fields(f["status"], at: f.path("status"), known: ["listen", "max_connections_per_address"]) {
            config.status.listen = decoder.value(status, "listen", default: config.status.listen, HostPort.parseListen)
            config.status.maxConnectionsPerAddress = decoder.int(
                status, "max_connections_per_address", default: config.status.maxConnectionsPerAddress, minimum: 0, hint: "0 = no cap")
        }
        if let control = decoder.fields(f["control"], at: f.path("control"), known: ["socket"]) {
            let path = decoder.string(control, "socket", default: "")
            if !path.isEmpty && !path.hasPrefix("/") { decoder.fail(control.path("socket"), "must be an absolute path") }
            config.controlSocket = path.isEmpty ? nil : path
        }
        config.dockerTimeout = decoder.duration(f, "docker_timeout", default: config.dockerTimeout)
        config.shutdownGrace = decoder.duration(f, "shutdown_grace", default: config.shutdownGrace)
        if config.dockerTimeout == .zero {
            decoder.fail(f.path("docker_timeout"), "must be more than 0s")
        }
        config.pullTimeout = decoder.duration(f, "pull_timeout", default: config.pullTimeout)
        let progress = decoder.duration(f, "pull_progress_timeout", default: config.pullProgressTimeout ?? .zero)
        config.pullProgressTimeout = progress == .zero ? nil : progress
        if let node = f["launch_window"] {
            if case let .scalar(text) = node, text.text == "off" || text.text == "false" {
                config.launchWindow = nil
            } else if let window = decoder.fields(node, at: f.path("launch_window"), known: ["min", "max", "initial"]) {
                var value = GangerConfig.LaunchWindowConfig()
                value.minimum = decoder.int(window, "min", default: value.minimum, minimum: 1, hint: "launches in flight per daemon")
                value.maximum = decoder.int(window, "max", default: value.maximum, minimum: 1, hint: "launches in flight per daemon")
                value.initial = decoder.int(window, "initial", default: value.initial, minimum: 1, hint: "launches in flight per daemon")
                if value.maximum < value.minimum { decoder.fail(window.path("max"), "must be at least min (\(value.minimum))") }
                config.launchWindow = value
            }
        }
        if config.pullTimeout == .zero {
            decoder.fail(f.path("pull_timeout"), "must be more than 0s")
        }
        if f["relay"] != nil { config.relay = RelayConfig.decode(f["relay"], at: f.path("relay"), decoder) }
        if let log = decoder.fields(f["log"], at: f.path("log"), known: ["level", "format"]) {
            config.log.level = decoder.choice(log, "level", default: config.log.level)
            config.log.format = decoder.choice(log, "format", default: config.log.format)
        }
        return config
    }

    /// One `daemons[i]` entry: `url`, `max_containers`, and optionally `tls` or `cert_path`.
    private static func decodeDaemon(_ node: YAMLNode, at path: String, _ decoder: ConfigDecoder) -> DaemonConfig {
        var daemon = DaemonConfig(url: .localSocket)
        guard let f = decoder.fields(node, at: path, known: ["url", "max_containers", "tls", "cert_path", "host_ip"]) else {
            return daemon
        }
        daemon.url = decoder.required(f, "url", DaemonURL.parse) ?? daemon.url
        daemon.maxContainers = decoder.int(
            f, "max_containers", default: daemon.maxContainers, minimum: -1, hint: "-1 = unlimited, 0 = none")
        daemon.tls = decodeTLS(f, "tls", "cert_path", decoder)
        if daemon.tls != nil, f["url"] != nil, !daemon.url.isTCP {
            let key = f["tls"] != nil ? "tls" : "cert_path"
            decoder.fail(f.path(key), "TLS applies only to tcp:// daemons, not \(daemon.url)")
        }
        daemon.hostIP = decoder.value(f, "host_ip", default: nil, DaemonConfig.parseHostIP)
        if f["host_ip"] != nil, f["url"] != nil, !daemon.url.isRemote {
            decoder.fail(f.path("host_ip"), "applies only to tcp:// and ssh:// daemons: a local daemon publishes no port "
                + "(its containers are reached at their own address)")
        }
        return daemon
    }

    /// Client certificates for daemons, written as `TLS_KEY: {ca, cert, key}` or as
    /// `CERT_PATH_KEY: DIR` (Docker's `DOCKER_CERT_PATH` layout), never both; nil when neither.
    private static func decodeTLS(_ f: Fields, _ tlsKey: String, _ certPathKey: String,
                                  _ decoder: ConfigDecoder) -> DaemonConfig.TLS? {
        var result: DaemonConfig.TLS?
        if f[tlsKey] != nil,
           let tls = decoder.fields(f[tlsKey], at: f.path(tlsKey), known: ["ca", "cert", "key"]) {
            let ca = decoder.required(tls, "ca", ConfigDecoder.nonEmpty)
            let cert = decoder.required(tls, "cert", ConfigDecoder.nonEmpty)
            let key = decoder.required(tls, "key", ConfigDecoder.nonEmpty)
            if let ca, let cert, let key { result = .init(ca: ca, cert: cert, key: key) }
        }
        if let certPath = decoder.value(f, certPathKey, default: nil, { text throws(ConfigError) in
            try ConfigDecoder.nonEmpty(text)
        }) {
            if f[tlsKey] != nil {
                decoder.fail(f.path(certPathKey), "give either \(tlsKey) or \(certPathKey), not both")
            }
            result = .init(certPath: certPath)
        }
        return result
    }

    /// The `consul:` mapping; every key has a default, so `consul: {}` means the local agent.
    private static func decodeConsul(_ top: Fields, _ decoder: ConfigDecoder) -> ConsulConfig {
        var consul = ConsulConfig()
        let known = ["hosts", "service", "datacenters", "default_max_containers", "consistency", "daemon_tls", "daemon_cert_path",
                     "host_ip", "token", "token_file", "scheme", "ca_file", "allow_addresses", "max_containers_limit", "insecure"]
        guard let f = decoder.fields(top["consul"], at: top.path("consul"), known: known) else { return consul }
        if let hosts = decoder.list(f, "hosts") {
            consul.hosts = hosts.enumerated().compactMap { (index, node) -> HostPort? in
                let path = "\(f.path("hosts"))[\(index)]"
                guard let text = decoder.text(node, at: path) else {
                    if ConfigDecoder.isNull(node) { decoder.fail(path, "missing") }
                    return nil
                }
                do throws(ConfigError) {
                    return try HostPort.parseEndpoint(text)
                } catch {
                    decoder.fail(path, error.message)
                    return nil
                }
            }
            if hosts.isEmpty { decoder.fail(f.path("hosts"), "must list at least one Consul agent (HOST:PORT)") }
        }
        consul.service = decoder.string(f, "service", default: consul.service)
        consul.datacenters = decoder.strings(f, "datacenters") ?? []
        consul.defaultMaxContainers = decoder.int(
            f, "default_max_containers", default: consul.defaultMaxContainers, minimum: -1, hint: "-1 = unlimited")
        consul.consistency = decoder.choice(f, "consistency", default: consul.consistency)
        // `daemon_` because the certificates are for the discovered Docker daemons, not for Consul.
        consul.daemonTLS = decodeTLS(f, "daemon_tls", "daemon_cert_path", decoder)
        consul.hostIP = decoder.value(f, "host_ip", default: nil, DaemonConfig.parseHostIP)
        consul.token = decoder.value(f, "token", default: nil) { text throws(ConfigError) in try ConfigDecoder.nonEmpty(text) }
        consul.tokenFile = decoder.value(f, "token_file", default: nil) { text throws(ConfigError) in try ConfigDecoder.nonEmpty(text) }
        if consul.token != nil, consul.tokenFile != nil {
            decoder.fail(f.path("token_file"), "give either token or token_file, not both")
        }
        consul.scheme = decoder.choice(f, "scheme", default: consul.scheme)
        consul.caFile = decoder.value(f, "ca_file", default: nil) { text throws(ConfigError) in try ConfigDecoder.nonEmpty(text) }
        if consul.caFile != nil, consul.scheme != .https {
            decoder.fail(f.path("ca_file"), "applies only with scheme: https")
        }
        if let kinds = decoder.strings(f, "allow_addresses") {
            for kind in kinds {
                if let parsed = ConsulConfig.AddressKind(rawValue: kind) {
                    consul.allowAddresses.insert(parsed)
                } else {
                    decoder.fail(f.path("allow_addresses"), "\(kind) is not one of "
                        + ConsulConfig.AddressKind.allCases.map(\.rawValue).joined(separator: ", "))
                }
            }
        }
        consul.maxContainersLimit = decoder.int(
            f, "max_containers_limit", default: consul.maxContainersLimit, minimum: 0, hint: "the largest cap a tag may set")
        consul.insecure = decoder.value(f, "insecure", default: consul.insecure, ServiceConfig.parseBool)
        return consul
    }
}
