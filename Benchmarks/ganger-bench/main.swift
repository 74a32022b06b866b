import EventLoop
import Glibc

/// ganger-bench: the relay and its peers on loopback (bench/README.md).
///
///   ganger-bench [all]                                   the whole suite: table + bench/results/*.json
///   ganger-bench relay --listen ADDR --target ADDR       a RelayProxy until SIGTERM/SIGINT
///   ganger-bench sink --listen ADDR                      a discarding sink until SIGTERM/SIGINT
///   ganger-bench scheduler                               placement + queue admissions/s, queued-client RSS
let usage = """
    usage: ganger-bench [all]
           ganger-bench relay --listen 127.0.0.1:PORT --target 127.0.0.1:PORT
           ganger-bench sink --listen 127.0.0.1:PORT
           ganger-bench scheduler
    env:   BENCH_ROUNDS=N (default 3), BENCH_QUICK=1 (one short round)
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

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first ?? "all" {
    case "all":
        exit(Suite.run())
    case "relay":
        guard let listen = address("--listen", in: arguments), let target = address("--target", in: arguments) else {
            printError(usage + "\n")
            exit(1)
        }
        exit(try RelayServer.run(listen: listen, target: target))
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
