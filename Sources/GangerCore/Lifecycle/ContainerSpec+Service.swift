import EventLoop

/// The labels that make a container Ganger's; the only way it recognises its own.
public enum GangerLabels {
    public static let managed = "ganger.managed"
    public static let instance = "ganger.instance"
    public static let service = "ganger.service"
    public static let client = "ganger.client"
    public static let role = "ganger.role"
    /// The boot id of the process that made the container (its lease names the same id).
    public static let boot = "ganger.boot"
    /// A lease's holder: host name and pid.
    public static let host = "ganger.host"
    public static let pid = "ganger.pid"
    /// Marks an instance's lease container (its value is the instance).
    public static let lease = "ganger.lease"

    /// Filters for this instance's containers.
    public static func filters(instance name: String) -> [String] {
        ["\(managed)=true", "\(instance)=\(name)"]
    }
}

extension ContainerSpec {
    /// The container for one session of `service`: its image, command and env, Ganger's labels,
    /// and the sandbox an operator expects (no-new-privileges, memory/cpus/pids limits, the
    /// `sandbox` settings, no restart, removed by Ganger rather than AutoRemove so a crash
    /// cannot race the removal). `publish` (remote daemons) is the daemon host's address to
    /// publish the port on (`host_ip`; "" = every interface); nil publishes nothing.
    /// `logDriver` is the daemon's default log driver (`GET /info`; nil: not known), which
    /// decides whether `limits.log` can be applied (`logConfig`).
    static func session(service: ServiceConfig, instance: String, client: SocketAddress?, publish: String?,
                        logDriver: String?) -> ContainerSpec {
        var labels = [
            GangerLabels.managed: "true",
            GangerLabels.instance: instance,
            GangerLabels.service: service.name,
        ]
        var env = service.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if let client {
            labels[GangerLabels.client] = client.description
            if service.clientAddress == .env { env.append("GANGER_CLIENT_ADDR=\(client.description)") }
        }
        let port = "\(service.port)/tcp"
        let limits = service.limits
        return ContainerSpec(
            image: service.image,
            cmd: service.command.isEmpty ? nil : service.command,
            env: env,
            labels: labels,
            exposedPorts: [port: Empty()],
            hostConfig: HostConfig(
                memory: limits.memory.bytes > 0 ? limits.memory.bytes : nil,
                nanoCpus: limits.cpus > 0 ? Int64(limits.cpus * 1_000_000_000) : nil,
                pidsLimit: limits.pids > 0 ? limits.pids : nil,
                securityOpt: ["no-new-privileges"],
                networkMode: service.network,
                restartPolicy: ["Name": "no"],
                autoRemove: false,
                portBindings: publish.map { [port: [PortBinding(hostIp: $0, hostPort: "")]] },
                capDrop: service.sandbox.capDrop.isEmpty ? nil : service.sandbox.capDrop,
                capAdd: service.sandbox.capAdd.isEmpty ? nil : service.sandbox.capAdd,
                readonlyRootfs: service.sandbox.readOnly ? true : nil,
                tmpfs: service.sandbox.tmpfs.isEmpty ? nil : service.sandbox.tmpfs,
                logConfig: logConfig(limit: limits.log, driver: logDriver)
            )
        )
    }

    /// The drivers that keep a container's log in files under the daemon's data root and, unless
    /// told a size, grow them for as long as the container writes: a session (which runs what
    /// its client sends) writing to its stdout, or to `/proc/1/fd/1`, fills the daemon's disk
    /// at disk speed (measured: 268 MB in 5 s from the sandbox example, json-file).
    static let fileLogDrivers: Set<String> = ["json-file", "local"]

    /// `limit` as options of the daemon's own driver: two files of half of it each, so the newest
    /// half at least is kept for `docker logs` and the disk holds at most `limit` (plus the one
    /// message that crosses the line, ≤ 16 KiB). nil, leaving the daemon's settings, when there
    /// is no limit or the driver keeps no such files (journald, syslog, a remote collector, none:
    /// their store has its own bounds, and options they do not know would fail every create) or
    /// is not known. The driver is named, not left to the daemon's default: a daemon restarted
    /// with another default still gets options its driver knows.
    static func logConfig(limit: ByteSize, driver: String?) -> ContainerSpec.LogConfig? {
        guard limit.bytes > 0, let driver, fileLogDrivers.contains(driver) else { return nil }
        return ContainerSpec.LogConfig(type: driver, config: ["max-size": "\(limit.bytes / 2)", "max-file": "2"])
    }
}
