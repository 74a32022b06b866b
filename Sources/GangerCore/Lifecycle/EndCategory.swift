/// The fixed set of end-of-session reasons counted in `/metrics` and on the status page.
///
/// `Lifecycle.End.reason` is free text (a daemon's error message, an address, a container's exit
/// code): counted as is, every distinct failure would add a metrics series for the life of the
/// process. The text goes to the log line; counters use its category.
public enum EndCategory: String, Sendable, CaseIterable, Comparable {
    case clientClosed = "client closed"
    case serviceClosed = "service closed"
    case clientReset = "client reset"
    case serviceReset = "service reset"
    case idleTimeout = "idle timeout"
    case maxDuration = "max duration"
    case queueFull = "queue full"
    case queueTimeout = "queue timeout"
    case perSource = "per-source limit"
    case perSourceRate = "per-source rate"
    case acceptRate = "accept rate"
    case shuttingDown = "shutting down"
    /// Refused at accept: the process's descriptors were nearly all in use (DescriptorBudget).
    case descriptorBudget = "descriptor budget"
    case launchFailed = "launch failed"
    case containerExited = "container exited"
    case clientLeft = "client left"
    case other

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The category of an end reason as `Lifecycle` words it (see Lifecycle.swift, LaunchMachine.swift
    /// and `Relay.CloseReason`). Text it does not know is `other`.
    public static func of(_ reason: String) -> EndCategory {
        // `SessionMachine.reason` appends what Docker said of the container.
        var base = Substring(reason)
        var containerNote = false
        if let note = reason.firstRange(of: " (container: ") {
            base = reason[..<note.lowerBound]
            containerNote = true
        }
        if let exact = EndCategory(rawValue: String(base)), exact != .other {
            if containerNote && (exact == .serviceClosed || exact == .serviceReset) { return .containerExited }
            return exact
        }
        if base.hasPrefix("service error") { return containerNote ? .containerExited : .serviceReset }
        if base.hasPrefix("client error") { return .clientReset }
        if base == "shutdown" { return .shuttingDown }
        if base.hasPrefix("client left") { return .clientLeft }
        let launch = ["create failed", "start failed", "inspect failed", "not ready", "container ", "pooled connection lost",
                      "Docker did not start the container"]
        if launch.contains(where: { base.hasPrefix($0) }) { return .launchFailed }
        return .other
    }
}

extension Lifecycle.End {
    /// The counted reason (a fixed set); `reason` keeps the detail for the log.
    public var category: EndCategory {
        switch kind {
        // By its words, so that a refusal added later lands in `other` rather than breaking this.
        case let .refused(refusal): EndCategory(rawValue: refusal.rawValue) ?? .other
        case .queueTimeout: .queueTimeout
        case .relayed, .other: EndCategory.of(reason)
        }
    }
}
