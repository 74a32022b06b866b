import Glibc

/// What `ganger run` does on each signal it reads (docs/DESIGN.md, "Signals"). Pure: it only
/// remembers whether a shutdown was asked, so that a second TERM or INT means "now".
public struct SignalPolicy: Sendable {
    public enum Action: Equatable, Sendable {
        /// Stop accepting; running sessions may finish for `shutdown_grace`.
        case shutdown
        /// A second TERM or INT: end every session now.
        case shutdownNow
        /// Read the configuration file again; apply it whole or keep the running one.
        case reload
        /// Collect every exited child: as PID 1, orphans become Ganger's children.
        case reap
        /// Nothing to do: a SIGHUP once shutting down, or a signal Ganger does not handle.
        case ignore
    }

    /// The signals `ganger run` reads from its signalfd. Main blocks them with pthread_sigmask
    /// before any other thread exists: a thread that has not would take the default action,
    /// which ends the process without cleanup.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD]

    public private(set) var shuttingDown = false

    public init() {}

    public mutating func action(for signal: Int32) -> Action {
        switch signal {
        case SIGTERM, SIGINT:
            defer { shuttingDown = true }
            return shuttingDown ? .shutdownNow : .shutdown
        case SIGHUP:
            return shuttingDown ? .ignore : .reload
        case SIGCHLD:
            return .reap
        default:
            return .ignore
        }
    }
}
