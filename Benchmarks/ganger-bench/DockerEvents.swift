import Foundation
import Glibc
import Synchronization

/// Records dockerd's container events (`GET /events`, type container) on a thread of its own,
/// with the daemon's `timeNano`: when each container's create and start finished, as dockerd saw
/// it. The cold-start breakdown compares them with the client's clock (CLOCK_REALTIME).
final class DockerEvents: @unchecked Sendable {
    struct Event: Sendable {
        var id: String
        var action: String
        var timeNano: Int64
        var instance: String?
    }

    private let events = Mutex<[Event]>([])
    private let fdBox = Mutex<Int32>(-1)
    private var thread = pthread_t()
    private var running = false

    /// Connects and subscribes; events are recorded until `stop`.
    init(socketPath: String = "/var/run/docker.sock", version: String = "1.41") throws(BenchError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in socketPath.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw BenchError("connect \(socketPath): \(String(cString: strerror(errno)))")
        }
        let filters = #"{"type":["container"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let request = "GET /v\(version)/events?filters=\(filters) HTTP/1.1\r\nHost: docker\r\n\r\n"
        let sent = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else {
            close(fd)
            throw BenchError("send events request failed")
        }
        fdBox.withLock { $0 = fd }
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { raw in
            let me = Unmanaged<DockerEvents>.fromOpaque(raw!).takeRetainedValue()
            me.readLoop()
            return nil
        }, context)
        running = true
        // Docker answers the subscription with its headers at once: wait briefly so that events
        // from the very next call are not missed.
        usleep(50_000)
    }

    /// Every event recorded so far.
    var all: [Event] { events.withLock { $0 } }

    /// The time of `action` on container `id`, if seen.
    func time(_ action: String, id: String) -> Int64? {
        events.withLock { list in list.first { $0.id == id && $0.action == action }?.timeNano }
    }

    /// The first container created after `after` whose instance label is `instance`.
    func firstCreated(instance: String, after: Int64) -> Event? {
        events.withLock { list in list.first { $0.action == "create" && $0.instance == instance && $0.timeNano >= after } }
    }

    func stop() {
        guard running else { return }
        running = false
        let fd = fdBox.withLock { $0 }
        shutdown(fd, Int32(SHUT_RDWR))
        pthread_join(thread, nil)
        close(fd)
    }

    private func readLoop() {
        let fd = fdBox.withLock { $0 }
        var buffer: [UInt8] = []
        var headersDone = false
        var chunk = [UInt8](repeating: 0, count: 65536)
        var payload: [UInt8] = []
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            buffer += chunk[0..<n]
            if !headersDone {
                guard let end = find(buffer, [13, 10, 13, 10]) else { continue }
                buffer.removeFirst(end + 4)
                headersDone = true
            }
            // Chunked transfer: "<hex size>\r\n<data>\r\n".
            while let lineEnd = find(buffer, [13, 10]) {
                let sizeText = String(decoding: buffer[..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first.map(String.init) ?? "", radix: 16) else { return }
                guard buffer.count >= lineEnd + 2 + size + 2 else { break }
                payload += buffer[(lineEnd + 2)..<(lineEnd + 2 + size)]
                buffer.removeFirst(lineEnd + 2 + size + 2)
                if size == 0 { return }
            }
            while let newline = payload.firstIndex(of: 10) {
                record(Array(payload[..<newline]))
                payload.removeFirst(newline + 1)
            }
        }
    }

    private func record(_ line: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let action = object["Action"] as? String, let actor = object["Actor"] as? [String: Any],
              let id = actor["ID"] as? String else { return }
        let nanos = (object["timeNano"] as? NSNumber)?.int64Value ?? 0
        let instance = (actor["Attributes"] as? [String: Any])?["ganger.instance"] as? String
        events.withLock { $0.append(Event(id: id, action: action, timeNano: nanos, instance: instance)) }
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
