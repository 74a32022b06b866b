/// One statically configured Docker daemon (`daemons:` list entry).
public struct DaemonConfig: Sendable, Equatable {
    /// Where the daemon answers.
    public var url: DaemonURL
    /// How many of Ganger's containers it may run at once; -1 = unlimited, 0 = none (drained).
    public var maxContainers: Int
    /// Client certificates for a `tcp://` daemon that requires TLS; nil = plain TCP.
    public var tls: TLS?
    /// The address on the daemon's host that a remote daemon (`tcp://`, `ssh://`) publishes
    /// session ports on (`host_ip`). nil (`auto`, the default) = the address Ganger reaches the
    /// daemon at; "" or a wildcard (`0.0.0.0`, `::`) = every interface of that host. Ganger
    /// connects to the published port at this address, or at the daemon's own when it is a
    /// wildcard.
    public var hostIP: String?

    public static let defaultMaxContainers = 16

    public init(url: DaemonURL, maxContainers: Int = DaemonConfig.defaultMaxContainers, tls: TLS? = nil, hostIP: String? = nil) {
        self.url = url
        self.maxContainers = maxContainers
        self.tls = tls
        self.hostIP = hostIP
    }

    /// `host_ip`: `auto` (nil), `""`, or a numeric IPv4 or IPv6 address.
    static func parseHostIP(_ text: String) throws(ConfigError) -> String? {
        if text == "auto" { return nil }
        guard text.isEmpty || HostPort.isNumericIP(text) else {
            throw ConfigError(path: "", message: "\(shown(text)) is not a numeric IP address "
                + "(auto = the address Ganger reaches the daemon at; 0.0.0.0 = every interface)")
        }
        return text
    }

    /// Whether `hostIP` publishes on every interface: "", `0.0.0.0`, `::` (any spelling of an
    /// all-zero address).
    public static func isEveryInterface(_ hostIP: String) -> Bool {
        hostIP.isEmpty || hostIP.allSatisfy { $0 == "0" || $0 == "." || $0 == ":" }
    }

    /// File paths of the PEM files for mutual TLS with a daemon (Docker's `--tlsverify` set-up).
    ///
    /// Written either as `tls: {ca, cert, key}` or as `cert_path: DIR`, which stands for
    /// `DIR/ca.pem`, `DIR/cert.pem` and `DIR/key.pem` (the `DOCKER_CERT_PATH` layout). The files
    /// are only named here; they are read, and their absence reported, when the daemon's client is made (startup).
    public struct TLS: Sendable, Equatable {
        public var ca: String
        public var cert: String
        public var key: String

        public init(ca: String, cert: String, key: String) {
            self.ca = ca
            self.cert = cert
            self.key = key
        }

        /// The three files of a `DOCKER_CERT_PATH`-style directory.
        public init(certPath: String) {
            let dir = certPath.hasSuffix("/") ? String(certPath.dropLast()) : certPath
            self.init(ca: "\(dir)/ca.pem", cert: "\(dir)/cert.pem", key: "\(dir)/key.pem")
        }
    }

    /// The daemon used when the file names neither `daemons` nor `consul`: `$DOCKER_HOST` if set
    /// (with TLS from `$DOCKER_CERT_PATH`, default `~/.docker`, when `$DOCKER_TLS_VERIFY` is set,
    /// as the docker CLI does), else the local socket.
    /// - Throws: when `$DOCKER_HOST` is set but is not a daemon URL.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigError) -> DaemonConfig {
        guard let host = environment["DOCKER_HOST"], !host.isEmpty else {
            return DaemonConfig(url: .localSocket)
        }
        let url: DaemonURL
        do {
            url = try DaemonURL.parse(host)
        } catch {
            throw ConfigError(path: "daemons", message: "default from $DOCKER_HOST: \(error.message)")
        }
        var tls: TLS?
        if url.isTCP, let verify = environment["DOCKER_TLS_VERIFY"], !verify.isEmpty {
            let home = environment["HOME"] ?? ""
            tls = TLS(certPath: environment["DOCKER_CERT_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.docker")
        }
        return DaemonConfig(url: url, tls: tls)
    }
}
