import ArgumentParser
import EventLoop
import FoundationEssentials
import GangerCore

/// `ganger cleanup [-c FILE] [--all]`: removes leftover containers.
struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove this instance's containers (or, with --all, every ganger-labelled one).",
        discussion: "Uses the daemons and instance name of the configuration file; with consul, the daemons "
            + "Consul lists now (one query per datacenter). A running Ganger removes "
            + "its predecessor's leftovers by itself at startup; this is for after a Ganger that will not come back."
    )

    @OptionGroup var config: ConfigFileOption

    @Flag(help: "Remove every container labelled ganger.managed=true, whatever its instance.")
    var all = false

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let resolved: GangerConfig
        do {
            let path = ConfigLoader.resolvePath(explicit: config.file, environment: environment)
            resolved = try ConfigLoader.load(path: path, environment: environment)
        } catch {
            printError(error.description)
            throw ExitCode.configError
        }
        let reactor = try Reactor()
        var outcome = Cleanup.Outcome()
        Cleanup.run(config: resolved, everyInstance: all, reactor: reactor) {
            outcome = $0
            reactor.stop()
        }
        try reactor.run()
        print("removed \(outcome.removed) container(s) from \(outcome.daemons.count) daemon(s)"
            + (outcome.daemons.isEmpty ? "" : ": " + outcome.daemons.joined(separator: ", ")))
        for error in outcome.errors { printError("ganger cleanup: \(error)") }
        if !outcome.errors.isEmpty { throw ExitCode.runtimeFailure }
    }
}
