/// Everything the status page, `/status.json`, `/metrics` and `ganger status` show: a value
/// the supervisor fills on the loop, safe to encode or hand to another thread.
///
/// This is the documented schema of `/status.json` (docs/status.md). Times are seconds;
/// `*_unix` fields are seconds since the epoch.
public struct StatusSnapshot: Codable, Sendable, Equatable {
    public var instance: String
    public var version: String
    public var startedUnix: Double
    public var nowUnix: Double
    /// Shutting down: not accepting; /healthz answers 503.
    public var draining: Bool
    public var services: [Service]
    public var daemons: [Daemon]
    /// The last sessions that ended, newest first (at most 50).
    public var recentSessions: [SessionRecord]
    /// Sessions relaying now, oldest first (at most 100); nil from an instance older than the
    /// field. Sessions taken over from the previous process keep their start and byte counts.
    public var liveSessions: [LiveSession]?
    /// The relays' conduits now (splice pipes, large copy buffers); nil from an instance older
    /// than the field.
    public var relay: RelayConduits? = nil

    /// What every relay of the process borrows from (EventLoop's `PipePool`): whether fat
    /// streams find a large buffer (`relay.large_buffers`) or splice because all are lent.
    public struct RelayConduits: Codable, Sendable, Equatable {
        /// Pipes lent to relays moving bytes now, and empty ones kept for reuse.
        public var pipesLent: Int
        public var pipesIdle: Int
        /// Large copy buffers lent now, and `relay.large_buffers`.
        public var largeBuffersLent: Int
        public var largeBuffersMax: Int
        /// Times a large buffer was lent since start.
        public var largeBufferLends: Int
        /// Pipes the kernel made smaller than asked since start (`PipePool.smallPipes`); nil
        /// from an instance older than the field.
        public var pipesSmall: Int? = nil
    }

    public struct LiveSession: Codable, Sendable, Equatable {
        public var service: String
        public var client: String
        public var daemon: String
        public var container: String
        public var startedUnix: Double
        public var bytesIn: UInt64
        public var bytesOut: UInt64
        /// Taken over from the previous process (`ganger run --takeover`).
        public var inherited: Bool
    }

    public struct Service: Codable, Sendable, Equatable {
        public var name: String
        public var listen: String
        public var image: String
        public var sessionsCurrent: Int
        public var sessionsTotal: Int
        /// Highest `sessionsCurrent` seen.
        public var sessionsMax: Int
        public var queueCurrent: Int
        public var queueMax: Int
        public var queueTimeouts: Int
        public var refusedQueueFull: Int
        public var refusedPerSource: Int
        public var poolWarm: Int
        public var poolReady: Int
        public var bytesIn: UInt64
        public var bytesOut: UInt64
        /// Client connect → first byte to the client, for cold and warm (pooled) containers.
        public var ttfbCold: Percentiles
        public var ttfbWarm: Percentiles
        /// Every TTFB observation in seconds for the Prometheus histogram: bucket upper bounds
        /// (seconds) → cumulative counts, plus sum and count.
        public var ttfbHistogram: Histogram
        /// `netns.mode: holder` only (nil otherwise): holders ready now, and `netns.holders`
        /// (what the pool refills to on each healthy daemon).
        public var holdersReady: Int? = nil
        public var holdersPerDaemon: Int? = nil
        /// Cold sessions whose container joined a holder (fast path), and those that took the
        /// normal path (no holder ready on the daemon, or the holder failed and the retry went
        /// without). Warm (pooled) sessions are in neither.
        public var holderSessions: Int? = nil
        public var holderFallbackSessions: Int? = nil
        /// Holders removed after their last `netns.reuse` session (retired, replaced as planned)
        /// and after trouble (discarded: a session's container failed in it, or it died).
        public var holdersRetired: Int? = nil
        public var holdersDiscarded: Int? = nil
        /// Sessions that ended, by close reason ("client closed", "create failed: ...", ...).
        public var endReasons: [String: Int]
    }

    public struct Percentiles: Codable, Sendable, Equatable {
        public var count: Int
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
    }

    public struct Histogram: Codable, Sendable, Equatable {
        public var buckets: [Bucket]
        public var sum: Double
        public var count: Int
        public struct Bucket: Codable, Sendable, Equatable {
            public var le: Double
            public var count: Int
        }
    }

    public struct Daemon: Codable, Sendable, Equatable {
        public var url: String
        /// It answers its health checks.
        public var up: Bool
        /// Whether it takes new sessions; see `DaemonState`.
        public var state: DaemonState
        /// When it last changed between up and down.
        public var sinceUnix: Double
        public var containers: Int
        /// -1 for unlimited.
        public var maxContainers: Int
        public var lastError: String?
        /// It answers, but a launch's call on it got no answer in time (it stalls on create,
        /// say); until a launch on it succeeds again.
        public var degraded: Bool = false
        /// Launches between their create call and their container's start.
        public var launching: Int = 0
        /// The launch window now (how many may be launching at once); nil when windows are off.
        public var launchWindow: Int?
        /// The services whose launches are held off it because Docker there refused one (its
        /// image gone, a full disk) or does no launch work (`StallWatch`): `LaunchBreaker`.
        /// Empty when none.
        public var heldOff: [String] = []
    }

    /// `up`: answers and takes new sessions. `down`: does not answer (or is still being
    /// prepared after it joined). `draining`: it left the Consul catalog, so it takes no new
    /// sessions while the ones it holds go on (HAProxy's DRAIN); whether it still answers is `up`.
    public enum DaemonState: String, Codable, Sendable, CaseIterable {
        case up
        case down
        case draining
    }

    public struct SessionRecord: Codable, Sendable, Equatable {
        public var service: String
        public var client: String
        public var daemon: String
        public var container: String
        public var endedUnix: Double
        public var durationSeconds: Double
        public var ttfbSeconds: Double?
        public var bytesIn: UInt64
        public var bytesOut: UInt64
        public var reason: String
    }
}

extension StatusSnapshot.Daemon {
    /// Decodes `/status.json`; an instance older than `state` is read by its `up` alone, so
    /// `ganger status` still shows it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        up = try c.decode(Bool.self, forKey: .up)
        state = try c.decodeIfPresent(StatusSnapshot.DaemonState.self, forKey: .state) ?? (up ? .up : .down)
        sinceUnix = try c.decode(Double.self, forKey: .sinceUnix)
        containers = try c.decode(Int.self, forKey: .containers)
        maxContainers = try c.decode(Int.self, forKey: .maxContainers)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        degraded = try c.decodeIfPresent(Bool.self, forKey: .degraded) ?? false
        launching = try c.decodeIfPresent(Int.self, forKey: .launching) ?? 0
        launchWindow = try c.decodeIfPresent(Int.self, forKey: .launchWindow)
        heldOff = try c.decodeIfPresent([String].self, forKey: .heldOff) ?? []
    }
}

extension StatusSnapshot.Service {
    /// The network-holder figures together, or nil for a service without `netns.mode: holder`.
    struct HolderFigures: Equatable {
        var ready, perDaemon, fastPath, normalPath, retired, discarded: Int
    }

    var holderFigures: HolderFigures? {
        guard let holdersReady else { return nil }
        return HolderFigures(ready: holdersReady, perDaemon: holdersPerDaemon ?? 0, fastPath: holderSessions ?? 0,
                             normalPath: holderFallbackSessions ?? 0, retired: holdersRetired ?? 0,
                             discarded: holdersDiscarded ?? 0)
    }
}
