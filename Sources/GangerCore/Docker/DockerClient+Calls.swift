public import EventLoop
import FoundationEssentials

extension DockerClient {
    // MARK: Images

    /// Whether `image` exists on this daemon (`GET /images/{name}/json`: 404 is "no").
    public func imageExists(_ image: String, completion: @escaping (Result<Bool, DockerError>) -> Void) {
        call(.get, "/images/\(percentEncode(image))/json", accept: [404]) { result in
            completion(result.map { $0.status != 404 })
        }
    }

    /// Pulls `image` (`POST /images/create`), reporting progress lines, within `timeout` (a
    /// pull can take minutes; nil: none). An error line in the stream fails the pull. `stall`
    /// (nil: none) gives the pull up once the daemon has sent no line for that long: dockerd
    /// reports progress as a layer's bytes arrive, and says nothing at all while a registry
    /// holds a download (measured: a blob cut after 64 KiB and held kept `docker pull` silent
    /// for 5 minutes, and would have held a startup for all of `timeout`).
    public func pull(_ image: String, timeout: Duration?, stall: Duration? = nil, progress: @escaping (String) -> Void,
                     completion: @escaping (Result<Void, DockerError>) -> Void) {
        let (repository, tag) = Self.splitReference(image)
        var query = [("fromImage", repository)]
        if let tag { query.append(("tag", tag)) }
        var failure: String?
        let name = self.name
        let call = "POST /images/create"
        // The stall watch: one timer, re-armed for what is left of the window when it fires
        // early, rather than one per line (a busy pull sends hundreds of lines a second).
        var lastLine = ContinuousClock.now
        var finished = false
        var stalled = false
        var watch: TimerID?
        let task = stream(.post, "/images/create", query: query, timeout: timeout, line: { line in
            lastLine = ContinuousClock.now
            guard let item = try? JSONDecoder().decode(PullProgress.self, from: Data(line)) else { return }
            if let error = item.error { failure = error }
            if let status = item.status { progress([item.id, status].compactMap { $0 }.joined(separator: ": ")) }
        }, completion: { [weak reactor] error in
            finished = true
            if let watch { reactor?.cancel(watch) }
            if stalled, let stall {
                return completion(.failure(DockerError(daemon: name, call: call, kind: .transport("stalled"),
                    message: "no progress for \(stall.configString) (pull_progress_timeout): the registry or the daemon stalled the pull")))
            }
            if let error { return completion(.failure(error)) }
            if let failure {
                return completion(.failure(DockerError(daemon: name, call: call, kind: .status(200), message: failure)))
            }
            completion(.success(()))
        })
        guard let stall, let reactor, !finished else { return }
        func check() {
            guard !finished else { return }
            let quiet = ContinuousClock.now - lastLine
            guard quiet >= stall else {
                watch = reactor.schedule(after: stall - quiet) { check() }
                return
            }
            stalled = true
            task.cancel()
        }
        watch = reactor.schedule(after: stall) { check() }
    }

    /// Imports a root filesystem tar as `repository:tag` (`POST /images/create?fromSrc=-`):
    /// how Ganger brings its own tiny images to a daemon with no registry in reach.
    public func importImage(_ rootfs: [UInt8], repository: String, tag: String, command: [String],
                            completion: @escaping (Result<Void, DockerError>) -> Void) {
        let change = "CMD [" + command.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        // The tag goes inside `repo` ("The repo may include a tag", Engine API): podman's compat
        // API (4.3) ignores a separate `tag` and would name the image repository:latest.
        call(.post, "/images/create", query: [("fromSrc", "-"), ("repo", "\(repository):\(tag)"), ("changes", change)],
             raw: ("application/x-tar", rootfs)) { result in
            completion(result.map { _ in () })
        }
    }

    /// `name:tag` → (name, tag); a digest or a registry port is left intact.
    static func splitReference(_ image: String) -> (String, String?) {
        if image.contains("@") { return (image, nil) }
        let lastSlash = image.lastIndex(of: "/") ?? image.startIndex
        if let colon = image[lastSlash...].lastIndex(of: ":") {
            return (String(image[..<colon]), String(image[image.index(after: colon)...]))
        }
        return (image, "latest")
    }

    // MARK: Containers

