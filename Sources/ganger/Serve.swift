import EventLoop
import GangerCore
import Logging

/// Runs the supervisor on a reactor on the main thread until it has shut down.
struct Serve {
    let config: GangerConfig
    /// The file to read again on SIGHUP; nil for a one-service run from flags.
    let path: String?
    let environment: [String: String]
    /// `--takeover`: take the instance over from the process running it.
    var takeover = false

    /// Returns the process exit code: 0 after a clean shutdown, 2 when startup failed.
    func run() throws -> Int32 {
        let level = Logger.Level(rawValue: config.log.level.rawValue) ?? .info
        let json = config.log.format == .json
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ganger")
        for warning in config.warnings() { logger.warning("\(warning)") }
        // systemd's variables are read (and unset) before any thread could read the environment.
        let passed: PassedSockets?
        let systemd: SystemdNotifier?
        do {
            passed = try PassedSockets.fromEnvironment()
            systemd = try SystemdNotifier.fromEnvironment()
        } catch {
            printError("ganger: \(error)")
            return 2
        }
        let reactor = try Reactor()
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(config: config, reactor: reactor, logger: logger)
        } catch {
            printError("ganger: \(error)")
            return 2
        }
        supervisor.passedSockets = passed
        supervisor.systemd = systemd
        if let passed { logger.info("socket activation", metadata: ["sockets": "\(passed.names)"]) }
        var exitCode: Int32 = 0
        let signals = try SignalHandler(reactor: reactor, supervisor: supervisor, file: path, environment: environment) {
            reactor.stop()
        }
        supervisor.onHandedOver = { reactor.stop() }
        supervisor.start(takeover: takeover, ready: { bound in
            for (service, address) in bound {
                logger.info("listening", metadata: ["service": "\(service)", "address": "\(address)"])
                printOut("ganger: service \(service) listening on \(address)")
            }
            if let status = supervisor.statusAddress { printOut("ganger: status on http://\(status)/") }
        }, failed: { message in
            printError("ganger: \(message)")
            exitCode = 2
            supervisor.shutdown(grace: .zero) { reactor.stop() }
        })
        try reactor.run()
        withExtendedLifetime(signals) {}
        let unanswered = supervisor.unansweredAtShutdown
        if exitCode == 0, !unanswered.isEmpty {
            // Not a clean stop: containers may be left where the cleanup could not reach.
            printError("ganger: shut down without removing everything: \(unanswered.joined(separator: ", ")) stopped answering; "
                + "the next start of this instance removes what is left there, or run `ganger cleanup`")
            exitCode = 2
        }
        return exitCode
    }
}
