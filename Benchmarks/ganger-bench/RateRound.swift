import Glibc

/// One round of a sustained session rate: `sessions` short echo sessions in all, `concurrency`
/// at a time, each on a fresh container. Shared by (h) and (j).
enum RateRound {
    /// Through the ganger listening on 127.0.0.1:`port`: connect, one byte, its echo, close.
    /// Returns sessions per second (first connect → last echo) and the failures.
    static func ganger(port: UInt16, sessions: Int, concurrency: Int) -> (rate: Double, failures: [String]) {
        let t0 = monotonicSeconds()
        let failures = runWorkers(concurrency, sessions: sessions) { _ throws(BenchError) in
            try TCPClient.echoOnce(port: port)
        }
        return (Double(sessions) / (monotonicSeconds() - t0), failures)
    }

    /// The raw floor: the same work straight on the Engine API, a keep-alive unix connection per
    /// worker: create (Ganger's labels and HostConfig, instance `instance`) → start → inspect →
    /// connect until accepted → one byte echoed → remove (on the worker's path: Ganger frees a
    /// slot only once Docker confirms the removal). Sweeps `instance` afterwards.
    static func raw(instance: String, sessions: Int, concurrency: Int) -> (rate: Double, failures: [String]) {
        let apis = (0..<concurrency).map { _ in EngineAPI() }
        let t0 = monotonicSeconds()
        let failures = runWorkers(concurrency, sessions: sessions) { worker throws(BenchError) in
            let api = apis[worker]
            let echo = try api.coldEcho(gangerLikeContainer(image: "ganger-echo:latest", instance: instance,
                                                            service: "echo", client: "127.0.0.1:\(41000 + worker)"))
            try api.remove(echo.id)
        }
        let rate = Double(sessions) / (monotonicSeconds() - t0)
        apis[0].sweep(instancePrefix: instance)
        return (rate, failures)
    }
}
