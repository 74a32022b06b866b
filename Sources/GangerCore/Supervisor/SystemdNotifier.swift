public import EventLoop
import Glibc

/// The sd_notify(3) protocol without libsystemd: one datagram of `KEY=value` lines per state
/// change, sent to the unix socket systemd names in `$NOTIFY_SOCKET` (`Type=notify` units).
///
/// What the supervisor sends, and when (docs/operations.md, "Install: Debian package and systemd"):
/// `READY=1` once every listener is bound and a daemon has answered; `STATUS=` with sessions
/// and queue depth then and at most every `statusInterval` when it changed; `RELOADING=1` with
/// `MONOTONIC_USEC=` when a SIGHUP is read, `READY=1` once the reload is applied or refused;
/// `STOPPING=1` when a shutdown starts; `WATCHDOG=1` every `WATCHDOG_USEC`/2 when systemd asks
/// for it (from the loop thread: a loop that hangs stops petting the watchdog).
///
/// The socket is a datagram socket of its own, CLOEXEC and non-blocking: a full receive queue
/// drops a message (counted in `dropped`) rather than stalling the loop.
public final class SystemdNotifier {
    /// The socket's address: a path, or an abstract name (`@name` in the variable).
    private var address = sockaddr_un()
    private var addressLength: socklen_t = 0
    private var socket: FileDescriptor?
    /// The watchdog interval systemd asked for, if any.
    public let watchdog: Duration?
    /// Messages the socket would not take (EAGAIN, ECONNREFUSED, ...).
    public private(set) var dropped = 0
    /// Messages sent.
    public private(set) var sent = 0
    private var lastStatus: String?
    private var timers: [TimerID] = []
    private weak var reactor: Reactor?

    /// How often `STATUS=` is refreshed at most.
    public static let statusInterval: Duration = .seconds(5)

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the process environment
    /// and unsets them (children of Ganger, an ssh client, must not talk to systemd in its
    /// name). Nil when `NOTIFY_SOCKET` is not set: not started by systemd with `Type=notify`.
    public static func fromEnvironment() throws(SyscallError) -> SystemdNotifier? {
        let values = takeEnvironment(["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"])
        guard let path = values["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        return try SystemdNotifier(socketPath: path, watchdog: watchdogInterval(usec: values["WATCHDOG_USEC"], pid: values["WATCHDOG_PID"],
                                                                                ownPID: getpid()))
    }

    /// The interval `WATCHDOG_USEC` asks for, when it is meant for this process: `WATCHDOG_PID`
    /// unset or equal to `ownPID`. Nil for a missing, zero or malformed value.
    public static func watchdogInterval(usec: String?, pid: String?, ownPID: Int32) -> Duration? {
        guard let usec, let micros = Int64(usec), micros > 0 else { return nil }
        if let pid, !pid.isEmpty, Int32(pid) != ownPID { return nil }
        return .microseconds(micros)
    }

    /// A notifier sending to `socketPath` (a filesystem path, or `@name` for the abstract
    /// namespace).
    public init(socketPath: String, watchdog: Duration? = nil) throws(SyscallError) {
        self.watchdog = watchdog
        var bytes = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard (bytes.first == UInt8(ascii: "/") || bytes.first == UInt8(ascii: "@")), bytes.count < capacity else {
            throw SyscallError("NOTIFY_SOCKET \(socketPath): not an absolute path or @name shorter than \(capacity)", errno: EINVAL)
        }
        // An abstract name: a leading NUL, and the length says where it ends (no terminator).
        if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        addressLength = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes[0] == 0 ? 0 : 1))
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SyscallError("socket(AF_UNIX, SOCK_DGRAM)", errno: errno) }
        socket = FileDescriptor(taking: fd)
    }

    /// Sends one message (`KEY=value` lines); false when the socket did not take it.
    @discardableResult
    public func send(_ lines: [String]) -> Bool {
        let message = Array(lines.joined(separator: "\n").utf8)
        let fd = socket.rawValueOrInvalid
        let rc = message.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, addressLength)
                }
            }
        }
        guard rc == message.count else {
            dropped += 1
            return false
        }
        sent += 1
        return true
    }

    /// `READY=1` with the current status: at startup, and after a reload.
    public func ready(status: String) {
        lastStatus = status
        send(["READY=1", "STATUS=" + status])
    }

    /// `RELOADING=1` with the monotonic time systemd (≥ 253) matches the reload against.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send(["RELOADING=1", "MONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)"])
    }

    /// `STOPPING=1`: the shutdown (drain) has started. The watchdog is still petted while
    /// sessions drain: a loop that hangs during shutdown is as stuck as one that hangs before.
    public func stopping(status: String) {
        lastStatus = status
        send(["STOPPING=1", "STATUS=" + status])
    }

    /// `STATUS=` if it changed since the last one sent.
    public func status(_ text: String) {
        guard text != lastStatus else { return }
        lastStatus = text
        send(["STATUS=" + text])
    }

    /// Starts the periodic messages on `reactor`: `STATUS=` from `status` every
    /// `statusInterval` (when it changed), `WATCHDOG=1` every half the watchdog interval.
    public func start(reactor: Reactor, status: @escaping () -> String) {
        stop()
        self.reactor = reactor
        repeatEvery(Self.statusInterval) { [weak self] in self?.status(status()) }
        if let watchdog {
            send(["WATCHDOG=1"])
            repeatEvery(watchdog / 2) { [weak self] in self?.send(["WATCHDOG=1"]) }
        }
    }

    /// Cancels the periodic messages.
    public func stop() {
        for timer in timers { reactor?.cancel(timer) }
        timers.removeAll()
    }

    private func repeatEvery(_ interval: Duration, slot: Int? = nil, _ body: @escaping () -> Void) {
        guard let reactor else { return }
        let index = slot ?? timers.count
        let id = reactor.schedule(after: interval) { [weak self] in
            guard let self, index < timers.count else { return }
            body()
            repeatEvery(interval, slot: index, body)
        }
        if index < timers.count { timers[index] = id } else { timers.append(id) }
    }
}
