import Glibc

/// The whole, resolved configuration of one Ganger instance: every default filled in, every
/// value parsed and checked. Built by `ConfigLoader` (from YAML) or `singleService` (from flags).
public struct GangerConfig: Sendable, Equatable {
    /// Labels this instance's containers; a restart removes its predecessor's leftovers.
    public var instance: String
    /// Static daemons; empty exactly when `consul` is set.
    public var daemons: [DaemonConfig]
    /// Discovery through Consul instead of `daemons`.
    public var consul: ConsulConfig?
    /// At least one.
    public var services: [ServiceConfig]
    public var status: StatusConfig
    /// Upper bound on any single Docker API call (a pull can be slow).
    public var dockerTimeout: Duration
    /// How long running sessions may finish after SIGTERM before they are killed.
    public var shutdownGrace: Duration
    /// The longest one image pull may take at startup (or when a daemon joins); a pull that hangs
    /// must not hang the startup.
    public var pullTimeout: Duration = .seconds(600)
    /// The longest a pull may go without a progress line from the daemon (nil, `0s`: no bound
    /// but `pullTimeout`): a registry that holds a download leaves dockerd silent, and without
    /// this a startup waited all of `pullTimeout`. Kubernetes' kubelet bounds the same silence
    /// (`--image-pull-progress-deadline`, 1 minute).
    public var pullProgressTimeout: Duration? = .seconds(60)
    /// Launches in flight per daemon (create to started), adapted between `minimum` and
    /// `maximum` (docs/scheduling.md, "Launch window"); nil (`launch_window: off`): unbounded.
    public var launchWindow: LaunchWindowConfig? = LaunchWindowConfig()

    public struct LaunchWindowConfig: Sendable, Equatable {
        public var minimum: Int
        public var maximum: Int
        public var initial: Int

        public init(minimum: Int = 2, maximum: Int = 32, initial: Int = 4) {
            self.minimum = minimum
            self.maximum = maximum
            self.initial = initial
        }

        /// The controller each daemon starts with.
        public var template: LaunchWindow { LaunchWindow(minimum: minimum, maximum: maximum, initial: initial) }
    }
    public var log: LogConfig
    /// The relay's large copy buffers for fat streams (`relay:`); fixed for the process's life.
    public var relay = RelayConfig()
    /// The control socket (`control.socket`) a `ganger run --takeover` connects to; nil: derived
    /// from the instance name (`controlSocketPath`).
    public var controlSocket: String?

    public static let defaultInstance = "ganger"

    /// Where the control socket is: `control.socket`, else `/run/ganger/<instance>.sock` for
    /// root and `/tmp/ganger-<uid>/<instance>.sock` for anyone else (a directory of the user's
    /// own, mode 0700).
    public var controlSocketPath: String {
        if let controlSocket { return controlSocket }
        let uid = currentUserID()
        return uid == 0 ? "/run/ganger/\(instance).sock" : "/tmp/ganger-\(uid)/\(instance).sock"
    }
    public static let defaultDockerTimeout = Duration.seconds(300)
    public static let defaultShutdownGrace = Duration.seconds(30)

    public init(
        instance: String = GangerConfig.defaultInstance,
        daemons: [DaemonConfig] = [DaemonConfig(url: .localSocket)],
        consul: ConsulConfig? = nil,
        services: [ServiceConfig],
        status: StatusConfig = StatusConfig(),
        dockerTimeout: Duration = GangerConfig.defaultDockerTimeout,
        shutdownGrace: Duration = GangerConfig.defaultShutdownGrace,
        log: LogConfig = LogConfig()
    ) {
        self.instance = instance
        self.daemons = daemons
        self.consul = consul
        self.services = services
        self.status = status
        self.dockerTimeout = dockerTimeout
        self.shutdownGrace = shutdownGrace
        self.log = log
    }
}

/// The effective uid, for the default control socket path.
func currentUserID() -> UInt32 { UInt32(geteuid()) }
