import Glibc

/// CPU seconds read before a run, of one process (none for direct) and of the whole machine;
/// `perGiB` reads them again after it and divides what each spent by the bytes moved.
struct CPUMeter {
    let pid: pid_t?
    let process: Double?
    let machine: Double?

    init(pid: pid_t?) {
        self.pid = pid
        process = pid.flatMap(ProcFS.cpuSeconds)
        machine = ProcFS.machineBusySeconds()
    }

    func perGiB(bytes: Double) -> (process: Double?, machine: Double?) {
        guard bytes > 0 else { return (nil, nil) }
        let gib = bytes / Double(1 << 30)
        var result: (process: Double?, machine: Double?) = (nil, nil)
        if let pid, let process, let now = ProcFS.cpuSeconds(pid) { result.process = (now - process) / gib }
        if let machine, let now = ProcFS.machineBusySeconds() { result.machine = (now - machine) / gib }
        return result
    }
}

/// Readings from /proc about other processes: CPU time, resident memory, open descriptors,
/// listening ports. Every reader returns nil (or an empty answer) when the process is gone.
enum ProcFS {
    /// The whole file as text (procfs files report size 0, so read until EOF).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// User + system CPU seconds of `pid`, including children it has reaped (socat forks one
    /// per connection and reaps it: its work shows up only in cutime/cstime).
    static func cpuSeconds(_ pid: pid_t) -> Double? {
        guard let stat = read("/proc/\(pid)/stat"), let paren = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; utime, stime, cutime, cstime are 14–17.
        let fields = stat[stat.index(after: paren)...].split(separator: " ")
        guard fields.count > 14 else { return nil }
        let ticks = fields[11...14].compactMap { Double($0) }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Busy CPU seconds of the whole machine since boot, every CPU summed: user, nice, system,
    /// irq, softirq and steal from /proc/stat's first line (guest time is inside user). On
    /// loopback a proxy's per-process figure is not what it costs: the kernel runs a segment's
    /// receive processing in softirq in whichever process sent it (or in ksoftirqd), so a peer's
    /// TCP work lands in the proxy's account or the proxy's in the peer's, depending on timing.
    /// This figure has no such split; its increase over a direct run is what the proxy adds.
    static func machineBusySeconds() -> Double? {
        guard let stat = read("/proc/stat"), let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// VmRSS of `pid` in KiB.
    static func rssKiB(_ pid: pid_t) -> Int? {
        guard let status = read("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// Open descriptors of `pid` by kind.
    struct Descriptors: Equatable, CustomStringConvertible {
        var total = 0
        var sockets = 0
        var pipes = 0
        var description: String { "\(total) fds (\(sockets) sockets, \(pipes) pipe ends)" }
    }

    static func descriptors(_ pid: pid_t) -> Descriptors? {
        guard let dir = opendir("/proc/\(pid)/fd") else { return nil }
        defer { closedir(dir) }
        var result = Descriptors()
        var target = [CChar](repeating: 0, count: 256)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            result.total += 1
            let n = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
            guard n > 0 else { continue }
            let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("socket:") { result.sockets += 1 } else if link.hasPrefix("pipe:") { result.pipes += 1 }
        }
        return result
    }

    /// Whether some socket listens on 127.0.0.1:`port` (or any IPv4 address): how a peer's
    /// readiness is seen without connecting to it (a probe connection would be relayed to the
    /// sink and disturb it, e.g. iperf3's server).
    static func isListening(port: UInt16) -> Bool {
        guard let table = read("/proc/net/tcp") else { return false }
        let hexPort = String(port, radix: 16, uppercase: true)
        let wanted = String(repeating: "0", count: 4 - hexPort.count) + hexPort
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl local_address rem_address st ...; st 0A is TCP_LISTEN.
            guard fields.count > 3, fields[3] == "0A" else { continue }
            if fields[1].hasSuffix(":" + wanted) { return true }
        }
        return false
    }

    /// Children of `pid` (its main thread's), from /proc/PID/task/PID/children.
    static func children(_ pid: pid_t) -> [pid_t] {
        (read("/proc/\(pid)/task/\(pid)/children") ?? "").split(separator: " ").compactMap { pid_t($0) }
    }

    /// The soft and hard RLIMIT_NOFILE.
    static func fileLimit() -> (soft: Int, hard: Int) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return (Int(limit.rlim_cur), Int(limit.rlim_max))
    }

    /// Raises the soft RLIMIT_NOFILE to the hard one; returns the new soft limit. Every process
    /// that holds thousands of sockets needs it (the default soft limit is often 1024).
    @discardableResult
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return fileLimit().soft
    }
}

/// Monotonic seconds, for bounding waits.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Polls `condition` every `step` until it holds or `limit` seconds pass; returns whether it held.
func waitUntil(_ limit: Double, step: UInt32 = 10_000, _ condition: () -> Bool) -> Bool {
    let end = monotonicSeconds() + limit
    while true {
        if condition() { return true }
        if monotonicSeconds() > end { return false }
        usleep(step)
    }
}
