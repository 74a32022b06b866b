/// One service (`services:` list entry): a listen address whose every connection gets a fresh
/// container of `image`, proxied to the container's TCP `port`.
public struct ServiceConfig: Sendable, Equatable {
    /// Unique, `[a-z0-9][a-z0-9_.-]*`; becomes the `ganger.service` label.
    public var name: String
    public var listen: HostPort
    public var image: String
    /// The container's TCP port the client's bytes go to.
    public var port: UInt16
    /// Overrides the image's CMD when not empty.
    public var command: [String]
    public var env: [String: String]
    public var pull: Pull
    public var ready: Readiness
    public var limits: Limits
    /// The Docker network the container (or its holder) joins.
    public var network: String
    public var pool: Pool
    public var queue: Queue
    public var session: Session
    public var perSource: PerSource
    public var accept = Accept()
    public var clientAddress: ClientAddress
    public var netns: Netns
    public var sandbox: Sandbox = Sandbox()

    public init(
        name: String,
        listen: HostPort,
        image: String,
        port: UInt16,
        command: [String] = [],
        env: [String: String] = [:],
        pull: Pull = .missing,
        ready: Readiness = Readiness(),
        limits: Limits = Limits(),
        network: String = "bridge",
        pool: Pool = Pool(),
        queue: Queue = Queue(),
        session: Session = Session(),
        perSource: PerSource = PerSource(),
        clientAddress: ClientAddress = .none,
        netns: Netns = Netns()
    ) {
        self.name = name
        self.listen = listen
        self.image = image
        self.port = port
        self.command = command
        self.env = env
        self.pull = pull
        self.ready = ready
        self.limits = limits
        self.network = network
        self.pool = pool
        self.queue = queue
        self.session = session
        self.perSource = perSource
        self.clientAddress = clientAddress
        self.netns = netns
    }

    /// When the image is pulled, at startup, on every daemon.
    public enum Pull: String, Sendable, CaseIterable {
        case always, missing, never
    }

    /// How the container learns the client's address.
    public enum ClientAddress: String, Sendable, CaseIterable {
        /// Not at all.
        case none
        /// `GANGER_CLIENT_ADDR=ip:port` in the container's environment (so the container must
        /// be created after the client arrived: incompatible with a warm pool).
        case env
        /// A PROXY protocol v1 (text) header before the client's bytes.
        case proxyV1 = "proxy-v1"
        /// A PROXY protocol v2 (binary) header before the client's bytes.
        case proxyV2 = "proxy-v2"
    }

    /// How long to wait for a started container to accept a connection on `port`.
    public struct Readiness: Sendable, Equatable {
        /// Connection attempts, at least 1.
        public var attempts: Int
        /// Pause between attempts.
        public var interval: Duration
        /// Upper bound on the whole wait, whatever `attempts` says; more than zero.
        public var timeout: Duration

        public init(attempts: Int = 50, interval: Duration = .milliseconds(100), timeout: Duration = .seconds(10)) {
            self.attempts = attempts
            self.interval = interval
            self.timeout = timeout
        }
    }

    /// cgroup limits of each container, and the disk its log may take; 0 means "no limit" for
    /// every field.
    public struct Limits: Sendable, Equatable {
        public var memory: ByteSize
        public var cpus: Double
        public var pids: Int
        /// The most a container's log (its stdout and stderr) may hold on the daemon's disk,
        /// where Docker keeps it in files it would otherwise grow without end (the `json-file`
        /// and `local` drivers): see `ContainerSpec.logConfig`. 0 = the daemon's own settings.
        public var log: ByteSize

        /// Docker refuses a memory limit below 6 MiB.
        public static let minimumMemory = ByteSize(bytes: 6 << 20)
        /// The smallest `log`: Docker keeps it as two files of half this size each.
        public static let minimumLog = ByteSize(bytes: 1 << 10)

        public init(memory: ByteSize = ByteSize(bytes: 256 << 20), cpus: Double = 1.0, pids: Int = 256,
                    log: ByteSize = ByteSize(bytes: 10 << 20)) {
            self.memory = memory
            self.cpus = cpus
            self.pids = pids
            self.log = log
        }
    }

    /// Warm containers kept ready, and how many sessions one container serves.
    public struct Pool: Sendable, Equatable {
        /// Started, ready containers kept waiting per service; 0 = start on demand.
        public var warm: Int
        /// Sessions a container serves before it is replaced; 1 = a fresh one for every client.
        public var reuse: Int

        public init(warm: Int = 0, reuse: Int = 1) {
            self.warm = warm
            self.reuse = reuse
        }
    }

    /// Clients waiting while every daemon is full.
    public struct Queue: Sendable, Equatable {
        /// Longest queue; a client beyond it is closed at once. 0 = no queueing.
        public var max: Int
        /// Longest wait in the queue; 0 = no limit.
        public var timeout: Duration
        /// A queued client's FIN ends its wait (HAProxy's `option abortonclose`). Off by
        /// default: a FIN may be a half-close, and the client still wants its answer.
        public var abortOnClose: Bool

        public init(max: Int = 1000, timeout: Duration = .seconds(60), abortOnClose: Bool = false) {
            self.max = max
            self.timeout = timeout
            self.abortOnClose = abortOnClose
        }
    }

