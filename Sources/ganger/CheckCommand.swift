import ArgumentParser
import FoundationEssentials
import GangerCore

/// `ganger check [-c FILE]`: validates the configuration and prints it fully resolved.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and print it with every default filled in.",
        discussion: "Exits 1 and lists every problem on standard error if the file is not valid. Settings that are "
            + "valid but open something (a published port on every interface) are warned about on standard error. "
            + "env values are printed as \"***\" unless --show-secrets."
    )

    @OptionGroup var config: ConfigFileOption

    @Flag(help: "Print env values as they are instead of \"***\".")
    var showSecrets = false

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = ConfigLoader.resolvePath(explicit: config.file, environment: environment)
        do {
            let resolved = try ConfigLoader.load(path: path, environment: environment)
            print(resolved.renderYAML(showSecrets: showSecrets), terminator: "")
            for warning in resolved.warnings() { printError("ganger check: warning: \(warning)") }
        } catch {
            printError(error.description)
            throw ExitCode.configError
        }
    }
}