    /// `POST /containers/create`; returns the new container's id.
    public func create(_ spec: ContainerSpec, name containerName: String? = nil, timeout: Duration? = nil,
                       completion: @escaping (Result<String, DockerError>) -> Void) {
        let query = containerName.map { [("name", $0)] } ?? []
        call(.post, "/containers/create", query: query, json: spec, timeout: clamp(timeout)) { [self] result in
            completion(result.flatMap { decode(CreateResponse.self, $0.body, call: "POST /containers/create").map(\.id) })
        }
    }

    /// `POST /containers/{id}/start` (304, already started, counts as success).
    public func start(_ id: String, timeout: Duration? = nil, completion: @escaping (Result<Void, DockerError>) -> Void) {
        call(.post, "/containers/\(id)/start", timeout: clamp(timeout), accept: [304]) { completion($0.map { _ in () }) }
    }

    /// `POST /containers/{id}/rename?name=NAME`.
    public func rename(_ id: String, to name: String, completion: @escaping (Result<Void, DockerError>) -> Void) {
        call(.post, "/containers/\(id)/rename", query: [("name", name)]) { completion($0.map { _ in () }) }
    }

    /// `GET /containers/{id}/json`.
    public func inspect(_ id: String, timeout: Duration? = nil, completion: @escaping (Result<ContainerInspect, DockerError>) -> Void) {
        call(.get, "/containers/\(id)/json", timeout: clamp(timeout)) { [self] result in
            completion(result.flatMap { decode(ContainerInspect.self, $0.body, call: "GET /containers/{id}/json") })
        }
    }

    /// `GET /networks/{name}`: nil when the daemon has no such network (404).
    public func inspectNetwork(_ name: String, completion: @escaping (Result<NetworkInspect?, DockerError>) -> Void) {
        call(.get, "/networks/\(percentEncode(name))", accept: [404]) { [self] result in
            completion(result.flatMap { answer in
                answer.status == 404 ? .success(nil)
                    : decode(NetworkInspect.self, answer.body, call: "GET /networks/{name}").map { $0 }
            })
        }
    }

    /// `POST /containers/{id}/kill` (409, not running, counts as success).
    public func kill(_ id: String, completion: @escaping (Result<Void, DockerError>) -> Void) {
        call(.post, "/containers/\(id)/kill", accept: [409]) { completion($0.map { _ in () }) }
    }

    /// `DELETE /containers/{id}?force=true&v=true`: kill and remove in one call. 404 (already
    /// gone) counts as success, so removal is idempotent.
    public func remove(_ id: String, completion: @escaping (Result<Void, DockerError>) -> Void) {
        call(.delete, "/containers/\(id)", query: [("force", "true"), ("v", "true")], accept: [404]) {
            completion($0.map { _ in () })
        }
    }

    /// `GET /containers/json?all=true&filters={"label":[...]}`: every container with all labels.
    public func list(labels: [String], completion: @escaping (Result<[ContainerSummary], DockerError>) -> Void) {
        call(.get, "/containers/json", query: [("all", "true"), ("filters", Self.labelFilter(labels))]) { [self] result in
            completion(result.flatMap { decode([ContainerSummary].self, $0.body, call: "GET /containers/json") })
        }
    }

    /// `GET /events?filters=...`: container events with `labels`, one call per event, until
    /// cancelled or the stream breaks (`completion`).
    @discardableResult
    public func events(labels: [String], onEvent: @escaping (DockerEvent) -> Void,
                       subscribed: @escaping () -> Void = {},
                       completion: @escaping (DockerError?) -> Void) -> HTTPRequestTask {
        let filters = Self.filter(["type": ["container"], "label": labels])
        return stream(.get, "/events", query: [("filters", filters)], timeout: nil, subscribed: subscribed, line: { line in
            if let event = try? JSONDecoder().decode(DockerEvent.self, from: Data(line)) { onEvent(event) }
        }, completion: completion)
    }

    static func labelFilter(_ labels: [String]) -> String { filter(["label": labels]) }

    /// Docker's `filters` query value: JSON of name → values, escaped by the encoder.
    static func filter(_ filters: [String: [String]]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(filters)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// A caller's deadline for one call, never beyond `docker_timeout`.
    func clamp(_ timeout: Duration?) -> Duration? {
        timeout.map { min($0, self.timeout) }
    }
}
