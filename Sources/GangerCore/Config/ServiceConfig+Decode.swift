extension ServiceConfig {
    static let keys = [
        "name", "listen", "image", "port", "command", "env", "pull", "ready", "limits", "network",
        "pool", "queue", "session", "per_source", "accept", "client_address", "netns", "sandbox",
    ]

    /// Decodes one `services[i]` entry. Required keys that are missing or invalid get
    /// placeholders (empty name, port 0) so that later entries keep their indices; the
    /// errors recorded in `decoder` make the load fail anyway.
    static func decode(_ node: YAMLNode, at path: String, _ decoder: ConfigDecoder) -> ServiceConfig {
        var service = ServiceConfig(name: "", listen: HostPort(host: "0.0.0.0", port: 0), image: "", port: 0)
        guard let f = decoder.fields(node, at: path, known: keys) else { return service }
        service.name = decoder.required(f, "name", parseName) ?? ""
        service.listen = decoder.required(f, "listen", HostPort.parseListen) ?? service.listen
        service.image = decoder.required(f, "image", ConfigDecoder.nonEmpty) ?? ""
        service.port = decoder.required(f, "port", parsePort) ?? 0
        service.command = decoder.strings(f, "command") ?? []
        service.env = decodeEnv(f, decoder)
        service.pull = decoder.choice(f, "pull", default: service.pull)
        service.network = decoder.value(f, "network", default: service.network, parseNetwork)
        service.clientAddress = decoder.choice(f, "client_address", default: service.clientAddress)

        if let ready = decoder.fields(f["ready"], at: f.path("ready"), known: ["attempts", "interval", "timeout"]) {
            service.ready.attempts = decoder.int(ready, "attempts", default: service.ready.attempts, minimum: 1, hint: "connection attempts")
            service.ready.interval = decoder.duration(ready, "interval", default: service.ready.interval)
            service.ready.timeout = decoder.duration(ready, "timeout", default: service.ready.timeout)
            if service.ready.timeout == .zero {
                decoder.fail(ready.path("timeout"), "must be more than 0s: a container that never answers would hold its client forever")
            }
        }
        var pidsGiven = false
        if let limits = decoder.fields(f["limits"], at: f.path("limits"), known: ["memory", "cpus", "pids", "log"]) {
            pidsGiven = limits["pids"] != nil
            service.limits.memory = decoder.size(limits, "memory", default: service.limits.memory)
            if service.limits.memory.bytes != 0, service.limits.memory < Limits.minimumMemory {
                decoder.fail(limits.path("memory"), "\(service.limits.memory) is below Docker's minimum of 6m (0 = no limit)")
            }
            service.limits.cpus = decoder.value(limits, "cpus", default: service.limits.cpus, parseCPUs)
            service.limits.pids = decoder.int(limits, "pids", default: service.limits.pids, minimum: 0, hint: "0 = no limit")
            service.limits.log = decoder.size(limits, "log", default: service.limits.log)
            if service.limits.log.bytes != 0, service.limits.log < Limits.minimumLog {
                decoder.fail(limits.path("log"), "\(service.limits.log) is below the minimum of 1k (0 = the daemon's own log settings)")
            }
        }
        if let pool = decoder.fields(f["pool"], at: f.path("pool"), known: ["warm", "reuse"]) {
            service.pool.warm = decoder.int(pool, "warm", default: service.pool.warm, minimum: 0, hint: "0 = start on demand")
            service.pool.reuse = decoder.int(pool, "reuse", default: service.pool.reuse, minimum: 1, hint: "sessions per container")
        }
        if let queue = decoder.fields(f["queue"], at: f.path("queue"), known: ["max", "timeout", "abort_on_close"]) {
            service.queue.max = decoder.int(queue, "max", default: service.queue.max, minimum: 0, hint: "0 = no queueing")
            service.queue.timeout = decoder.duration(queue, "timeout", default: service.queue.timeout)
            service.queue.abortOnClose = decoder.value(queue, "abort_on_close", default: service.queue.abortOnClose, parseBool)
        }
        if let session = decoder.fields(f["session"], at: f.path("session"),
                                        known: ["max_duration", "idle_timeout", "keepalive", "user_timeout"]) {
            service.session.maxDuration = decoder.duration(session, "max_duration", default: service.session.maxDuration)
            service.session.idleTimeout = decoder.duration(session, "idle_timeout", default: service.session.idleTimeout)
            service.session.userTimeout = decoder.duration(session, "user_timeout", default: service.session.userTimeout)
            if let keepalive = decoder.fields(session["keepalive"], at: session.path("keepalive"), known: ["idle", "interval", "count"]) {
                var value = service.session.keepalive
                value.idle = decoder.duration(keepalive, "idle", default: value.idle)
                value.interval = decoder.duration(keepalive, "interval", default: value.interval)
                value.count = decoder.int(keepalive, "count", default: value.count, minimum: 1, hint: "probes before the peer counts as gone")
                service.session.keepalive = value
            }
        }
        if let source = decoder.fields(f["per_source"], at: f.path("per_source"), known: ["max_connections", "rate", "burst"]) {
            service.perSource.maxConnections = decoder.int(
                source, "max_connections", default: service.perSource.maxConnections, minimum: 0, hint: "0 = unlimited")
            service.perSource.rate = Double(decoder.int(source, "rate", default: Int(service.perSource.rate), minimum: 0,
                                                        hint: "new connections a second from one address; 0 = unlimited"))
            service.perSource.burst = decoder.int(source, "burst", default: service.perSource.burst, minimum: 1, hint: "connections at once")
        }
        if let accept = decoder.fields(f["accept"], at: f.path("accept"), known: ["rate", "burst"]) {
            service.accept.rate = Double(decoder.int(accept, "rate", default: Int(service.accept.rate), minimum: 0,
                                                     hint: "new connections a second; 0 = unlimited"))
            service.accept.burst = decoder.int(accept, "burst", default: service.accept.burst, minimum: 1, hint: "connections at once")
        }
        if let netns = decoder.fields(f["netns"], at: f.path("netns"), known: ["mode", "holders", "reuse", "return_wait", "start_wait"]) {
            service.netns.mode = decoder.choice(netns, "mode", default: service.netns.mode)
            service.netns.holders = decoder.int(netns, "holders", default: service.netns.holders, minimum: 0, hint: "holders kept ready")
            service.netns.reuse = decoder.int(netns, "reuse", default: service.netns.reuse, minimum: 1, hint: "sessions per holder")
            service.netns.returnWait = decoder.duration(netns, "return_wait", default: service.netns.returnWait)
            service.netns.startWait = decoder.duration(netns, "start_wait", default: service.netns.startWait)
        }
        if let sandbox = decoder.fields(f["sandbox"], at: f.path("sandbox"),
                                        known: ["preset", "read_only", "tmpfs", "cap_drop", "cap_add"]) {
            // The preset first: every other key overrides what it set.
            service.sandbox = Sandbox(preset: decoder.choice(sandbox, "preset", default: Sandbox.Preset.default))
            service.sandbox.readOnly = decoder.value(sandbox, "read_only", default: service.sandbox.readOnly, parseBool)
            if sandbox["tmpfs"] != nil {
                service.sandbox.tmpfs = decodeMap(sandbox, "tmpfs", decoder, keyRule: "absolute paths") { $0.hasPrefix("/") }
            }
            service.sandbox.capDrop = decoder.strings(sandbox, "cap_drop")?.map { $0.uppercased() } ?? service.sandbox.capDrop
            service.sandbox.capAdd = decoder.strings(sandbox, "cap_add")?.map { $0.uppercased() } ?? service.sandbox.capAdd
        }
        if service.sandbox.preset == .strict && !pidsGiven { service.limits.pids = Sandbox.strictPids }
        return service
    }

    /// A network on which each session has an address of its own for Ganger to reach (or a
    /// published port): `host`, `none` and `container:…` give none. With them every launch
    /// failed at its first connection (or every session bound the same host port), while
    /// clients waited in the queue.
    static func parseNetwork(_ text: String) throws(ConfigError) -> String {
        let name = try ConfigDecoder.nonEmpty(text)
        if name == "host" || name == "none" {
            throw ConfigError(path: "", message: "\(name) gives a session no address of its own for Ganger to reach: use bridge or a network of your own")
        }
        if name.hasPrefix("container:") {
            throw ConfigError(path: "", message: "\(shown(name)) would put every session in one container's network: "
                + "for sessions that share a network namespace use netns.mode: holder")
        }
        return name
    }

    static func parseBool(_ text: String) throws(ConfigError) -> Bool {
        switch text {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigError(path: "", message: "\(shown(text)) is not true or false")
        }
    }

    /// A mapping of strings (tmpfs: path → options); keys must satisfy `valid`.
    private static func decodeMap(_ f: Fields, _ key: String, _ decoder: ConfigDecoder, keyRule: String,
                                  valid: (String) -> Bool) -> [String: String] {
        guard let node = f[key] else { return [:] }
        guard case .mapping(let mapping, _) = node else {
            decoder.fail(f.path(key), "must be a mapping")
            return [:]
        }
        var result: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let name) = keyNode, valid(name.text) else {
                decoder.fail(f.path(key), "keys must be \(keyRule)")
                continue
            }
            if ConfigDecoder.isNull(valueNode) { result[name.text] = ""; continue }
            if let value = decoder.text(valueNode, at: "\(f.path(key)).\(name.text)") { result[name.text] = value }
        }
        return result
    }

    /// A service name: `[a-z0-9][a-z0-9_.-]*`, because it becomes a label value and part of
    /// container names.
    static func parseName(_ text: String) throws(ConfigError) -> String {
        guard isValidName(text) else {
            throw ConfigError(path: "", message: "\(shown(text)) is not a valid name (lower-case letters, digits, "
                + "'_', '.', '-'; starting with a letter or digit)")
        }
        return text
    }

    /// True when `text` matches `[a-z0-9][a-z0-9_.-]*` (also used for `instance`).
    static func isValidName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isLowerAlnum(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLowerAlnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    private static func isLowerAlnum(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    /// The container's TCP port: `12345` or `"12345/tcp"`.
    public static func parsePort(_ text: String) throws(ConfigError) -> UInt16 {
        var number = Substring(text)
        if let slash = text.firstIndex(of: "/") {
            guard text[text.index(after: slash)...] == "tcp" else {
                throw ConfigError(path: "", message: "\(shown(text)): only TCP ports can be proxied (write 12345 or \"12345/tcp\")")
            }
            number = text[..<slash]
        }
        guard number.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(number), (1...65535).contains(port) else {
            throw ConfigError(path: "", message: "\(shown(text)) is not a port (1-65535)")
        }
        return UInt16(port)
    }

    /// A CPU count: a non-negative decimal, 0 = no limit.
    private static func parseCPUs(_ text: String) throws(ConfigError) -> Double {
        guard let cpus = Double(text), cpus.isFinite, cpus >= 0 else {
            throw ConfigError(path: "", message: "\(shown(text)) is not a number of CPUs (e.g. 0.5, 1, 2.0; 0 = no limit)")
        }
        return cpus
    }

    /// `env:` as a mapping of names to scalar values; names may not be empty or contain `=`.
    private static func decodeEnv(_ f: Fields, _ decoder: ConfigDecoder) -> [String: String] {
        guard let node = f["env"] else { return [:] }
        guard case .mapping(let mapping, _) = node else {
            decoder.fail(f.path("env"), "must be a mapping of variable names to values")
            return [:]
        }
        var env: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let key) = keyNode, !key.text.isEmpty, !key.text.contains("=") else {
                decoder.fail(f.path("env"), "variable names must be non-empty and contain no '='")
                continue
            }
            let path = "\(f.path("env")).\(key.text)"
            if ConfigDecoder.isNull(valueNode) {
                decoder.fail(path, "missing value (write \(key.text): \"\" for an empty string)")
            } else if let value = decoder.text(valueNode, at: path) {
                env[key.text] = value
            }
        }
        return env
    }
}
