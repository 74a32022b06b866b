import ArgumentParser
import FoundationEssentials
import GangerCore

/// `ganger run [-c FILE]` or `ganger run --image IMG --port N [--listen ADDR]`: serve.
///
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve: a fresh container for every TCP connection.",
        discussion: "Without --image, reads the configuration file. With --image and --port, serves one "
            + "service with every other setting at its default."
    )

    @OptionGroup var config: ConfigFileOption

    @Option(help: ArgumentHelp("Image of a single service to serve without a file.", valueName: "IMG"))
    var image: String?

    @Option(help: ArgumentHelp("The container's TCP port (12345 or 12345/tcp), with --image.", valueName: "N"))
    var port: String?

    @Option(help: ArgumentHelp("Where to listen, with --image (default: 0.0.0.0:5454).", valueName: "ADDR"))
    var listen: String?

    @Flag(help: ArgumentHelp("Take the instance over from the Ganger running it (its control socket): its listening sockets "
        + "and live sessions move to this process without a byte lost, then it exits 0 (docs/operations.md, \"Upgrades\")."))
    var takeover = false

    func validate() throws {
        let single = image != nil || port != nil || listen != nil
        if single, config.file != nil {
            throw ValidationError("-c/--config cannot be combined with --image, --port or --listen.")
        }
        if single, image == nil || port == nil {
            throw ValidationError("--image and --port go together (--listen is optional).")
        }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let resolved: GangerConfig
        var path: String?
        do {
            if let image, let port {
                resolved = try GangerConfig.singleService(image: image, port: port, listen: listen, environment: environment)
            } else {
                let file = ConfigLoader.resolvePath(explicit: config.file, environment: environment)
                path = file
                resolved = try ConfigLoader.load(path: file, environment: environment)
            }
        } catch {
            printError(error.description)
            throw ExitCode.configError
        }
        let code = try Serve(config: resolved, path: path, environment: environment, takeover: takeover).run()
        if code != 0 { throw ExitCode(code) }
    }
}
