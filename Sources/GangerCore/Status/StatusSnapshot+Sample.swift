extension StatusSnapshot {
    /// A realistic, fixed snapshot for tests and for developing the page without a dockerd:
    /// two services (one pooled and with network holders), a daemon up, one down and one
    /// draining, a full history of recent sessions, and text that needs escaping (quotes, `<`,
    /// `&`, backslashes, a newline) in places that come from users or peers. Every number is
    /// distinct enough to be found on the page.
    public static func sample(now: Double = 1_767_225_600) -> StatusSnapshot {
        let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        func histogram(_ counts: [Int], sum: Double) -> Histogram {
            var cumulative = 0
            let buckets = zip(bounds, counts).map { le, count in
                cumulative += count
                return Histogram.Bucket(le: le, count: cumulative)
            }
            return Histogram(buckets: buckets, sum: sum, count: cumulative)
        }
        let echo = Service(
            name: "echo", listen: "0.0.0.0:5454", image: "ganger-echo:latest",
            sessionsCurrent: 7, sessionsTotal: 12_345, sessionsMax: 42,
            queueCurrent: 3, queueMax: 1000, queueTimeouts: 17,
            refusedQueueFull: 5, refusedPerSource: 11, poolWarm: 4, poolReady: 2,
            bytesIn: 987_654_321, bytesOut: 123_456_789_012,
            ttfbCold: Percentiles(count: 2_100, p50: 0.412, p90: 0.734, p99: 1.93),
            ttfbWarm: Percentiles(count: 10_238, p50: 0.0031, p90: 0.0074, p99: 0.0213),
            ttfbHistogram: histogram([7_900, 1_800, 420, 90, 28, 900, 850, 300, 45, 4, 1], sum: 1_234.5),
            holdersReady: 2, holdersPerDaemon: 3, holderSessions: 1_812, holderFallbackSessions: 288,
            holdersRetired: 1_795, holdersDiscarded: 6,
            endReasons: [
                "client closed": 11_800, "service closed": 402, "idle timeout": 77,
                "create failed: Conflict. The container name \"/ganger-echo-1\" is already in use": 3,
                "queue timeout": 17, "client reset": 39,
            ])
        let hive = Service(
            name: "hive <sql> & \"friends\"", listen: "127.0.0.1:10000", image: "registry.local:5000/hive:4.0.1",
            sessionsCurrent: 0, sessionsTotal: 58, sessionsMax: 9,
            queueCurrent: 0, queueMax: 20, queueTimeouts: 0,
            refusedQueueFull: 0, refusedPerSource: 2, poolWarm: 0, poolReady: 0,
            bytesIn: 4_096, bytesOut: 8_388_608,
            ttfbCold: Percentiles(count: 58, p50: 3.25, p90: 6.5, p99: 9.75),
            ttfbWarm: Percentiles(count: 0, p50: nil, p90: nil, p99: nil),
            ttfbHistogram: histogram([0, 0, 0, 0, 0, 0, 0, 0, 10, 40, 8], sum: 218.75),
            endReasons: ["client closed": 55, "ready timeout: no answer on port 10000\nafter 50 attempts": 3])
        let daemons = [
            Daemon(url: "unix:///var/run/docker.sock", up: true, state: .up, sinceUnix: now - 86_400 * 3 - 3_725,
                   containers: 13, maxContainers: 16, lastError: nil),
            Daemon(url: "tcp://10.0.0.12:2375", up: false, state: .down, sinceUnix: now - 95, containers: 0, maxContainers: -1,
                   lastError: "connect tcp://10.0.0.12:2375: Connection refused (errno 111) \\ retry in 8s"),
            Daemon(url: "tcp://10.0.0.13:2376", up: true, state: .draining, sinceUnix: now - 1_800, containers: 2, maxContainers: 10,
                   lastError: nil),
        ]
        let clients = ["203.0.113.7:51234", "[2001:db8::5]:40022", "198.51.100.23:60001", "192.0.2.44:33333"]
        let reasons = ["client closed", "client closed", "service closed", "idle timeout", "client reset",
                       "create failed: <no such image>"]
        let hex = Array("0123456789abcdef")
        var sessions: [SessionRecord] = []
        for i in 0..<50 {
            let cold = i % 5 == 0
            sessions.append(SessionRecord(
                service: i % 7 == 3 ? hive.name : echo.name,
                client: clients[i % clients.count],
                daemon: daemons[i % 11 == 10 ? 1 : 0].url,
                container: String((0..<64).map { hex[(i * 7 + $0 * 13) % 16] }),
                endedUnix: now - Double(i * 37 + 2),
                durationSeconds: Double(i * i) * 0.731 + 0.25,
                ttfbSeconds: reasons[i % reasons.count].hasPrefix("create failed") ? nil : (cold ? 0.4 + Double(i) / 100 : 0.003),
                bytesIn: UInt64(100 + i * 1_000),
                bytesOut: UInt64(5_000 + i * i * 10_000),
                reason: reasons[i % reasons.count]))
        }
        return StatusSnapshot(
            instance: "ganger-prod", version: "0.1.0", startedUnix: now - 86_400 * 3 - 3_725 - 12,
            nowUnix: now, draining: false, services: [echo, hive], daemons: daemons, recentSessions: sessions,
            liveSessions: [
                LiveSession(service: "echo", client: "203.0.113.7:51234", daemon: daemons[0].url, container: "4f1c2a9b7d3e",
                            startedUnix: now - 5_400, bytesIn: 12_345, bytesOut: 6_789_012, inherited: true),
                LiveSession(service: "hive", client: "198.51.100.23:40112", daemon: daemons[0].url, container: "9a8b7c6d5e4f",
                            startedUnix: now - 42, bytesIn: 512, bytesOut: 2_048, inherited: false),
            ],
            relay: RelayConduits(pipesLent: 3, pipesIdle: 12, largeBuffersLent: 1, largeBuffersMax: 8, largeBufferLends: 57, pipesSmall: 0))
    }
}
