import CGangerShims
import Glibc

/// Process signals delivered as readable events through a signalfd.
///
/// The signals must already be blocked in every thread (`Signals.block` first thing in main,
/// before any other thread exists): a thread that has not blocked them would take the default
/// action, which for TERM and INT kills the process with no cleanup.
public final class SignalSource {
    // Weak: an owner may outlive its loop (a test's loop thread ends first); its teardown then
    // has nothing left to deregister from.
    private weak var reactor: Reactor?
    private var descriptor: FileDescriptor?
    private var registration: Registration?

    /// Delivers each of `signals` to `handler` on the loop, one call per signal received.
    public init(reactor: Reactor, signals: [Int32], handler: @escaping (Int32) -> Void) throws(SyscallError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        let fd = try syscall("signalfd") { ganger_signalfd(-1, &mask, GANGER_SFD_NONBLOCK | GANGER_SFD_CLOEXEC) }
        self.reactor = reactor
        descriptor = FileDescriptor(taking: fd)
        registration = try reactor.register(fd, interest: .readable) { _ in
            var info = signalfd_siginfo()
            let size = MemoryLayout<signalfd_siginfo>.size
            // Edge-triggered: read every queued siginfo until EAGAIN.
            while case let .processed(n) = (try? nonBlockingSyscall("read(signalfd)") {
                withUnsafeMutableBytes(of: &info) { Glibc.read(fd, $0.baseAddress, size) }
            }) ?? .wouldBlock, n == size {
                handler(Int32(info.ssi_signo))
            }
        }
    }

    deinit { close() }

    /// Stops listening; idempotent. The signals stay blocked.
    public func close() {
        if let registration { reactor?.deregister(registration) }
        registration = nil
        descriptor = nil
    }
}

/// Process-wide signal dispositions.
public enum Signals {
    /// Blocks `signals` in the calling thread and every thread it creates afterwards. Call it
    /// first thing in a synchronous main, before any Task or thread exists.
    public static func block(_ signals: [Int32]) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// SIGPIPE ignored: a write to a vanished peer must fail with EPIPE, not end the process.
    public static func ignorePipe() { signal(SIGPIPE, SIG_IGN) }
}
