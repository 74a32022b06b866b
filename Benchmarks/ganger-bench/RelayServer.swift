import EventLoop
import Glibc
import RelayProxy

/// `ganger-bench relay --listen ADDR --target ADDR`: a RelayProxy on the main thread until
/// SIGTERM/SIGINT. SIGUSR1 prints a status line (the bench reads it to tell pooled pipes from
/// leaked descriptors).
enum RelayServer {
    /// `largeBuffers`: how many fat streams may copy through a large buffer (nil or 0: none,
    /// every byte is spliced).
    static func run(listen: SocketAddress, target: SocketAddress, largeBuffers: Int? = nil) throws -> Int32 {
        // Before any other thread exists: a thread that has not blocked them would take the
        // default action and end the process without cleanup.
        Signals.block([SIGTERM, SIGINT, SIGUSR1])
        ProcFS.raiseFileLimit()
        let reactor = try Reactor()
        let pool = PipePool(largeBuffers: LargeBufferPool(maxBuffers: largeBuffers ?? 0))
        let proxy = try RelayProxy(reactor: reactor, listen: listen, target: target, pool: pool)
        print("relay listening on \(proxy.address) target \(target)")
        fflush(nil)
        let signals = try SignalSource(reactor: reactor, signals: [SIGTERM, SIGINT, SIGUSR1]) { signal in
            if signal == SIGUSR1 {
                let reasons = proxy.closeReasons.sorted { $0.key < $1.key }.map { "\(String($0.key.map { $0 == " " ? "_" : $0 })):\($0.value)" }.joined(separator: ",")
                print("status active=\(proxy.activeCount) closed=\(proxy.closedCount) connect_failures=\(proxy.connectFailures)"
                    + " pipes_live=\(pool.liveCount) pipes_idle=\(pool.idleCount)"
                    + " large_buffers_lent=\(pool.largeBuffers.lent) reasons=\(reasons)")
                fflush(nil)
            } else {
                proxy.close()
                reactor.stop()
            }
        }
        try reactor.run()
        signals.close()
        return 0
    }

    /// The last status line a relay printed after SIGUSR1, as key → value.
    static func status(of child: ChildProcess, pid: pid_t) -> [String: String]? {
        let before = child.output.split(separator: "\n").filter { $0.hasPrefix("status ") }.count
        kill(pid, SIGUSR1)
        var line: Substring?
        _ = waitUntil(2) {
            let lines = child.output.split(separator: "\n").filter { $0.hasPrefix("status ") }
            if lines.count > before { line = lines.last }
            return line != nil
        }
        guard let line else { return nil }
        var fields: [String: String] = [:]
        for pair in line.dropFirst(7).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return fields
    }
}
