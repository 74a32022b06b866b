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
    ///
    /// A new or changed image (and with `pull: always` every image) is made present on every
    /// daemon in use first, per its pull policy, while the running configuration goes on
    /// serving: switched to an image a daemon lacked, every session there was refused
    /// (`No such image`) and the service served no one. An image that cannot be had refuses
    /// the reload; so does a new or changed network a daemon in use lacks (`prepareNetworks`).
    /// `completion` gets the outcome; it is also returned when known at once, nil while
    /// networks are looked up or images made present (a later reload drops this one).
    @discardableResult
    public func reload(file path: String, environment: [String: String],
                       completion: ((ReloadOutcome) -> Void)? = nil) -> ReloadOutcome? {
        systemd?.reloading()
        reloadGeneration += 1
        let generation = reloadGeneration
        let new: GangerConfig
        do {
            new = try ConfigLoader.load(path: path, environment: environment)
        } catch {
            return finishReload(.refused(problems: error.errors.map { "\(path): \($0)" }), file: path, completion)
        }
        if let refusal = reloadRefusal(new) {
            return finishReload(.refused(problems: [refusal.description]), file: path, completion)
        }
        let networks = networksToPrepare(new)
        let images = imagesToPrepare(new)
        let up = reloadDaemons
        guard !(networks.isEmpty && images.isEmpty), !up.isEmpty else { return finishReload(apply(new), file: path, completion) }
        // Each step may have been overtaken by a later reload: that one decides.
        let current = { [self] in
            if generation == reloadGeneration { return true }
            logger.notice("reload dropped: a later one was asked for", metadata: ["file": "\(path)"])
            return false
        }
        prepareNetworks(networks, on: up) { [self] error in
            guard current() else { return }
            if let error {
                finishReload(.refused(problems: [error]), file: path, completion)
                return
            }
            guard !images.isEmpty else {
                finishReload(apply(new), file: path, completion)
                return
            }
            logger.notice("reload: making images present before applying; the running configuration serves meanwhile", metadata: [
                "images": "\(images.map(\.image))", "daemons": "\(up.map { daemons[$0].name })",
            ])
            prepareImages(images, on: up) { [self] error in
                guard current() else { return }
                if let error {
                    finishReload(.refused(problems: [error]), file: path, completion)
                } else {
                    finishReload(apply(new), file: path, completion)
                }
            }
        }
        return nil
    }

    private func apply(_ new: GangerConfig) -> ReloadOutcome {
        switch reload(new) {
        case let .success(changes): .applied(changes: changes)
        case let .failure(error): .refused(problems: [error.description])
        }
    }

    /// Logs `outcome`, tells systemd the service is ready again (applied or refused: it waits
    /// for READY=1 either way), and hands the outcome on.
    @discardableResult
    private func finishReload(_ outcome: ReloadOutcome, file path: String,
                              _ completion: ((ReloadOutcome) -> Void)?) -> ReloadOutcome {
        switch outcome {
        case let .applied(changes):
            logger.notice("configuration reloaded", metadata: ["file": "\(path)", "changes": "\(changes.isEmpty ? ["none"] : changes)"])
        case let .refused(problems):
            for problem in problems {
                logger.error("reload refused: nothing changed, the running configuration is kept", metadata: ["problem": "\(problem)"])
            }
        }
        systemd?.ready(status: serviceManagerStatus)
        completion?(outcome)
        return outcome
    }
}
