import Foundation
import Glibc

/// A minimal blocking Engine API client on one keep-alive unix-socket connection: the "raw
/// Docker floor" (BENCH.md) — nothing between the bench and dockerd but HTTP/1.1. Also used to
/// set up the throughput peers' containers and to sweep every container the bench created.
///
/// Blocking on purpose: it runs on the bench's own thread with nothing else to do meanwhile, so
/// it adds no scheduling of its own to the timed path. Every call has a socket timeout.
final class EngineAPI {
    let socketPath: String
    let version: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    /// Seconds a call may take before it fails (SO_RCVTIMEO/SO_SNDTIMEO).
    let timeout: Int

    init(socketPath: String = "/var/run/docker.sock", version: String = "1.41", timeout: Int = 60) {
        self.socketPath = socketPath
        self.version = version
        self.timeout = timeout
    }

    deinit { if fd >= 0 { close(fd) } }

    struct Response {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    // MARK: Calls

    /// `GET /version`: (Version, ApiVersion).
    func serverVersion() throws(BenchError) -> (version: String, api: String) {
        let response = try call("GET", "/version", versioned: false)
        let object = try json(response)
        return (object["Version"] as? String ?? "?", object["ApiVersion"] as? String ?? "?")
    }

    /// `POST /containers/create`; returns the id.
    func create(_ body: [String: Any]) throws(BenchError) -> String {
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: body) } catch { throw BenchError("encode create body: \(error)") }
        let response = try call("POST", "/containers/create", body: Array(data))
        guard response.status == 201, let id = try json(response)["Id"] as? String else {
            throw BenchError("create: HTTP \(response.status) \(response.text.prefix(300))")
        }
        return id
    }

    func start(_ id: String) throws(BenchError) {
        let response = try call("POST", "/containers/\(id)/start")
        guard response.status == 204 || response.status == 304 else {
            throw BenchError("start \(id.prefix(12)): HTTP \(response.status) \(response.text.prefix(300))")
        }
    }

    struct Inspected {
        var ip: String?
        var running: Bool
        var publishedPort: UInt16?
    }

    /// `GET /containers/{id}/json`: the bridge IP, whether it runs, the host port published for 12345/tcp.
    func inspect(_ id: String, port: UInt16 = 12345) throws(BenchError) -> Inspected {
        let response = try call("GET", "/containers/\(id)/json")
        guard response.status == 200 else { throw BenchError("inspect \(id.prefix(12)): HTTP \(response.status)") }
        let object = try json(response)
        let settings = object["NetworkSettings"] as? [String: Any]
        var ip = settings?["IPAddress"] as? String
        if ip?.isEmpty ?? true, let networks = settings?["Networks"] as? [String: Any] {
            ip = networks.values.compactMap { ($0 as? [String: Any])?["IPAddress"] as? String }.first { !$0.isEmpty }
        }
        let running = (object["State"] as? [String: Any])?["Running"] as? Bool ?? false
        let bindings = (settings?["Ports"] as? [String: Any])?["\(port)/tcp"] as? [[String: Any]]
        let published = bindings?.compactMap { ($0["HostPort"] as? String).flatMap { UInt16($0) } }.first
        return Inspected(ip: ip?.isEmpty == false ? ip : nil, running: running, publishedPort: published)
    }

    /// `DELETE /containers/{id}?force=true&v=true`; 404 counts as gone.
    func remove(_ id: String) throws(BenchError) {
        let response = try call("DELETE", "/containers/\(id)?force=true&v=true")
        guard [204, 200, 404].contains(response.status) else {
            throw BenchError("remove \(id.prefix(12)): HTTP \(response.status) \(response.text.prefix(300))")
        }
    }

    /// Ids and `ganger.instance` labels of every container (any state) carrying the label key
    /// `ganger.instance`.
    func listByInstanceLabel() throws(BenchError) -> [(id: String, instance: String)] {
        let filter = #"{"label":["ganger.instance"]}"#
        let response = try call("GET", "/containers/json?all=true&filters=\(percent(filter))")
        guard response.status == 200 else { throw BenchError("list: HTTP \(response.status)") }
        let array: Any
        do { array = try JSONSerialization.jsonObject(with: Data(response.body)) } catch { throw BenchError("list: \(error)") }
        return (array as? [[String: Any]] ?? []).compactMap { item in
            guard let id = item["Id"] as? String, let labels = item["Labels"] as? [String: String],
                  let instance = labels["ganger.instance"] else { return nil }
            return (id, instance)
        }
    }

    /// Removes every container whose `ganger.instance` label starts with `prefix`; returns how many.
    @discardableResult
    func sweep(instancePrefix prefix: String) -> Int {
        var removed = 0
        for attempt in 0..<3 {
            guard let items = try? listByInstanceLabel() else { usleep(200_000); continue }
            let mine = items.filter { $0.instance.hasPrefix(prefix) }
            if mine.isEmpty { break }
            for item in mine where (try? remove(item.id)) != nil { removed += 1 }
            if attempt > 0 { usleep(200_000) }
        }
        return removed
    }

    // MARK: HTTP/1.1 on a keep-alive unix connection

    /// One request; reconnects once if the kept-alive connection was closed by the daemon.
    func call(_ method: String, _ path: String, body: [UInt8] = [], versioned: Bool = true) throws(BenchError) -> Response {
        let target = versioned ? "/v\(version)\(path)" : path
        var head = "\(method) \(target) HTTP/1.1\r\nHost: docker\r\n"
        if !body.isEmpty || method == "POST" {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let request = Array(head.utf8) + body
        let reused = fd >= 0
        do {
            try ensureConnected()
            try sendAll(request)
            return try readResponse(method: method)
        } catch {
            disconnect()
            guard reused else { throw error }
            try ensureConnected()
            try sendAll(request)
            return try readResponse(method: method)
        }
    }

    private func ensureConnected() throws(BenchError) {
        guard fd < 0 else { return }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw BenchError("socket(AF_UNIX): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { close(s); throw BenchError("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
            raw[pathBytes.count] = 0
        }
        setTimeouts(s, seconds: timeout)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(s)
            throw BenchError("connect \(socketPath): \(message)")
        }
        fd = s
        buffer = []
    }

    private func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        buffer = []
    }

    private func sendAll(_ bytes: [UInt8]) throws(BenchError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BenchError("send to dockerd: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads more bytes into `buffer`; throws at EOF or error.
    private func fill() throws(BenchError) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BenchError("recv from dockerd: \(String(cString: strerror(errno)))") }
            if n == 0 { throw BenchError("dockerd closed the connection") }
            buffer += chunk[0..<n]
            return
        }
    }

    /// The bytes up to and excluding the next CRLF.
    private func line() throws(BenchError) -> String {
        while true {
            if let i = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                let text = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 2)
                return text
            }
            try fill()
        }
    }

    private func take(_ count: Int) throws(BenchError) -> [UInt8] {
        while buffer.count < count { try fill() }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    private func readResponse(method: String) throws(BenchError) -> Response {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw BenchError("bad status line from dockerd: \(statusLine)") }
        var length: Int?
        var chunked = false
        var closeAfter = false
        while true {
            let header = try line()
            if header.isEmpty { break }
            let lower = header.lowercased()
            if lower.hasPrefix("content-length:") { length = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
            if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
            if lower.hasPrefix("connection:") && lower.contains("close") { closeAfter = true }
        }
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
            // no body
        } else if chunked {
            while true {
                let sizeLine = try line()
                guard let size = Int(sizeLine.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                    throw BenchError("bad chunk size from dockerd: \(sizeLine)")
                }
                if size == 0 {
                    while try !line().isEmpty {}
                    break
                }
                body += try take(size)
                _ = try line()
            }
        } else if let length {
            body = try take(length)
        } else {
            // Until EOF.
            while true {
                do { try fill() } catch { break }
            }
            body = buffer
            buffer = []
            closeAfter = true
        }
        if closeAfter { disconnect() }
        return Response(status: status, body: body)
    }

    private func json(_ response: Response) throws(BenchError) -> [String: Any] {
        do {
            guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
                throw BenchError("not a JSON object")
            }
            return object
        } catch {
            throw BenchError("dockerd answered HTTP \(response.status) with unexpected JSON: \(response.text.prefix(200))")
        }
    }

    private func percent(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

/// SO_RCVTIMEO and SO_SNDTIMEO (connect also honours SO_SNDTIMEO).
func setTimeouts(_ fd: Int32, seconds: Int, microseconds: Int = 0) {
    var tv = timeval(tv_sec: seconds, tv_usec: microseconds)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
}

/// The container body Ganger sends for a session (Sources/GangerCore/Lifecycle/ContainerSpec+Service.swift,
/// with the default limits: memory 256m, cpus 1.0, pids 256): the raw floor and the throughput
/// peers' containers use exactly this HostConfig, so only the path in front of them differs.
func gangerLikeContainer(image: String, instance: String, service: String, client: String, env: [String] = [],
                         publish: Bool = false) -> [String: Any] {
    var hostConfig: [String: Any] = [
        "Memory": 256 << 20,
        "NanoCpus": 1_000_000_000,
        "PidsLimit": 256,
        "SecurityOpt": ["no-new-privileges"],
        "NetworkMode": "bridge",
        "RestartPolicy": ["Name": "no"],
        "AutoRemove": false,
    ]
    if publish { hostConfig["PortBindings"] = ["12345/tcp": [["HostIp": "127.0.0.1", "HostPort": ""]]] }
    return [
        "Image": image,
        "Env": env,
        "Labels": ["ganger.managed": "true", "ganger.instance": instance, "ganger.service": service, "ganger.client": client],
        "ExposedPorts": ["12345/tcp": [String: Any]()],
        "HostConfig": hostConfig,
    ]
}
