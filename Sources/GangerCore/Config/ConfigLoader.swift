import Glibc

/// Finds, reads, parses and checks a configuration file.
///
/// Every failure, from a missing file to a bad value deep in a service, comes out as one
/// `ConfigErrors` listing everything wrong at once.
public enum ConfigLoader {
    /// The file used when none is named on the command line and `$GANGER_CONFIG` is unset.
    public static let defaultPath = "ganger.yml"

    /// Which file to read: `explicit` (`-c FILE`) if given, else `$GANGER_CONFIG` if set and
    /// not empty, else `./ganger.yml`.
    public static func resolvePath(explicit: String?, environment: [String: String]) -> String {
        if let explicit { return explicit }
        if let fromEnvironment = environment["GANGER_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultPath
    }

    /// Reads and parses the file at `path` (see `parse(yaml:source:environment:)`). The caller
    /// passes the environment (`ProcessInfo.processInfo.environment` in the CLI) so that tests
    /// control `$DOCKER_HOST`.
    /// - Throws: `ConfigErrors` whose source is `path`; an unreadable file is one error.
    public static func load(
        path: String,
        environment: [String: String]
    ) throws(ConfigErrors) -> GangerConfig {
        let bytes: [UInt8]
        do {
            bytes = try readFile(path)
        } catch {
            throw ConfigErrors(source: path, errors: [error])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigErrors(source: path, errors: [ConfigError(path: "", message: "not valid UTF-8 text")])
        }
        return try parse(yaml: text, source: path, environment: environment)
    }

    /// Parses a YAML (or JSON) document into a resolved, checked configuration.
    /// - Parameters:
    ///   - source: names the document in errors (the file name, or e.g. `<test>`).
    ///   - environment: supplies `$DOCKER_HOST` (and the docker CLI's TLS variables) for the
    ///     default daemon when the document names neither `daemons` nor `consul`.
    /// - Throws: `ConfigErrors` with every problem found: syntax, unknown keys, bad values,
    ///   then the cross-field rules.
    public static func parse(
        yaml: String,
        source: String,
        environment: [String: String]
    ) throws(ConfigErrors) -> GangerConfig {
        let root: YAMLNode?
        do {
            root = try YAMLComposer.compose(yaml)
        } catch {
            throw ConfigErrors(source: source, errors: [error])
        }
        let decoder = ConfigDecoder()
        let config = GangerConfig.decode(root, environment: environment, decoder)
        let errors = decoder.errors + config.validationErrors()
        guard errors.isEmpty else { throw ConfigErrors(source: source, errors: errors) }
        return config
    }

    /// The whole file. Plain open(2)/read(2): a config file is small, read once at startup
    /// (and on SIGHUP), and errno gives the message an operator expects ("Is a directory").
    static func readFile(_ path: String) throws(ConfigError) -> [UInt8] {
        func failure(_ code: CInt) -> ConfigError {
            ConfigError(path: "", message: "cannot read: \(String(cString: strerror(code))) (errno \(code))")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            bytes += chunk[..<count]
        }
    }
}
