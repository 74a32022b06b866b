import GangerCore
import Glibc
import Synchronization

/// `ganger-bench ganger`: Ganger itself (release `ganger run`) against a real dockerd —
/// (e) cold time-to-first-byte against the raw Engine API floor, (f) single-connection throughput
/// into a container against direct, the relay alone, HAProxy and docker-proxy, (g) warm TTFB,
/// (h) session rate, (i)-(j) cold TTFB and session rate with network holders, (k) bursts with and
/// without the launch window. Table on stdout,
/// JSON in bench/results/ganger-<UTC timestamp>.json. Every container it creates carries
/// `ganger.instance=bench-<timestamp>[-raw|-peers|...]` and is swept by that prefix at the end, on
/// failure too, and on Ctrl-C.
enum GangerSuite {
    /// `only`: "holders" for just (i)-(j) (`ganger-bench holders`), "burst" for just (k)
    /// (`ganger-bench burst`), "streams" for just (f) (`ganger-bench streams`); nil for everything.
    static func run(settings: BenchSettings, only: String? = nil) -> Int32 {
        Suite.installInterruptHandlerOnce()
        let started = monotonicSeconds()
        let stamp = utcStamp()
        let instance = "bench-\(stamp.file.lowercased())"
        guard let directory = makeWorkDirectory() else { return 2 }
        func log(_ line: String) {
            print(line)
            fflush(nil)
        }
        let cold = ColdSettings.fromEnvironment(settings)
        log("ganger-bench \(only ?? "ganger"): \(settings.rounds) round(s), "
            + (only != nil ? "" : "\(cold.sessions) cold sessions per peer per round, \(cold.sourceMiB) MiB per stream; ")
            + "instance \(instance); logs in \(directory)")

        let api = EngineAPI()
        sweepPrefix.withLock { $0 = instance }
        var report = GangerReport(date: stamp.human, kernel: kernelRelease(), cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                                  instance: instance, settings: settings, cold: cold)
        let readiness = ServiceConfig.Readiness()
        report.readiness = "ready: {attempts: \(readiness.attempts), interval: \(millis(readiness.interval)), timeout: \(millis(readiness.timeout))} (defaults);"
            + " after a refused connect Ganger waits 5, 10, 20, 40, 80 ms, then the interval (Session.retryDelay)"

        var ganger: ChildProcess?
        do {
            let (version, apiVersion) = try api.serverVersion()
            report.dockerd = "\(version) (API \(apiVersion))"
            log("dockerd \(report.dockerd)")
            // The holder and burst parts run only the echo service.
            for image in ["ganger-echo:latest"] + (only == nil || only == "streams" ? ["ganger-bench-source:latest"] : []) {
                let response = try api.call("GET", "/images/\(image)/json")
                guard response.status == 200 else {
                    throw BenchError("image \(image) missing on dockerd: run `make images` (Examples/*/build.sh)")
                }
            }
            report.only = only
            if only == nil || only == "streams" {
                try suite(&report, api: api, instance: instance, settings: settings, cold: cold, directory: directory,
                          ganger: &ganger, streamsOnly: only == "streams", log: log)
            }
            let docker = DockerRun(api: api, instance: instance, settings: settings, directory: directory)
            if only == nil || only == "holders" {
                let holders = HolderBench(docker)
                let sizes = holders.sizes
                log("(i) cold time-to-first-byte with network holders (holders \(sizes.holders), reuse 1) vs without vs raw: "
                    + "\(sizes.coldSessions) sessions each per round; (j) sessions/s, \(sizes.rateSessions) fresh containers "
                    + "\(sizes.concurrency) at a time, holders (reuse 1 and \(sizes.reuses.map(String.init).joined(separator: ", "))) vs without vs raw")
                report.holders = holders.run(log: log)
            }
            if only == nil || only == "burst" {
                let bursts = BurstBench(docker)
                log("(k) bursts of \(bursts.sizes.bursts.map(String.init).joined(separator: ", ")) clients at once on one dockerd, "
                    + "launch window vs launch_window: off, and the raw start rate (\(bursts.sizes.rawStarts) create+start, "
                    + "\(bursts.sizes.rawConcurrency) in flight)")
                report.burst = bursts.run(log: log)
            }
        } catch {
            log("ganger-bench ganger: \(error)")
            report.notes.append("aborted: \(error)")
        }

        if let ganger {
            // One SIGTERM to ganger itself (ChildProcess.terminate also signals the `timeout`
            // wrapper, which forwards it: a second signal, which ganger reads as "now").
            if let pid = ganger.programPID { kill(pid, SIGTERM) }
            if ganger.wait(limit: 40) == nil { ganger.terminate() }
            report.gangerExit = ganger.errors.split(separator: "\n").suffix(3).joined(separator: " | ")
        }
        let swept = api.sweep(instancePrefix: instance)
        let left = (try? api.listByInstanceLabel().filter { $0.instance.hasPrefix(instance) }.count) ?? -1
        report.containersLeft = left
        if swept > 0 { report.notes.append("swept \(swept) container(s) left at the end") }
        sweepPrefix.withLock { $0 = nil }

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
        let failed = report.notes.contains { $0.hasPrefix("aborted") } || left != 0
        return failed ? 1 : 0
    }

