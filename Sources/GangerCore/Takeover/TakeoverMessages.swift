public import EventLoop

/// New → old: the first message (`TakeoverFrame.Kind.hello`).
public struct TakeoverHello: Codable, Sendable, Equatable {
    public var instance: String
    public var pid: Int32
    public var version: String

    public init(instance: String, pid: Int32, version: String) {
        self.instance = instance
        self.pid = pid
        self.version = version
    }
}

/// Either way: the takeover is off, and why.
public struct TakeoverRefusal: Codable, Sendable, Equatable {
    public var reason: String
}

/// Old → new: the instance, what the new process must expect, and the listening sockets. The
/// descriptors come in this order: one per `listeners` entry, then the status listener's and
/// the control socket's when `status` and `control` say so.
public struct TakeoverState: Codable, Sendable, Equatable {
    public struct ListenerEntry: Codable, Sendable, Equatable {
        public var service: String
        /// The address its configuration asked for, and the one it is bound to.
        public var asked: String
        public var bound: String
    }

    /// The counters of a service the status page shows, carried on across the takeover.
    public struct Counters: Codable, Sendable, Equatable {
        public var service: String
        public var sessionsTotal: Int
        public var sessionsMax: Int
        public var bytesIn: UInt64
        public var bytesOut: UInt64
        public var refusedQueueFull: Int
        public var queueTimeouts: Int
        public var refusedPerSource: Int
        public var endReasons: [String: Int]
    }

    public var instance: String
    /// The old process's boot id: its lease is the new one's to replace, its leftovers (idle
    /// pool containers and holders) are found by it.
    public var boot: String
    public var pid: Int32
    public var listeners: [ListenerEntry]
    /// The status listener's configured address (kept when the new configuration asks for it).
    public var statusListen: String
    public var status: Bool
    public var control: Bool
    /// Sessions to come in `sessions` messages.
    public var sessions: Int
    public var counters: [Counters]
    /// When the old process started (wall clock), for the log.
    public var startedUnix: Double
}

/// One relaying session, as the new process resumes it. Its descriptors (client, service, then
/// the pipes holding bytes in flight) are `descriptors` in a row of the message's.
public struct TakeoverSession: Codable, Sendable, Equatable {
    public struct HolderEntry: Codable, Sendable, Equatable {
        public var containerID: String
        public var address: String
    }

    public var id: UInt64
    public var service: String
    public var peer: String
    public var source: String
    /// CLOEXEC_MONOTONIC nanoseconds when the client connected (one clock per host).
    public var acceptedAt: UInt64
    /// Wall clock of the connect (the status page's start time).
    public var acceptedUnix: Double
    public var daemon: String
    public var containerID: String
    public var holder: HolderEntry?
    public var warm: Bool
    /// When `session.max_duration` ends it (monotonic), if it has one.
    public var relayDeadline: UInt64?
    public var relay: Relay.RelayState
    public var descriptors: Int
}

/// Old → new: a batch of sessions (as many as fit one message).
public struct TakeoverSessions: Codable, Sendable, Equatable {
    public var sessions: [TakeoverSession]
}

/// An empty body (`end`, `ready`, `commit`).
public struct TakeoverEmpty: Codable, Sendable, Equatable {
    public init() {}
}