    /// Bounds on a session; 0 = none. The defaults end a client that went silent or whose
    /// machine vanished: an untrusted client must not hold a container for good.
    public struct Session: Sendable, Equatable {
        public var maxDuration: Duration
        /// Closed after this long without a byte in either direction.
        public var idleTimeout: Duration
        /// TCP keepalive on the client's socket: a peer that vanished (no FIN, no RST) is
        /// detected after `idle` + `count` × `interval` (about 2 minutes by default).
        public var keepalive: Keepalive
        /// TCP_USER_TIMEOUT on the client's socket: sent bytes (and keepalive probes) left
        /// unacknowledged this long end the connection; 0 = the kernel's default (about 15 min).
        public var userTimeout: Duration

        public struct Keepalive: Sendable, Equatable {
            /// Silence before the first probe; 0 = no keepalive.
            public var idle: Duration
            public var interval: Duration
            public var count: Int

            public init(idle: Duration = .seconds(60), interval: Duration = .seconds(10), count: Int = 6) {
                self.idle = idle
                self.interval = interval
                self.count = count
            }
        }

        public init(maxDuration: Duration = .zero, idleTimeout: Duration = .seconds(600), keepalive: Keepalive = Keepalive(),
                    userTimeout: Duration = .seconds(120)) {
            self.maxDuration = maxDuration
            self.idleTimeout = idleTimeout
            self.keepalive = keepalive
            self.userTimeout = userTimeout
        }
    }

    /// Limits per client IP address.
    public struct PerSource: Sendable, Equatable {
        /// Concurrent connections (queued or served) from one IP; 0 = unlimited.
        public var maxConnections: Int
        /// New connections a second from one IP (xinetd's `cps`), a token bucket of `burst`;
        /// 0 = unlimited.
        public var rate: Double
        public var burst: Int

        public init(maxConnections: Int = 0, rate: Double = 20, burst: Int = 40) {
            self.maxConnections = maxConnections
            self.rate = rate
            self.burst = burst
        }
    }

    /// New connections a second to the service from anywhere (a token bucket of `burst`);
    /// 0 = unlimited.
    public struct Accept: Sendable, Equatable {
        public var rate: Double
        public var burst: Int

        public init(rate: Double = 500, burst: Int = 1000) {
            self.rate = rate
            self.burst = burst
        }
    }

    /// Hardening beyond what every container gets (no-new-privileges, `limits`): a preset, and
    /// keys that override it one by one. docs/operations.md says what each setting protects.
    public struct Sandbox: Sendable, Equatable {
        /// Where the other keys start from.
        public enum Preset: String, Sendable, CaseIterable {
            /// Docker's defaults less `NET_RAW` (no raw sockets: no ARP or IP spoofing, no
            /// sniffing of the sessions sharing the container's network).
            case `default`
            /// Every capability dropped, a read-only root with a small tmpfs `/tmp`, and a pids
            /// limit of `strictPids` unless `limits.pids` is given.
            case strict
        }

        public var preset: Preset
        /// Read-only root filesystem (`HostConfig.ReadonlyRootfs`).
        public var readOnly: Bool
        /// tmpfs mounts: path → mount options (e.g. `/tmp: "size=16m"`), writable even when
        /// the root is read-only.
        public var tmpfs: [String: String]
        /// Capabilities dropped (`ALL` for every one) and added back.
        public var capDrop: [String]
        public var capAdd: [String]

        /// The strict preset's `limits.pids` when the file gives none.
        public static let strictPids = 64
        /// The strict preset's `/tmp`: small, and nothing in it can be executed or gain privileges.
        public static let strictTmpfs = ["/tmp": "rw,noexec,nosuid,nodev,size=64m"]

        /// The settings of `preset`, before any key overrides them.
        public init(preset: Preset = .default) {
            self.preset = preset
            switch preset {
            case .default:
                readOnly = false
                tmpfs = [:]
                capDrop = ["NET_RAW"]
            case .strict:
                readOnly = true
                tmpfs = Self.strictTmpfs
                capDrop = ["ALL"]
            }
            capAdd = []
        }
    }

    /// Who owns the container's network namespace (see DESIGN.md, "Network holders").
    public struct Netns: Sendable, Equatable {
        public var mode: Mode
        /// Ready holders kept per service and daemon (mode `holder` only).
        public var holders: Int
        /// Sessions one holder serves before it is replaced; at least 1.
        public var reuse: Int
        /// With `reuse > 1`: how long a cold session waits for a holder on its way back (its
        /// previous session's container being stopped) when none is ready, before it takes the
        /// normal path; 0 never waits. At most `maxReturnWait`.
        public var returnWait: Duration = .milliseconds(150)
        public static let maxReturnWait: Duration = .seconds(10)
        /// How long a cold session waits for a holder being started (a retired holder's
        /// replacement, or the pool filling) when none is ready or on its way back, before it
        /// takes the normal path; 0 never waits. At most `maxStartWait`.
        public var startWait: Duration = .seconds(1)
        public static let maxStartWait: Duration = .seconds(10)

        public enum Mode: String, Sendable, CaseIterable {
            /// Docker sets up a namespace for every container.
            case perContainer = "per-container"
            /// The container joins a pre-started holder's namespace (`container:<holder>`).
            case holder
        }

        public init(mode: Mode = .perContainer, holders: Int = 2, reuse: Int = 1) {
            self.mode = mode
            self.holders = holders
            self.reuse = reuse
        }
    }
}
