import Logging

/// How a reload from the configuration file ended.
public enum ReloadOutcome: Equatable, Sendable {
    /// Applied whole; one line per change (empty when nothing changed).
    case applied(changes: [String])
    /// Nothing changed; one line per problem (every configuration error, or what refused it).
    case refused(problems: [String])
}

extension Supervisor {
    /// SIGHUP: reads `path` again (resolved with `environment`) and applies it whole if it is
    /// valid and can be applied; else nothing changes. Logs the outcome: the changes, or each
    /// problem on a `reload refused` line.
    @discardableResult
    public func reload(file path: String, environment: [String: String]) -> ReloadOutcome {
        systemd?.reloading()
        // Applied or refused, the service is ready again: systemd waits for READY=1 either way.
        defer { systemd?.ready(status: serviceManagerStatus) }
        let outcome: ReloadOutcome
        do {
            switch reload(try ConfigLoader.load(path: path, environment: environment)) {
            case let .success(changes): outcome = .applied(changes: changes)
            case let .failure(error): outcome = .refused(problems: [error.description])
            }
        } catch {
            outcome = .refused(problems: error.errors.map { "\(path): \($0)" })
        }
        switch outcome {
        case let .applied(changes):
            logger.notice("configuration reloaded", metadata: ["file": "\(path)", "changes": "\(changes.isEmpty ? ["none"] : changes)"])
        case let .refused(problems):
            for problem in problems {
                logger.error("reload refused: nothing changed, the running configuration is kept", metadata: ["problem": "\(problem)"])
            }
        }
        return outcome
    }
}
