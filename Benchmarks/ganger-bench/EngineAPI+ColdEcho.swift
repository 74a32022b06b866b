import Glibc

extension EngineAPI {
    /// One cold echo session of the raw floor (BENCH.md), call by call.
    struct ColdEcho {
        var id: String
        var createMs: Double
        var startMs: Double
        var inspectMs: Double
        var connectMs: Double
        var refused: Int
        var echoMs: Double
        /// Create sent → first echoed byte.
        var totalMs: Double
        /// CLOCK_REALTIME ns before create and at the first byte, for dockerd's events.
        var wallStart: Int64
        var wallEnd: Int64
    }

    /// Create `body` → start → inspect (the IP) → connect until accepted (a refused connect
    /// retried at once, 10 s at most) → one byte echoed. The container is left running for the
    /// caller to remove, off the timed path; on failure it is removed here.
    func coldEcho(_ body: [String: Any], port: UInt16 = 12345) throws(BenchError) -> ColdEcho {
        let wallStart = realtimeNanos()
        let t0 = monotonicSeconds()
        let id = try create(body)
        let t1 = monotonicSeconds()
        do throws(BenchError) {
            try start(id)
            let t2 = monotonicSeconds()
            let inspected = try inspect(id, port: port)
            let t3 = monotonicSeconds()
            guard let ip = inspected.ip else { throw BenchError("container \(id.prefix(12)) has no IP after start") }
            let (fd, refused) = try TCPClient.connectUntilAccepted(host: ip, port: port, deadline: 10)
            let t4 = monotonicSeconds()
            defer { close(fd) }
            try TCPClient.pingOneByte(fd)
            let t5 = monotonicSeconds()
            return ColdEcho(id: id, createMs: (t1 - t0) * 1000, startMs: (t2 - t1) * 1000, inspectMs: (t3 - t2) * 1000,
                            connectMs: (t4 - t3) * 1000, refused: refused, echoMs: (t5 - t4) * 1000,
                            totalMs: (t5 - t0) * 1000, wallStart: wallStart, wallEnd: realtimeNanos())
        } catch {
            try? remove(id)
            throw error
        }
    }
}