    /// (e)-(h): cold TTFB vs raw, one connection into a container, warm TTFB, session rate.
    /// `ganger` is the first part's process, for the caller to stop if this throws.
    private static func suite(_ report: inout GangerReport, api: EngineAPI, instance: String, settings: BenchSettings,
                              cold: ColdSettings, directory: String, ganger: inout ChildProcess?,
                              streamsOnly: Bool, log: (String) -> Void) throws {
        let tools = Tools.find(directory: directory)
        report.versions = tools.versions

        // One ganger for both parts: two services, a port each.
        let (process, listeners) = try startGanger(instance: instance, sourceMiB: cold.sourceMiB, directory: directory)
        ganger = process
        log("ganger pid \(process.programPID.map(String.init) ?? "?"): echo on port \(listeners["echo"]!.port), source on port \(listeners["source"]!.port)")

        if !streamsOnly {
            log("(e) cold time-to-first-byte: ganger vs the raw Engine API floor")
            let events = try DockerEvents()
            defer { events.stop() }
            let coldRun = ColdStart(api: api, events: events, instance: instance, settings: settings, cold: cold,
                                    gangerPort: listeners["echo"]!.port)
            report.coldStart = coldRun.run(log: log)
            report.coldStart?.gangerLogged = Dist(parseLoggedTTFB(process.errors).map { $0 * 1000 })
        }

        log("(f) single connection into a container: \(cold.sourceMiB) MiB from ganger-bench-source")
        let streams = ContainerStreams(api: api, tools: tools, directory: directory, instance: instance, settings: settings,
                                       cold: cold, ganger: process, gangerPort: listeners["source"]!.port)
        report.streams = try streams.run(report: &report, log: log)
        if streamsOnly { return }  // the caller stops this ganger

        // (g)-(h) run gangers of their own (instances <run>-warm, <run>-rate); the first is
        // stopped first so its containers do not take part.
        ganger?.programPID.map { _ = kill($0, SIGTERM) }
        if ganger?.wait(limit: 40) == nil { ganger?.terminate() }
        report.gangerExit = ganger?.errors.split(separator: "\n").suffix(3).joined(separator: " | ") ?? ""
        ganger = nil
        let lifecycle = LifecycleBench(DockerRun(api: api, instance: instance, settings: settings, directory: directory))
        log("(g) warm time-to-first-byte, pool.warm 4: \(lifecycle.warmSessions) sequential sessions; "
            + "(h) sessions/s, \(lifecycle.rateSessions) fresh containers \(lifecycle.concurrency) at a time vs the raw Engine API")
        report.lifecycle = lifecycle.run(log: log)
    }

