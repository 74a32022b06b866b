import Glibc

/// (f) One connection into a container running ganger-bench-source (one byte in, N MiB out),
/// every peer in the same run, the order rotated each round:
///
/// - direct: the client straight to a long-running source container's bridge IP;
/// - ganger-relay: the bench's relay (the RelayProxy target: EventLoop's Relay alone) → that IP;
/// - haproxy: BENCH.md's splice configuration → that IP;
/// - docker-proxy: a second long-running source container published on 127.0.0.1 (`-p
///   127.0.0.1::12345`), the client to the published port;
/// - ganger: release `ganger run`, a fresh container per connection.
///
/// Every source container has Ganger's HostConfig (1 CPU, 256 MiB, 256 pids), so only the path in
/// front of it differs. Whole-session Gbit/s counts from before connect() to EOF (for ganger that
/// includes the cold start); streaming Gbit/s from the first byte to EOF.
struct ContainerStreams {
    enum StreamPeer: String, CaseIterable, Codable {
        case direct
        case relay = "ganger-relay"
        /// The relay copying fat streams through large buffers (`--large-buffers 8`).
        case relayCopy = "ganger-relay-copy"
        case haproxy
        case dockerProxy = "docker-proxy"
        case ganger
    }

    struct Sample: Codable {
        var sessionGbps: Double
        var streamingGbps: Double
        var firstByteMs: Double
        var cpuPerGiB: Double?
    }

    struct PeerResult: Codable {
        var session: Figure
        var streaming: Figure
        var firstByteMs: Figure
        var cpuSecondsPerGiB: Figure?
        var streamingRatioToDirect: Double?
        var streamingRatioToHAProxy: Double?
        var sessionRatioToHAProxy: Double?
        var cpuRatioToHAProxy: Double?
        var failures: Int
    }

    let api: EngineAPI
    let tools: Tools
    let directory: String
    let instance: String
    let settings: BenchSettings
    let cold: ColdSettings
    let ganger: ChildProcess
    let gangerPort: UInt16

