public import EventLoop

/// The container engine calls Ganger's lifecycle makes, and nothing more: the seam between the
/// lifecycle and a backend. `DockerClient` implements it over the Docker Engine API (dockerd,
/// podman's compatible service); another backend would implement these and nothing else.
///
/// Every call answers once, on the reactor's thread, with the engine's own error words.
public protocol Engine: AnyObject {
    /// How logs and errors name this engine (its URL).
    var name: String { get }
    /// The engine's default log driver, learned by `negotiate` (nil: not yet, or not said).
    var logDriver: String? { get }
    /// Asks the engine's API version and speaks the highest both know. `timeout`: as `create`'s.
    func negotiate(timeout: Duration?, completion: @escaping (Result<String, DockerError>) -> Void)
    func ping(timeout: Duration?, completion: @escaping (Result<Void, DockerError>) -> Void)
    func imageExists(_ image: String, completion: @escaping (Result<Bool, DockerError>) -> Void)
    /// `timeout` bounds the whole pull, `stall` the silence between two progress lines (nil: none).
    func pull(_ image: String, timeout: Duration?, stall: Duration?, progress: @escaping (String) -> Void,
              completion: @escaping (Result<Void, DockerError>) -> Void)
    func importImage(_ rootfs: [UInt8], repository: String, tag: String, command: [String],
                     completion: @escaping (Result<Void, DockerError>) -> Void)
    /// A network by name; nil when the engine has none of that name.
    func inspectNetwork(_ name: String, completion: @escaping (Result<NetworkInspect?, DockerError>) -> Void)
    /// Creates a container; answers its id.
    /// `timeout`: the caller's deadline for this call (capped at the engine's own; nil: the
    /// engine's own).
    func create(_ spec: ContainerSpec, name: String?, timeout: Duration?, completion: @escaping (Result<String, DockerError>) -> Void)
    /// Renames a container (the instance lease's renewal).
    func rename(_ id: String, to name: String, completion: @escaping (Result<Void, DockerError>) -> Void)
    func start(_ id: String, timeout: Duration?, completion: @escaping (Result<Void, DockerError>) -> Void)
    func inspect(_ id: String, timeout: Duration?, completion: @escaping (Result<ContainerInspect, DockerError>) -> Void)
    /// SIGKILL, answered once the container has stopped (Docker waits for that; podman's
    /// compatible API too); one that was not running counts as stopped.
    func kill(_ id: String, completion: @escaping (Result<Void, DockerError>) -> Void)
    /// Kills and removes a container with its anonymous volumes; a missing one counts as removed.
    func remove(_ id: String, completion: @escaping (Result<Void, DockerError>) -> Void)
    /// Every container (running or not) carrying all of `labels`.
    func list(labels: [String], completion: @escaping (Result<[ContainerSummary], DockerError>) -> Void)
    /// Follows container events for `labels` until cancelled or the stream ends.
    func events(labels: [String], onEvent: @escaping (DockerEvent) -> Void, subscribed: @escaping () -> Void,
                completion: @escaping (DockerError?) -> Void) -> HTTPRequestTask
}

extension Engine {
    func negotiate(completion: @escaping (Result<String, DockerError>) -> Void) {
        negotiate(timeout: nil, completion: completion)
    }

    func create(_ spec: ContainerSpec, completion: @escaping (Result<String, DockerError>) -> Void) {
        create(spec, name: nil, timeout: nil, completion: completion)
    }

    func create(_ spec: ContainerSpec, name: String?, completion: @escaping (Result<String, DockerError>) -> Void) {
        create(spec, name: name, timeout: nil, completion: completion)
    }

    func start(_ id: String, completion: @escaping (Result<Void, DockerError>) -> Void) {
        start(id, timeout: nil, completion: completion)
    }

    func inspect(_ id: String, completion: @escaping (Result<ContainerInspect, DockerError>) -> Void) {
        inspect(id, timeout: nil, completion: completion)
    }

    func events(labels: [String], onEvent: @escaping (DockerEvent) -> Void,
                completion: @escaping (DockerError?) -> Void) -> HTTPRequestTask {
        events(labels: labels, onEvent: onEvent, subscribed: {}, completion: completion)
    }
}

extension DockerClient: Engine {}