    /// Writes the config and starts release `ganger run` (next to this executable); waits for its
    /// "ganger: service NAME listening on ADDR" lines.
    static func startGanger(instance: String, sourceMiB: Int, directory: String) throws(BenchError)
        -> (ChildProcess, [String: (host: String, port: UInt16)]) {
        let binary = selfExecutable().split(separator: "/").dropLast().joined(separator: "/")
        let path = "/" + binary + "/ganger"
        guard access(path, X_OK) == 0 else { throw BenchError("\(path) not built (swift build -c release)") }
        let config = "\(directory)/ganger.yml"
        try writeFile(config, """
            # ganger-bench ganger: defaults everywhere but the listeners, the instance and pull.
            instance: \(instance)
            daemons:
              - url: unix:///var/run/docker.sock
                max_containers: 4
            services:
              - name: echo
                listen: 127.0.0.1:0
                image: ganger-echo:latest
                port: 12345
                pull: never
                per_source: {rate: 0}
                accept: {rate: 0}
              - name: source
                listen: 127.0.0.1:0
                image: ganger-bench-source:latest
                port: 12345
                pull: never
                env: {SOURCE_MIB: "\(sourceMiB)"}
                per_source: {rate: 0}
                accept: {rate: 0}
            status: {listen: 127.0.0.1:0}
            shutdown_grace: 5s
            log: {level: info, format: text}

            """)
        let child = try ChildProcess(name: "ganger", argv: [path, "run", "-c", config], limit: 1800, directory: directory)
        var listeners: [String: (host: String, port: UInt16)] = [:]
        _ = waitUntil(20) {
            for line in child.output.split(separator: "\n") where line.hasPrefix("ganger: service ") {
                let words = line.split(separator: " ")
                guard words.count >= 6, let colon = words[5].lastIndex(of: ":"), let port = UInt16(words[5][words[5].index(after: colon)...])
                else { continue }
                listeners[String(words[2])] = (String(words[5][..<colon]), port)
            }
            return listeners.count == 2 || !child.isRunning
        }
        guard listeners.count == 2 else {
            child.terminate()
            throw BenchError("ganger did not report its listeners: \(child.errors.suffix(600))")
        }
        return (child, listeners)
    }

    /// `ttfb_s=…` of every "session end" line in ganger's log (Ganger's own accept → first byte).
    static func parseLoggedTTFB(_ log: String) -> [Double] {
        log.split(separator: "\n").filter { $0.contains("session end") && $0.contains("service=echo") }.compactMap { line in
            guard let range = line.firstRange(of: "ttfb_s=") else { return nil }
            return Double(line[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
    }

    static func makeWorkDirectory() -> String? {
        var template = "/tmp/ganger-bench-XXXXXX".utf8CString
        guard let pointer = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            printError("ganger-bench: mkdtemp failed\n")
            return nil
        }
        return String(cString: pointer)
    }
}

func millis(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
}

/// The `ganger.instance` prefix the interrupt handler sweeps, while a ganger run is on.
let sweepPrefix = Mutex<String?>(nil)

/// Sizes for (e) and (f), from the environment: BENCH_COLD_SESSIONS (default 20, quick 5) cold
/// sessions per peer per round; BENCH_SOURCE_MIB (default 1024, quick 256) MiB per stream.
struct ColdSettings: Codable {
    var sessions: Int
    var sourceMiB: Int

    static func fromEnvironment(_ settings: BenchSettings) -> ColdSettings {
        ColdSettings(
            sessions: settings.count("BENCH_COLD_SESSIONS", 20, quick: 5),
            sourceMiB: settings.count("BENCH_SOURCE_MIB", 1024, quick: 256))
    }
}

/// A distribution of one quantity over every sample of a run, in milliseconds (or Gbit/s).
struct Dist: Codable {
    var n: Int
    var min: Double
    var p50: Double
    var p90: Double
    var max: Double
    var mean: Double

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func rank(_ p: Double) -> Double {
            // Nearest rank: the smallest value with at least p of the samples at or below it.
            let index = Swift.max(0, Swift.min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))
            return sorted[index]
        }
        n = sorted.count
        min = sorted.first!
        max = sorted.last!
        p50 = rank(0.5)
        p90 = rank(0.9)
        mean = sorted.reduce(0, +) / Double(sorted.count)
    }
}
