import EventLoop
@testable import GangerCore
import Glibc
import Testing
import TestSupport

/// The systemd seams without systemd: sd_notify datagrams to a socket of the test's own (path
/// and abstract), the watchdog's PID check, and reading socket activation's variables.
@Suite struct SystemdTests {
    @Test func notifier_sendsEachStateAsOneDatagram_toAPath_andToAnAbstractName() throws {
        for abstract in [false, true] {
            let receiver = try DatagramReceiver(abstract: abstract)
            let notifier = try SystemdNotifier(socketPath: receiver.address)
            notifier.ready(status: "0 sessions")
            notifier.reloading()
            notifier.status("0 sessions")  // unchanged: not sent
            notifier.status("1 sessions")
            notifier.stopping(status: "shutting down: 1 sessions")
            let got = (0..<4).map { _ in receiver.receive(timeout: .seconds(2)) ?? "(none)" }
            #expect(got[0] == "READY=1\nSTATUS=0 sessions", "\(abstract)")
            let reloading = got[1].split(separator: "\n")
            #expect(reloading.first == "RELOADING=1" && reloading.count == 2, "\(got[1])")
            let micros = reloading.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? Int64($0.dropFirst(15)) : nil }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            #expect(micros.map { $0 > 0 && $0 <= Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000 } == true, "\(got[1])")
            #expect(got[2] == "STATUS=1 sessions")
            #expect(got[3] == "STOPPING=1\nSTATUS=shutting down: 1 sessions")
            #expect(receiver.receive(timeout: .milliseconds(50)) == nil)
            #expect(notifier.sent == 4 && notifier.dropped == 0)
        }
    }

    @Test func notifier_withNoOneListening_dropsWithoutBlockingOrThrowing() throws {
        let notifier = try SystemdNotifier(socketPath: "/tmp/ganger-no-such-notify-\(randomTag())")
        #expect(!notifier.send(["READY=1"]))
        #expect(notifier.dropped == 1)
        #expect(throws: SyscallError.self) { try SystemdNotifier(socketPath: "relative/path") }
    }

    @Test func watchdog_onlyForThisPID_andOnlyAPositiveInterval() {
        #expect(SystemdNotifier.watchdogInterval(usec: "2000000", pid: nil, ownPID: 7) == .seconds(2))
        #expect(SystemdNotifier.watchdogInterval(usec: "2000000", pid: "7", ownPID: 7) == .seconds(2))
        #expect(SystemdNotifier.watchdogInterval(usec: "2000000", pid: "8", ownPID: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(usec: "0", pid: nil, ownPID: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(usec: "soon", pid: nil, ownPID: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(usec: nil, pid: "7", ownPID: 7) == nil)
    }

    @Test func notifier_onAReactor_petsTheWatchdogEveryHalfInterval() throws {
        let receiver = try DatagramReceiver()
        let reactor = try Reactor()
        let notifier = try SystemdNotifier(socketPath: receiver.address, watchdog: .milliseconds(100))
        notifier.start(reactor: reactor) { "status" }
        reactor.schedule(after: .milliseconds(280)) { reactor.stop() }
        try reactor.run()
        var pets = 0
        while let message = receiver.receive(timeout: .milliseconds(20)) {
            if message == "WATCHDOG=1" { pets += 1 }
        }
        // One at start, then every 50 ms for 280 ms: 6, give or take a slow loop.
        #expect((3...7).contains(pets), "\(pets) WATCHDOG=1 in 280 ms at a 100 ms watchdog")
        notifier.stop()
    }

    @Test func listener_adoptsOnlyAListeningSocket_andMakesItNonBlockingAndCloexec() throws {
        let reactor = try Reactor()
        let plain = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(throws: SyscallError("adopt: not a listening socket", errno: EINVAL)) {
            try Listener(reactor: reactor, adopting: FileDescriptor(taking: plain)) { fd, _ in fd.close() }
        }
        // Bound and listening the way systemd hands it over: blocking, inheritable.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(bound == 0 && listen(fd, 8) == 0)
        let listener = try Listener(reactor: reactor, adopting: FileDescriptor(taking: fd)) { fd, _ in fd.close() }
        #expect(listener.address.host == "127.0.0.1" && (listener.address.port ?? 0) > 0)
        #expect(fcntl(fd, F_GETFL) & O_NONBLOCK != 0)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        listener.close()
    }

    @Test func activation_namesEachDescriptor_onlyForThisProcess() throws {
        #expect(try PassedSockets.parse(pid: "5", count: "2", names: "echo:http", ownPID: 5).get() == ["echo", "http"])
        #expect(try PassedSockets.parse(pid: "5", count: "2", names: nil, ownPID: 5).get() == ["unknown", "unknown"])
        #expect(try PassedSockets.parse(pid: "5", count: "2", names: "echo:", ownPID: 5).get() == ["echo", "unknown"])
        // Inherited from a parent that was activated: not ours.
        #expect(try PassedSockets.parse(pid: "6", count: "2", names: "echo:http", ownPID: 5).get() == [])
        #expect(try PassedSockets.parse(pid: nil, count: "2", names: "echo:http", ownPID: 5).get() == [])
        #expect(throws: StartupError.self) { try PassedSockets.parse(pid: "5", count: "x", names: nil, ownPID: 5).get() }
        #expect(throws: StartupError.self) { try PassedSockets.parse(pid: "5", count: "2", names: "echo", ownPID: 5).get() }
    }
}
