import EventLoop
import GangerCore
import Glibc

/// `ganger-bench scheduler`: the scheduler's own costs (bench/README.md, "Scheduler").
///
/// 1. Admissions per second of the pure `Scheduler` ganger runs, with 1,000 simulated daemons
///    (cap 10 each, all full) and 10,000 clients queued: one admission is what the lifecycle
///    does when a container's slot comes free — `ended` (its source uncounted), `release(daemon)`
///    (the oldest queued client granted a daemon) — plus an `admit` of a new arrival so the queue
///    stays at 10,000 (with its queue deadline). One thread, no I/O.
/// 2. The time from a container's end (its slot released) to the next queued client's admission
///    (a daemon chosen for it), Docker calls aside: `ended` + `release` timed one admission at a
///    time (p50 / p99 / max), clock reads included.
/// 3. ganger's RSS with 10,000 clients waiting: a real `ganger run` (the release binary next to
///    this one) on BENCH_DOCKER_HOST (default the default dockerd) with max_containers 1, one session holding the only
///    container, queue.max 20,000, then 10,000 loopback connections that wait; VmRSS read from
///    /proc before and after. Every container of its instance is removed at the end.
enum SchedulerBench {
    struct Figures {
        var admissionsPerSecond: [Double] = []
        var latencyNs: (p50: Double, p99: Double, max: Double) = (0, 0, 0)
        var rss: (idleKiB: Int, queuedKiB: Int, queued: Int)?
        var notes: [String] = []
    }

    static func run() -> Int32 {
        let rounds = Int(environment("BENCH_ROUNDS") ?? "") ?? 3
        let quick = environment("BENCH_QUICK") == "1"
        var figures = Figures()
        print("ganger-bench scheduler: \(rounds) round(s)\(quick ? " (quick)" : "")")
        for round in 1...rounds {
            let rate = admissionsPerSecond(daemons: 1000, capacity: 10, queued: 10_000, admissions: quick ? 200_000 : 2_000_000)
            figures.admissionsPerSecond.append(rate)
            print(String(format: "  round %d: %.2f M admissions/s (1,000 daemons, 10,000 queued)", round, rate / 1e6))
        }
        figures.latencyNs = endToAdmissionLatency(daemons: 1000, capacity: 10, queued: 10_000, samples: quick ? 20_000 : 200_000)
        do {
            figures.rss = try queuedRSS(clients: quick ? 1_000 : 10_000)
        } catch {
            figures.notes.append("RSS run failed: \(error)")
        }
        let sorted = figures.admissionsPerSecond.sorted()
        print("")
        print("scheduler figures (1 thread; \(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) cores, kernel \(kernelRelease()))")
        print(String(format: "  admissions/s, Scheduler, 1,000 daemons, 10,000 queued: min %.2f M, median %.2f M, max %.2f M  (target >= 1 M)",
                     sorted.first! / 1e6, sorted[sorted.count / 2] / 1e6, sorted.last! / 1e6))
        print(String(format: "  slot free -> next queued client admitted (in-process, Docker calls aside): p50 %.0f ns, p99 %.0f ns, max %.1f us  (target < 1 ms)",
                     figures.latencyNs.p50, figures.latencyNs.p99, figures.latencyNs.max / 1000))
        if let rss = figures.rss {
            let per = rss.queued > 0 ? Double(rss.queuedKiB - rss.idleKiB) * 1024 / Double(rss.queued) : 0
            print(String(format: "  ganger VmRSS: %.1f MiB idle (1 session), %.1f MiB with %d clients queued (%.0f bytes per queued client)  (target < 64 MiB)",
                         Double(rss.idleKiB) / 1024, Double(rss.queuedKiB) / 1024, rss.queued, per))
        }
        for note in figures.notes { print("  NOTE \(note)") }
        return figures.notes.isEmpty ? 0 : 1
    }

