import ArgumentParser
import FoundationEssentials
import GangerCore

/// `ganger check [-c FILE]`: validates the configuration and prints it fully resolved.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and print it with every default filled in.",
        discussion: "Exits 1 and lists every problem on standard error if the file is not valid."
    )

    @OptionGroup var config: ConfigFileOption

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = ConfigLoader.resolvePath(explicit: config.file, environment: environment)
        do {
            let resolved = try ConfigLoader.load(path: path, environment: environment)
            print(resolved.renderYAML(), terminator: "")
        } catch {
            printError(error.description)
            throw ExitCode.configError
        }
    }
}
