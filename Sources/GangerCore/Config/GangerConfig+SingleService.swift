extension GangerConfig {
    /// Where `ganger run --image IMG --port N` listens without `--listen`: every interface,
    /// port 5454, as in DESIGN.md's example (the operator asked to serve; loopback-only would
    /// look like a broken server from any other machine).
    public static let defaultSingleListen = HostPort(host: "0.0.0.0", port: 5454)

    /// The configuration of `ganger run --image IMG --port N [--listen ADDR]`: one service with
    /// every other setting at its default and the default daemon from `environment`.
    ///
    /// The service is named after the image's repository (`registry/team/echo:1.2` → `echo`),
    /// reduced to the characters a service name allows.
    /// - Throws: `ConfigErrors` (source `command line`) whose paths are the flags, e.g.
    ///   `--port: 70000 is not a port (1-65535)`.
    public static func singleService(
        image: String,
        port: String,
        listen: String? = nil,
        environment: [String: String]
    ) throws(ConfigErrors) -> GangerConfig {
        var errors: [ConfigError] = []
        func attempt<T>(_ flag: String, _ parse: () throws(ConfigError) -> T) -> T? {
            do {
                return try parse()
            } catch {
                errors.append(ConfigError(path: flag, message: error.message))
                return nil
            }
        }
        let image = attempt("--image") { () throws(ConfigError) in try ConfigDecoder.nonEmpty(image) }
        let port = attempt("--port") { () throws(ConfigError) in try ServiceConfig.parsePort(port) }
        let address = attempt("--listen") { () throws(ConfigError) in
            try listen.map(HostPort.parseListen) ?? defaultSingleListen
        }
        let daemon = attempt("") { () throws(ConfigError) in try DaemonConfig.fromEnvironment(environment) }
        guard let image, let port, let address, let daemon else {
            throw ConfigErrors(source: "command line", errors: errors)
        }
        let service = ServiceConfig(name: serviceName(forImage: image), listen: address, image: image, port: port)
        let config = GangerConfig(daemons: [daemon], services: [service])
        let crossErrors = config.validationErrors()
        guard crossErrors.isEmpty else { throw ConfigErrors(source: "command line", errors: crossErrors) }
        return config
    }

    /// `registry:5000/team/Echo-Server:1.2@sha256:…` → `echo-server`; `service` if nothing is left.
    static func serviceName(forImage image: String) -> String {
        var repository = Substring(image)
        if let at = repository.firstIndex(of: "@") { repository = repository[..<at] }
        if let slash = repository.lastIndex(of: "/") { repository = repository[repository.index(after: slash)...] }
        if let colon = repository.firstIndex(of: ":") { repository = repository[..<colon] }
        let allowed = repository.lowercased().unicodeScalars.filter {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == "-"
        }
        let name = String(String.UnicodeScalarView(allowed.drop { !(("a"..."z").contains($0) || ("0"..."9").contains($0)) }))
        return name.isEmpty ? "service" : name
    }
}
