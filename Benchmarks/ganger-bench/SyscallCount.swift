import Glibc

/// A proxy's system calls per GiB moved, by kind, counted over one extra run of a measurement
/// (never a timed round: counting slows the process it watches).
struct SyscallFigures: Codable {
    /// "perf stat" (syscalls:sys_enter_* tracepoints, in-kernel counting) or "strace -c -f"
    /// (ptrace: much slower, so fewer and bigger splices than an untraced run would make).
    var method: String
    /// Bytes the counted run moved, as its receiver counted them.
    var bytes: UInt64
    var splicePerGiB: Double
    /// epoll_wait, epoll_pwait and epoll_pwait2 together.
    var epollWaitPerGiB: Double
    var epollCtlPerGiB: Double
    /// read, write, recvfrom and sendto together: the copy path's transfer calls (nil in
    /// results written before they were counted apart from "other").
    var readWritePerGiB: Double?
    /// Every other call (accept, connect, close, timers…).
    var otherPerGiB: Double
    var totalPerGiB: Double
    /// Bytes moved per splice call (each byte crosses two: socket → pipe → socket).
    var bytesPerSplice: Double?
    /// Bytes moved per transfer call, splice or read/write (each byte crosses two).
    var bytesPerTransfer: Double?

    /// One line for the run's log.
    var summary: String {
        "per GiB splice \(format(splicePerGiB, digits: 0)), read/write \(format(readWritePerGiB ?? 0, digits: 0)), epoll_wait \(format(epollWaitPerGiB, digits: 0)),"
            + " epoll_ctl \(format(epollCtlPerGiB, digits: 0)), other \(format(otherPerGiB, digits: 0)) (\(method))"
    }
}

/// Counts a running process's system calls while a load runs: `perf stat -p PID` on the
/// syscall tracepoints where perf can read them, else `strace -c -f -p PID`.
struct SyscallCounter {
    enum Method { case perf(String), strace(String) }

    let method: Method
    let directory: String

    private static let events = ["splice", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl"] + copyCalls
    /// The calls that move bytes through a buffer (the relay's copy path; HAProxy's recv/send).
    private static let copyCalls = ["read", "write", "recvfrom", "sendto"]

    /// The counter this machine offers, or nil (neither perf with tracepoints nor strace).
    static func find(tools: Tools, directory: String) -> SyscallCounter? {
        let searchPath = (getenv("PATH").map { String(cString: $0) } ?? "") + ":/usr/sbin:/sbin:/usr/bin"
        func which(_ name: String) -> String? {
            searchPath.split(separator: ":").first { access("\($0)/\(name)", X_OK) == 0 }.map { "\($0)/\(name)" }
        }
        if let perf = which("perf"),
           let (status, _) = try? runCapturing([perf, "stat", "-x,", "-e", "syscalls:sys_enter_splice", "--", "true"],
                                               limit: 10, directory: directory, name: "perf-probe"),
           status == 0 {
            return SyscallCounter(method: .perf(perf), directory: directory)
        }
        if let strace = which("strace") { return SyscallCounter(method: .strace(strace), directory: directory) }
        return nil
    }

    var name: String {
        switch method {
        case .perf: "perf stat"
        case .strace: "strace -c -f"
        }
    }

    /// Counts `pid`'s calls while `load` runs; `load` returns the bytes it moved (0: failed).
    func count(pid: pid_t, label: String, _ load: () -> UInt64) -> SyscallFigures? {
        let output = "\(directory)/syscalls-\(label).txt"
        let argv: [String]
        switch method {
        case let .perf(perf):
            let list = Self.events.map { "syscalls:sys_enter_\($0)" } + ["raw_syscalls:sys_enter"]
            argv = [perf, "stat", "-x,", "-o", output, "-p", "\(pid)", "-e", list.joined(separator: ",")]
        case let .strace(strace):
            argv = [strace, "-c", "-f", "-o", output, "-p", "\(pid)"]
        }
        guard let counter = try? ChildProcess(name: "syscalls-\(label)", argv: argv, limit: 300, directory: directory)
        else { return nil }
        // Both attach within milliseconds; the wait keeps the load's first calls in the count.
        usleep(300_000)
        let bytes = load()
        if let tracer = counter.programPID { kill(tracer, SIGINT) }
        if counter.wait(limit: 10) == nil { counter.terminate() }
        guard bytes > 0, let text = ProcFS.read(output) else { return nil }
        let calls = parse(text)
        guard let total = calls["total"], total > 0 else { return nil }
        let gib = Double(bytes) / Double(1 << 30)
        let splice = calls["splice"] ?? 0
        let waits = (calls["epoll_wait"] ?? 0) + (calls["epoll_pwait"] ?? 0) + (calls["epoll_pwait2"] ?? 0)
        let ctl = calls["epoll_ctl"] ?? 0
        let copies = Self.copyCalls.reduce(0) { $0 + (calls[$1] ?? 0) }
        return SyscallFigures(
            method: name, bytes: bytes, splicePerGiB: splice / gib, epollWaitPerGiB: waits / gib, epollCtlPerGiB: ctl / gib,
            readWritePerGiB: copies / gib, otherPerGiB: max(0, total - splice - waits - ctl - copies) / gib, totalPerGiB: total / gib,
            bytesPerSplice: splice > 0 ? Double(bytes) * 2 / splice : nil,
            bytesPerTransfer: splice + copies > 0 ? Double(bytes) * 2 / (splice + copies) : nil)
    }

    /// Calls by name (the `events` above) and "total", from perf's CSV or strace's summary.
    func parse(_ text: String) -> [String: Double] {
        var calls: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            switch method {
            case .perf:
                // value,unit,event,…: "1234,,syscalls:sys_enter_splice,…"
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                guard fields.count > 2, let value = Double(fields[0]) else { continue }
                let event = fields[2]
                if event == "raw_syscalls:sys_enter" {
                    calls["total"] = value
                } else if event.hasPrefix("syscalls:sys_enter_") {
                    calls[String(event.dropFirst("syscalls:sys_enter_".count))] = value
                }
            case .strace:
                // % time  seconds  usecs/call  calls  [errors]  syscall; "total" ends the table.
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 5, let value = Double(fields[3]), let name = fields.last else { continue }
                calls[String(name), default: 0] += value
            }
        }
        return calls
    }
}
