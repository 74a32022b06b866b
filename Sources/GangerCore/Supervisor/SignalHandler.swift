public import EventLoop
import Glibc
import Logging

/// Carries out `SignalPolicy` on a running supervisor: reads the signals from a signalfd on the
/// loop, shuts down (then calls `stopped`), reloads from the configuration file, reaps children.
public final class SignalHandler {
    private var policy = SignalPolicy()
    private unowned let supervisor: Supervisor
    private let file: String?
    private let environment: [String: String]
    private let stopped: () -> Void
    /// Closes its signalfd when the handler goes.
    private var source: SignalSource?

    /// `file`: the configuration file to read again on SIGHUP; nil for a run from flags (a
    /// SIGHUP is then ignored, with a notice). `environment`: what the file is resolved with.
    /// `stopped`: called once the shutdown a signal started is complete.
    public init(reactor: Reactor, supervisor: Supervisor, file: String?, environment: [String: String],
                stopped: @escaping () -> Void) throws(SyscallError) {
        self.supervisor = supervisor
        self.file = file
        self.environment = environment
        self.stopped = stopped
        source = try SignalSource(reactor: reactor, signals: SignalPolicy.handled) { [unowned self] signal in
            handle(signal)
        }
    }

    /// Does what `signal` asks (as read from the signalfd) and returns what that was.
    @discardableResult
    public func handle(_ signal: Int32) -> SignalPolicy.Action {
        let action = policy.action(for: signal)
        switch action {
        case .shutdown:
            supervisor.shutdown(grace: supervisor.config.shutdownGrace, done: stopped)
        case .shutdownNow:
            supervisor.shutdown(grace: .zero, done: stopped)
        case .reload:
            guard let file else {
                supervisor.logger.notice("SIGHUP ignored: this run has no configuration file")
                break
            }
            supervisor.reload(file: file, environment: environment)
        case .reap:
            Reaper.reapExited()
        case .ignore:
            if signal == SIGHUP { supervisor.logger.notice("SIGHUP ignored: shutting down") }
        }
        return action
    }
}

/// Collects exited children without blocking.
public enum Reaper {
    /// Reaps every exited child matching `pid` (waitpid's sense: -1 is any child, which PID 1
    /// needs since orphans become its children); returns how many. Children still running
    /// are left alone.
    @discardableResult
    public static func reapExited(_ pid: Int32 = -1) -> Int {
        var reaped = 0
        while waitpid(pid, nil, WNOHANG) > 0 { reaped += 1 }
        return reaped
    }
}
