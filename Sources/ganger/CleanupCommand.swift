import ArgumentParser

/// `ganger cleanup [-c FILE] [--all]`: removes leftover containers (not implemented yet).
struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove this instance's containers (or, with --all, every ganger-labelled one)."
    )

    @OptionGroup var config: ConfigFileOption

    @Flag(help: "Remove every container labelled ganger.managed=true, whatever its instance.")
    var all = false

    func run() throws {
        printError("ganger cleanup: not implemented yet")
        throw ExitCode.runtimeFailure
    }
}
