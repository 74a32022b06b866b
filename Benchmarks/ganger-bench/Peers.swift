import Glibc

/// What traffic goes through in one measurement: nothing (direct) or one proxy.
enum Peer: String, CaseIterable, Sendable, Codable {
    case direct
    case relay = "ganger-relay"
    /// The relay with 8 large copy buffers for fat streams (`relay.large_buffers: 8`, opt-in):
    /// what copying a fat stream changes, in the same run.
    case relayCopy = "ganger-relay-copy"
    case haproxy
    case socat
    /// socat with 1 MiB buffers (`-b 1048576`); BENCH.md: report whichever socat is faster.
    case socatBig = "socat-b1M"

    /// The peers whose system calls are counted: one process each (socat forks a child per
    /// connection, which `perf stat -p` would not follow).
    static let syscallCounted: [Peer] = [.relay, .relayCopy, .haproxy]

    var tool: String? {
        switch self {
        case .direct, .relay, .relayCopy: nil
        case .haproxy: "haproxy"
        case .socat, .socatBig: "socat"
        }
    }
}

/// The peer programs found on this machine (Debian's packages) and their versions.
struct Tools {
    var paths: [String: String] = [:]
    var versions: [String: String] = [:]

    static func find(directory: String) -> Tools {
        var tools = Tools()
        let searchPath = (getenv("PATH").map { String(cString: $0) } ?? "") + ":/usr/sbin:/sbin:/usr/bin"
        for name in ["haproxy", "socat", "iperf3"] {
            guard let dir = searchPath.split(separator: ":").first(where: { access("\($0)/\(name)", X_OK) == 0 }) else { continue }
            let path = "\(dir)/\(name)"
            tools.paths[name] = path
            let flag = name == "haproxy" ? "-v" : name == "socat" ? "-V" : "--version"
            if let (_, text) = try? runCapturing([path, flag], limit: 10, directory: directory, name: "version-\(name)") {
                // socat prints a banner line first; the version is on the line naming it.
                let line = text.split(separator: "\n").first { $0.lowercased().contains("version") || $0.hasPrefix("iperf") }
                tools.versions[name] = line.map { String($0) } ?? "?"
            }
        }
        return tools
    }

    func has(_ name: String) -> Bool { paths[name] != nil }
}

/// Starts proxies in their best configuration (BENCH.md) in front of `target`.
struct ProxyLauncher {
    let tools: Tools
    let directory: String
    /// Seconds a proxy may live: well beyond a whole bench run, so it only bounds a crashed one.
    let limit: Int

    func start(_ peer: Peer, port: UInt16, target: UInt16, targetHost: String = "127.0.0.1", label: String,
               maxConnections: Int) throws(BenchError) -> ChildProcess {
        let name = "\(peer.rawValue)-\(label)"
        let argv: [String]
        switch peer {
        case .direct:
            throw BenchError("direct has no proxy")
        case .relay:
            argv = [selfExecutable(), "relay", "--listen", "127.0.0.1:\(port)", "--target", "\(targetHost):\(target)"]
        case .relayCopy:
            argv = [selfExecutable(), "relay", "--listen", "127.0.0.1:\(port)", "--target", "\(targetHost):\(target)",
                    "--large-buffers", "8"]
        case .haproxy:
            let config = "\(directory)/\(name).cfg"
            try writeFile(config, haproxyConfig(port: port, target: target, targetHost: targetHost, maxConnections: maxConnections))
            argv = [tools.paths["haproxy"]!, "-db", "-f", config]
        case .socat, .socatBig:
            // fork: one child per connection, as socat serves many; max-children bounds them;
            // a deep backlog keeps a connect burst from costing SYN retransmits.
            let listen = "TCP-LISTEN:\(port),reuseaddr,fork,bind=127.0.0.1,backlog=4096,max-children=\(maxConnections)"
            argv = [tools.paths["socat"]!] + (peer == .socatBig ? ["-b", "1048576"] : []) + [listen, "TCP:\(targetHost):\(target)"]
        }
        let child = try ChildProcess(name: name, argv: argv, limit: limit, directory: directory)
        guard waitUntil(10, { ProcFS.isListening(port: port) || !child.isRunning }), child.isRunning,
              child.programPID != nil
        else {
            child.terminate()
            throw BenchError("\(name) did not start listening on 127.0.0.1:\(port): \(child.errors.suffix(400))")
        }
        return child
    }

    /// BENCH.md's HAProxy configuration, verbatim, plus `maxconn` (its default, derived from the
    /// descriptor limit, would cap the many-connection runs), a deep backlog and `no strict-limits`:
    /// `maxpipes 20000` makes it ask for ~40,000 descriptors, and since 2.3 it refuses to start
    /// when RLIMIT_NOFILE cannot be raised that far (20,000 hard here). The runs use far fewer.
    func haproxyConfig(port: UInt16, target: UInt16, targetHost: String = "127.0.0.1", maxConnections: Int) -> String {
        """
        global
          nbthread 1
          maxpipes 20000
          tune.pipesize 1048576
          maxconn \(maxConnections)
          no strict-limits
        defaults
          mode tcp
          option splice-request
          option splice-response
          timeout connect 5s
          timeout client 60s
          timeout server 60s
          maxconn \(maxConnections)
          backlog 4096
        listen p
          bind 127.0.0.1:\(port)
          server s \(targetHost):\(target)

        """
    }
}

/// This program's path, to start its own `relay` and `sink` subcommands.
func selfExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
}

/// A free loopback port, found by binding port 0. The port is free again when this returns, so
/// another process could take it first; on loopback in a bench run that does not happen.
func freePort() throws(BenchError) -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}

func writeFile(_ path: String, _ text: String) throws(BenchError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchError("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw BenchError("write \(path): \(String(cString: strerror(errno)))") }
        offset += n
    }
}
