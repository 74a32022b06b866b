import EventLoop
import Glibc
import Synchronization

let interruptHandlerInstalled = Mutex(false)

/// `ganger-bench all`: every measurement, every available peer, one run; table + JSON.
enum Suite {
    static func run() -> Int32 {
        installInterruptHandlerOnce()
        let limit = ProcFS.raiseFileLimit()
        let started = monotonicSeconds()
        let stamp = utcStamp()
        let settings = BenchSettings.fromEnvironment(fileLimit: limit)
        var template = "/tmp/ganger-bench-XXXXXX".utf8CString
        guard let dirPointer = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            printError("ganger-bench: mkdtemp failed\n")
            return 2
        }
        let directory = String(cString: dirPointer)
        func log(_ line: String) {
            print(line)
            fflush(nil)
        }
        log("ganger-bench: \(settings.rounds) round(s), logs in \(directory)")

        let tools = Tools.find(directory: directory)
        var skipped: [String] = []
        var notes: [String] = []
        var peers: [Peer] = []
        for peer in Peer.allCases {
            if let tool = peer.tool, !tools.has(tool) {
                skipped.append("\(peer.rawValue): \(tool) not installed (bench/install-peers.sh installs it)")
            } else {
                peers.append(peer)
            }
        }
        for line in skipped { log("SKIP \(line)") }
        if settings.idleConnections < 10_000 && !settings.quick {
            notes.append("RLIMIT_NOFILE \(limit) leaves room for \(settings.idleConnections) idle relayed connections, not 10,000"
                + " (the relay holds 2 descriptors per connection); the 10,000 figure is extrapolated per connection")
        }
        // BENCH_SYSCALLS=0 skips the counted runs.
        let counter = environment("BENCH_SYSCALLS") == "0" ? nil : SyscallCounter.find(tools: tools, directory: directory)
        if counter == nil && environment("BENCH_SYSCALLS") != "0" {
            notes.append("syscalls per GiB not counted: neither perf (with syscall tracepoints) nor strace found")
        }
        let launcher = ProxyLauncher(tools: tools, directory: directory, limit: 1800)
        var report = Report(
            date: stamp.human, kernel: kernelRelease(), cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), fileLimit: limit,
            versions: tools.versions, settings: settings, skipped: skipped, singleStream: [:], manyConnections: [:],
            descriptors: [], notes: notes, durationSeconds: 0)

        do {
            // (a) single connection through iperf3.
            if tools.has("iperf3") {
                log("(a) single connection")
                let serverPort = try freePort()
                let server = try ChildProcess(name: "iperf3-server",
                                              argv: [tools.paths["iperf3"]!, "-s", "-B", "127.0.0.1", "-p", "\(serverPort)"],
                                              limit: 1800, directory: directory)
                defer { server.terminate() }
                guard waitUntil(10, { ProcFS.isListening(port: serverPort) }) else { throw BenchError("iperf3 -s did not listen") }
                var streamPeers = peers
                let (proxies, ports) = startProxies(&streamPeers, target: serverPort, label: "stream", maxConnections: 100,
                                                    launcher, report: &report, log: log)
                defer { for proxy in proxies.values { proxy.terminate() } }
                let baseline = proxies[.relay]?.programPID.flatMap(ProcFS.descriptors)
                let throughput = Throughput(settings: settings, tools: tools, directory: directory)
                let samples = throughput.run(peers: streamPeers, proxies: proxies, ports: ports, serverPort: serverPort, log: log)
                (report.singleStream, report.singleStreamSocatBest) = Report.figures(samples.mapValues { $0.map { ($0.gbps, $0.cpuPerGiB, 0, $0.machineCPUPerGiB) } })
                if let counter {
                    report.singleStreamSyscalls = throughput.countSyscalls(peers: streamPeers, proxies: proxies, ports: ports,
                                                                           counter: counter, log: log)
                }
                if let relay = proxies[.relay], let baseline {
                    report.descriptors.append(DescriptorCheck.check(name: "relay after (a)", relay: relay, baseline: baseline))
                }
            } else {
                log("SKIP (a) single connection: iperf3 not installed")
                report.skipped.append("(a) single connection: iperf3 not installed")
            }

            // (b) many connections, (c) idle connections, (d) descriptors, against one sink.
            log("(b) \(settings.manyConnections) concurrent connections")
            let sinkPort = try freePort()
            let sink = try ChildProcess(name: "sink", argv: [selfExecutable(), "sink", "--listen", "127.0.0.1:\(sinkPort)"],
                                        limit: 1800, directory: directory)
            defer { sink.terminate() }
            guard waitUntil(10, { ProcFS.isListening(port: sinkPort) }) else { throw BenchError("sink did not listen") }
            let loop = try ReactorThread()
            defer { loop.stop() }
            var manyPeers = peers
            var (proxies, ports) = startProxies(&manyPeers, target: sinkPort, label: "many",
                                                maxConnections: settings.manyConnections + 100, launcher, report: &report, log: log)
            defer { for proxy in proxies.values { proxy.terminate() } }
            let baseline = proxies[.relay]?.programPID.flatMap(ProcFS.descriptors)
            let many = ManyConnections(settings: settings, loop: loop)
            let (samples, sent) = many.run(peers: manyPeers, proxies: proxies, ports: ports, sinkPort: sinkPort, log: log)
            (report.manyConnections, report.manyConnectionsSocatBest) = Report.figures(samples.mapValues { $0.map { ($0.gbps, $0.cpuPerGiB, $0.failed, $0.machineCPUPerGiB) } })
            var counted: UInt64 = 0
            if let counter {
                (report.manyConnectionsSyscalls, counted) = many.countSyscalls(peers: manyPeers, proxies: proxies, ports: ports,
                                                                               counter: counter, log: log)
            }
            // Only the relay is needed from here on; the others would only add noise.
            for peer in [Peer.haproxy, .socat, .socatBig] { proxies.removeValue(forKey: peer)?.terminate() }

            if let relay = proxies[.relay], let baseline, let relayPort = ports[.relay] {
                log("(c) \(settings.idleConnections) idle connections through ganger-relay")
                let idle = IdleConnections(settings: settings, loop: loop)
                report.idle = try idle.run(relay: relay, sink: sink, sinkPort: sinkPort, relayPort: relayPort,
                                           relayBaseline: baseline, log: log)
                log("(d) descriptors")
                report.descriptors.append(DescriptorCheck.check(name: "relay after (b) and (c)", relay: relay, baseline: baseline))
            }
            sink.terminate()
            report.sinkBytes = Sink.parseSummary(sink.output)["bytes"]
            report.driverBytes = sent + counted
        } catch {
            log("ganger-bench: \(error)")
            report.notes.append("aborted: \(error)")
        }

        report.durationSeconds = monotonicSeconds() - started
        log("")
        log(report.table)
        do {
            let path = try report.write(stamp: stamp.file)
            log("wrote \(path)")
        } catch {
            log("ganger-bench: writing the JSON failed: \(error)")
            return 2
        }
        let failed = report.notes.contains { $0.hasPrefix("aborted") } || report.descriptors.contains { !$0.ok }
        return failed ? 1 : 0
    }

    /// Starts each proxy peer in front of `target` on a port of its own. A peer that fails to
    /// start is left out of this measurement (and said so), not the whole run.
    private static func startProxies(_ peers: inout [Peer], target: UInt16, label: String, maxConnections: Int,
                                     _ launcher: ProxyLauncher, report: inout Report,
                                     log: (String) -> Void) -> ([Peer: ChildProcess], [Peer: UInt16]) {
        var proxies: [Peer: ChildProcess] = [:]
        var ports: [Peer: UInt16] = [:]
        for peer in peers where peer != .direct {
            do {
                let port = try freePort()
                proxies[peer] = try launcher.start(peer, port: port, target: target, label: label, maxConnections: maxConnections)
                ports[peer] = port
            } catch {
                log("SKIP \(peer.rawValue) (\(label)): \(error)")
                report.skipped.append("\(peer.rawValue) (\(label)): \(error)")
            }
        }
        peers.removeAll { $0 != .direct && proxies[$0] == nil }
        return (proxies, ports)
    }

    /// TERM/INT stop every peer process before the bench exits: they run under `timeout` in
    /// their own process groups, so a terminal's Ctrl-C would not reach them.
    /// Installs the handler unless an earlier part of this run did (`all` runs both suites).
    static func installInterruptHandlerOnce() {
        let first = interruptHandlerInstalled.withLock { installed in
            defer { installed = true }
            return !installed
        }
        if first { installInterruptHandler() }
    }

    private static func installInterruptHandler() {
        // Before any other thread: every thread created later inherits the blocked mask, so
        // only the waiting thread below ever sees these signals.
        Signals.block([SIGINT, SIGTERM])
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            var signal: Int32 = 0
            sigwait(&set, &signal)
            let pids = liveChildren.withLock { $0 }
            for pid in pids {
                for child in ProcFS.children(pid) { kill(child, SIGTERM) }
                kill(pid, SIGTERM)
            }
            // ganger removes its containers on SIGTERM; the bench's own (and any ganger left) go by label.
            var swept = 0
            if let prefix = sweepPrefix.withLock({ $0 }) {
                _ = waitUntil(10) { pids.allSatisfy { waitpid($0, nil, WNOHANG) != 0 } }
                swept = EngineAPI(timeout: 10).sweep(instancePrefix: prefix)
            }
            printError("ganger-bench: interrupted; stopped \(pids.count) peer process(es), removed \(swept) container(s)\n")
            _exit(130)
        }, nil)
    }
}