    func run(report: inout GangerReport, log: (String) -> Void) throws(BenchError) -> [String: PeerResult] {
        let peersInstance = instance + "-peers"
        let env = ["SOURCE_MIB=\(cold.sourceMiB)"]
        // The long-running sources: one on the bridge, one published on loopback.
        let directID = try api.create(gangerLikeContainer(image: "ganger-bench-source:latest", instance: peersInstance,
                                                          service: "source", client: "direct", env: env))
        try api.start(directID)
        let publishedID = try api.create(gangerLikeContainer(image: "ganger-bench-source:latest", instance: peersInstance,
                                                             service: "source", client: "docker-proxy", env: env, publish: true))
        try api.start(publishedID)
        defer {
            try? api.remove(directID)
            try? api.remove(publishedID)
        }
        guard let directIP = try api.inspect(directID).ip else { throw BenchError("source container has no IP") }
        guard let publishedPort = try api.inspect(publishedID).publishedPort else {
            throw BenchError("docker did not publish 12345/tcp on 127.0.0.1 (userland proxy off?)")
        }
        // Ready: a connection that sends nothing ends the source at once (head sees EOF).
        for (host, port) in [(directIP, UInt16(12345)), ("127.0.0.1", publishedPort)] {
            let (fd, _) = try TCPClient.connectUntilAccepted(host: host, port: port, deadline: 10)
            close(fd)
        }
        let dockerProxyPID = ProcFS.dockerProxy(hostPort: publishedPort)
        if dockerProxyPID == nil { report.notes.append("docker-proxy process for port \(publishedPort) not found: no CPU figure") }

        var peers: [StreamPeer] = [.direct, .relay, .dockerProxy, .ganger]
        var proxies: [StreamPeer: ChildProcess] = [:]
        var ports: [StreamPeer: UInt16] = [.direct: 12345, .dockerProxy: publishedPort, .ganger: gangerPort]
        defer { for proxy in proxies.values { proxy.terminate() } }
        let launcher = ProxyLauncher(tools: tools, directory: directory, limit: 1800)
        for (peer, kind) in [(StreamPeer.relay, Peer.relay), (.relayCopy, .relayCopy), (.haproxy, .haproxy)] {
            if let tool = kind.tool, !tools.has(tool) {
                report.skipped.append("\(peer.rawValue): \(tool) not installed")
                continue
            }
            do {
                let port = try freePort()
                proxies[peer] = try launcher.start(kind, port: port, target: 12345, targetHost: directIP, label: "container",
                                                   maxConnections: 100)
                ports[peer] = port
                if peer == .haproxy || peer == .relayCopy { peers.insert(peer, at: 2) }
            } catch {
                log("SKIP \(peer.rawValue): \(error)")
                report.skipped.append("\(peer.rawValue) (container): \(error)")
                peers.removeAll { $0 == peer }
            }
        }

        var samples: [StreamPeer: [Sample]] = [:]
        var failures: [StreamPeer: Int] = [:]
        let expected = UInt64(cold.sourceMiB) << 20
        for round in 0..<settings.rounds {
            for peer in rotated(peers, by: round) {
                let host = peer == .direct ? directIP : "127.0.0.1"
                let pid: pid_t? = switch peer {
                case .direct: nil
                case .dockerProxy: dockerProxyPID
                case .ganger: ganger.programPID
                default: proxies[peer]?.programPID
                }
                // Per process only: the window includes the container's start and removal, so
                // a whole-machine figure would measure Docker as much as the path.
                let meter = CPUMeter(pid: pid)
                do {
                    let stream = try TCPClient.stream(host: host, port: ports[peer]!)
                    guard stream.bytes == expected else {
                        throw BenchError("received \(stream.bytes) bytes, expected \(expected)")
                    }
                    let gbits = Double(stream.bytes) * 8 / 1e9
                    var sample = Sample(sessionGbps: gbits / stream.session, streamingGbps: gbits / max(stream.streaming, 1e-9),
                                        firstByteMs: stream.firstByte * 1000)
                    if peer == .ganger {
                        // Ganger's share of the session includes removing the container: wait for it.
                        _ = waitUntil(15, step: 5_000) {
                            (try? api.listByInstanceLabel().contains { $0.instance == instance }) == false
                        }
                    }
                    sample.cpuPerGiB = meter.perGiB(bytes: Double(stream.bytes)).process
                    samples[peer, default: []].append(sample)
                    log("  round \(round + 1) \(peer.rawValue): \(format(sample.streamingGbps)) Gbit/s streaming, "
                        + "\(format(sample.sessionGbps)) whole session, first byte \(format(sample.firstByteMs, digits: 1)) ms"
                        + (sample.cpuPerGiB.map { ", \(format($0, digits: 3)) CPU s/GiB" } ?? ""))
                } catch {
                    failures[peer, default: 0] += 1
                    log("  round \(round + 1) \(peer.rawValue): FAILED: \(error)")
                }
            }
        }

        var result: [String: PeerResult] = [:]
        for peer in peers {
            guard let list = samples[peer], let session = Figure(list.map(\.sessionGbps)),
                  let streaming = Figure(list.map(\.streamingGbps)), let first = Figure(list.map(\.firstByteMs)) else { continue }
            result[peer.rawValue] = PeerResult(session: session, streaming: streaming, firstByteMs: first,
                                               cpuSecondsPerGiB: Figure(list.compactMap(\.cpuPerGiB)), failures: failures[peer] ?? 0)
        }
        let direct = result[StreamPeer.direct.rawValue]
        let haproxy = result[StreamPeer.haproxy.rawValue]
        for key in Array(result.keys) {
            result[key]!.streamingRatioToDirect = result[key]!.streaming.ratio(to: direct?.streaming)
            result[key]!.streamingRatioToHAProxy = result[key]!.streaming.ratio(to: haproxy?.streaming)
            result[key]!.sessionRatioToHAProxy = result[key]!.session.ratio(to: haproxy?.session)
            result[key]!.cpuRatioToHAProxy = result[key]!.cpuSecondsPerGiB?.ratio(to: haproxy?.cpuSecondsPerGiB)
        }
        return result
    }
}

extension ProcFS {
    /// The docker-proxy process that serves `hostPort` (its argv has `-host-port PORT`).
    static func dockerProxy(hostPort: UInt16) -> pid_t? {
        guard let dir = opendir("/proc") else { return nil }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), let cmdline = read("/proc/\(pid)/cmdline") else { continue }
            let argv = cmdline.split(separator: "\0").map(String.init)
            guard let first = argv.first, first.hasSuffix("docker-proxy"),
                  let i = argv.firstIndex(of: "-host-port"), i + 1 < argv.count, argv[i + 1] == "\(hostPort)" else { continue }
            return pid
        }
        return nil
    }
}