    /// A `Scheduler` with every slot of `daemons` × `capacity` taken and `queued` clients
    /// waiting (60 s queue timeout, 256 distinct sources), and the daemon of each running
    /// container in start order.
    static func fullScheduler(daemons: Int, capacity: Int, queued: Int) -> (Scheduler, [Int], [String]) {
        let policy = Scheduler.Policy(queueMax: queued * 2, queueTimeout: 60_000_000_000, perSourceLimit: 0)
        var scheduler = Scheduler(placement: Placement(capacities: Array(repeating: capacity, count: daemons)), policies: [policy])
        let sources = (0..<256).map { "10.0.\($0 / 16).\($0 % 16)" }
        var holders: [Int] = []
        holders.reserveCapacity(daemons * capacity)
        var id: UInt64 = 0
        while case let .admitted(.daemon(d)) = scheduler.admit(id, service: 0, source: sources[Int(id) % 256], now: 0) {
            holders.append(d)
            id += 1
        }
        for _ in 0..<queued {
            _ = scheduler.admit(id, service: 0, source: sources[Int(id) % 256], now: 0)
            id += 1
        }
        return (scheduler, holders, sources)
    }

    /// Fills every slot, queues `queued` clients, then times `admissions` rounds of what ganger's
    /// scheduler does when a container ends: `ended` (its source uncounted) and `release` (the
    /// oldest queued client granted the slot), plus `admit` of a newcomer so the queue stays at
    /// `queued` (with its queue deadline).
    static func admissionsPerSecond(daemons: Int, capacity: Int, queued: Int, admissions: Int) -> Double {
        var (scheduler, holders, sources) = fullScheduler(daemons: daemons, capacity: capacity, queued: queued)
        var nextID = UInt64(holders.count + queued)
        var cursor = 0
        var checksum: UInt64 = 0
        let start = monotonicNanoseconds()
        for step in 0..<admissions {
            // A container ends: its source is uncounted and its slot frees.
            scheduler.ended(service: 0, source: sources[step & 255])
            let grants = scheduler.release(holders[cursor])
            guard grants.count == 1, case let .daemon(daemon) = grants[0].slot else { fatalError("no admission") }
            holders[cursor] = daemon
            cursor = cursor + 1 == holders.count ? 0 : cursor + 1
            checksum &+= grants[0].client &+ UInt64(daemon)
            // A newcomer keeps the queue at `queued`.
            _ = scheduler.admit(nextID, service: 0, source: sources[Int(nextID) & 255], now: UInt64(step))
            nextID += 1
        }
        let elapsed = monotonicNanoseconds() - start
        if checksum == 42 { print("") }  // keeps the loop's work observable
        return Double(admissions) / (Double(elapsed) / 1e9)
    }

    /// ended → release (→ the grant), each admission timed on its own.
    static func endToAdmissionLatency(daemons: Int, capacity: Int, queued: Int, samples: Int) -> (p50: Double, p99: Double, max: Double) {
        var (scheduler, holders, sources) = fullScheduler(daemons: daemons, capacity: capacity, queued: queued)
        var nextID = UInt64(holders.count + queued)
        var times = [UInt64](repeating: 0, count: samples)
        var cursor = 0
        for i in 0..<samples {
            let t0 = monotonicNanoseconds()
            scheduler.ended(service: 0, source: sources[i & 255])
            let grants = scheduler.release(holders[cursor])
            let t1 = monotonicNanoseconds()
            guard grants.count == 1, case let .daemon(daemon) = grants[0].slot else { fatalError("no admission") }
            times[i] = t1 - t0
            holders[cursor] = daemon
            cursor = (cursor + 1) % holders.count
            _ = scheduler.admit(nextID, service: 0, source: sources[Int(nextID) & 255], now: UInt64(i))
            nextID += 1
        }
        times.sort()
        return (Double(times[samples / 2]), Double(times[samples * 99 / 100]), Double(times[samples - 1]))
    }

    // MARK: RSS of a real ganger with clients queued

