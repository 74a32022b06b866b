import EventLoop
import Glibc

/// ganger-bench: the relay and its peers on loopback (bench/README.md).
///
///   ganger-bench [all]                                   relay suite, then ganger suite: tables + bench/results/*.json
///   ganger-bench relay-suite                             the relay and its peers on loopback only
///   ganger-bench ganger                                  Ganger on dockerd only: cold TTFB, throughput into a container,
///                                                        warm TTFB, session rate, network holders, bursts
///   ganger-bench holders                                 only the network-holder part of `ganger`: (i) and (j)
///   ganger-bench burst                                   only the burst part of `ganger`: (k)
///   ganger-bench streams                                 only one connection into a container: (f)
///   ganger-bench relay --listen ADDR --target ADDR [--large-buffers N]
///                                                        a RelayProxy until SIGTERM/SIGINT (N fat
///                                                        streams may copy; default 0: splice only)
///   ganger-bench sink --listen ADDR                      a discarding sink until SIGTERM/SIGINT
///   ganger-bench scheduler                               placement + queue admissions/s, queued-client RSS
let usage = """
    usage: ganger-bench [all | relay-suite | ganger | holders | burst | streams]
           ganger-bench relay --listen 127.0.0.1:PORT --target 127.0.0.1:PORT [--large-buffers N]
           ganger-bench sink --listen 127.0.0.1:PORT
           ganger-bench scheduler
    env:   BENCH_ROUNDS=N (default 3), BENCH_QUICK=1 (one short round),
           BENCH_SYSCALLS=0 (skip the extra runs counting the relay's and HAProxy's syscalls per GiB),
           BENCH_COLD_SESSIONS=N (default 20 per peer per round), BENCH_SOURCE_MIB=N (default 1024),
           BENCH_WARM_SESSIONS=N (default 200), BENCH_RATE_SESSIONS=N (default 80 per round),
           BENCH_RATE_CONCURRENCY=N (default 8), BENCH_HOLDER_COLD_SESSIONS=N (default 10 per peer per round),
           BENCH_HOLDER_RATE_SESSIONS=N (default 40 per peer per round), BENCH_HOLDER_CONCURRENCY=N (default 4),
           BENCH_HOLDER_REUSE=N (default 4), BENCH_HOLDER_SECONDS=N (default 420: no round starts after),
           BENCH_BURST_SIZES=N,M (default 100,200; quick 50), BENCH_BURST_RAW_STARTS=N (default 60),
           BENCH_BURST_RAW_CONCURRENCY=N (default 4), BENCH_BURST_CLIENT_SECONDS=N (default 120),
           BENCH_BURST_SECONDS=N (default 1800: no burst starts after)
    """

/// The value after `flag` in `arguments`, parsed as an address.
func address(_ flag: String, in arguments: [String]) -> SocketAddress? {
    guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
    do {
        return try SocketAddress(parsing: arguments[index + 1])
    } catch {
        printError("ganger-bench: \(flag) \(error)\n")
        exit(1)
    }
}

/// Rounds and quick mode as for the relay suite (the file limit does not matter here).
func gangerSettings() -> BenchSettings {
    BenchSettings.fromEnvironment(fileLimit: ProcFS.raiseFileLimit())
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first ?? "all" {
    case "all":
        let relay = Suite.run()
        print("")
        let ganger = GangerSuite.run(settings: gangerSettings())
        exit(max(relay, ganger))
    case "relay-suite":
        exit(Suite.run())
    case "ganger":
        exit(GangerSuite.run(settings: gangerSettings()))
    case "holders":
        exit(GangerSuite.run(settings: gangerSettings(), only: "holders"))
    case "burst":
        exit(GangerSuite.run(settings: gangerSettings(), only: "burst"))
    case "streams":
        exit(GangerSuite.run(settings: gangerSettings(), only: "streams"))
    case "relay":
        guard let listen = address("--listen", in: arguments), let target = address("--target", in: arguments) else {
            printError(usage + "\n")
            exit(1)
        }
        var largeBuffers: Int?
        if let index = arguments.firstIndex(of: "--large-buffers") {
            guard index + 1 < arguments.count, let count = Int(arguments[index + 1]), count >= 0 else {
                printError("ganger-bench: --large-buffers needs a count (0 or more)\n")
                exit(1)
            }
            largeBuffers = count
        }
        exit(try RelayServer.run(listen: listen, target: target, largeBuffers: largeBuffers))
    case "sink":
        guard let listen = address("--listen", in: arguments) else {
            printError(usage + "\n")
            exit(1)
        }
        exit(try Sink.run(listen: listen))
    case "scheduler":
        exit(SchedulerBench.run())
    case "help", "-h", "--help":
        print(usage)
    default:
        printError(usage + "\n")
        exit(1)
    }
} catch {
    printError("ganger-bench: \(error)\n")
    exit(2)
}