    static func queuedRSS(clients: Int) throws -> (idleKiB: Int, queuedKiB: Int, queued: Int) {
        let limit = ProcFS.raiseFileLimit()
        guard limit >= clients + 100 else { throw BenchError("RLIMIT_NOFILE \(limit) too low for \(clients) clients") }
        let binary = selfExecutable().split(separator: "/").dropLast().joined(separator: "/")
        let ganger = "/" + binary + "/ganger"
        guard access(ganger, X_OK) == 0 else { throw BenchError("\(ganger) missing (make release)") }
        var template = "/tmp/ganger-bench-sched-XXXXXX".utf8CString
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw BenchError("mkdtemp") }
        let directory = String(cString: made)
        let instance = "bench-sched-\(UInt32.random(in: 0...UInt32.max))"
        let daemon = environment("BENCH_DOCKER_HOST") ?? "unix:///var/run/docker.sock"
        let config = """
            instance: \(instance)
            daemons:
              - url: \(daemon)
                max_containers: 1
            services:
              - name: echo
                listen: 127.0.0.1:0
                image: ganger-echo:latest
                port: 12345
                pull: never
                queue: {max: 20000, timeout: 600s}
                per_source: {rate: 0}
                accept: {rate: 0}
            status: {listen: 127.0.0.1:0}
            docker_timeout: 30s
            shutdown_grace: 1s
            log: {level: warning, format: text}

            """
        try writeFile("\(directory)/ganger.yml", config)
        print("  RSS: ganger run (instance \(instance), logs in \(directory))")
        let child = try ChildProcess(name: "ganger", argv: [ganger, "run", "-c", "\(directory)/ganger.yml"], limit: 600, directory: directory)
        var sockets: [CInt] = []
        defer {
            for fd in sockets { close(fd) }
            child.terminate(grace: 15)
            removeInstance(instance, daemon: daemon)
        }
        var port: UInt16?
        _ = waitUntil(30) {
            port = child.output.split(separator: "\n").compactMap { line -> UInt16? in
                guard line.hasPrefix("ganger: service echo listening on "), let colon = line.lastIndex(of: ":") else { return nil }
                return UInt16(line[line.index(after: colon)...])
            }.first
            return port != nil || !child.isRunning
        }
        guard let port, let pid = child.programPID else { throw BenchError("ganger did not listen: \(child.errors.suffix(2000))") }
        // The one container: a session that echoes, then holds it.
        let holder = try connectBlocking(port: port)
        sockets.append(holder)
        var line = Array("hold\n".utf8)
        guard write(holder, &line, line.count) == line.count else { throw BenchError("write to the holder") }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(holder, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var back = [UInt8](repeating: 0, count: 5)
        guard read(holder, &back, 5) > 0 else { throw BenchError("the holding session got no echo: \(child.errors.suffix(2000))") }
        usleep(500_000)
        let idle = ProcFS.rssKiB(pid) ?? 0
        let baseFDs = ProcFS.descriptors(pid)?.total ?? 0
        // 10,000 clients that wait: connected in batches, each counted once ganger holds it.
        let started = monotonicSeconds()
        while sockets.count - 1 < clients, monotonicSeconds() - started < 120 {
            for _ in 0..<min(500, clients - (sockets.count - 1)) { sockets.append(try connectNonBlocking(port: port)) }
            _ = waitUntil(5) { (ProcFS.descriptors(pid)?.total ?? 0) - baseFDs >= sockets.count - 1 }
        }
        let held = (ProcFS.descriptors(pid)?.total ?? 0) - baseFDs
        usleep(500_000)
        let queuedRSS = ProcFS.rssKiB(pid) ?? 0
        print("  RSS: \(held) client sockets held by ganger beside the session; VmRSS \(idle) KiB -> \(queuedRSS) KiB")
        guard held >= clients else { throw BenchError("ganger holds \(held) of \(clients) clients") }
        return (idle, queuedRSS, held)
    }

    static func connectNonBlocking(port: UInt16) throws -> CInt {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 || errno == EINPROGRESS else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw BenchError("connect 127.0.0.1:\(port): \(message)")
        }
        return fd
    }

    static func connectBlocking(port: UInt16) throws -> CInt {
        let fd = try connectNonBlocking(port: port)
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, 5000) == 1 else { throw BenchError("connect 127.0.0.1:\(port): timed out") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// `docker rm -f` of whatever the instance left (ganger removes its own on SIGTERM; this
    /// is the safety net), and a line saying what was found.
    static func removeInstance(_ instance: String, daemon: String) {
        let directory = "/tmp"
        guard let (_, ids) = try? runCapturing(["docker", "-H", daemon, "ps", "-aq", "--filter", "label=ganger.instance=\(instance)"],
                                               limit: 60, directory: directory, name: "ps-\(instance)") else { return }
        let list = ids.split(separator: "\n").map(String.init)
        if list.isEmpty {
            print("  RSS: no container of \(instance) left")
        } else {
            print("  RSS: removing \(list.count) container(s) of \(instance) ganger left")
            _ = try? runCapturing(["docker", "-H", daemon, "rm", "-f"] + list, limit: 60, directory: directory, name: "rm-\(instance)")
        }
        unlink("\(directory)/ps-\(instance).out"); unlink("\(directory)/ps-\(instance).err")
        unlink("\(directory)/rm-\(instance).out"); unlink("\(directory)/rm-\(instance).err")
    }
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
