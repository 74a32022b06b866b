public import EventLoop
import Glibc

/// Listening sockets handed over by systemd (socket activation, sd_listen_fds(3)): descriptors
/// 3, 4, ... named by `FileDescriptorName=` in the `.socket` unit (`$LISTEN_FDNAMES`).
///
/// Each is matched to the service of that name when the listeners open; a service with no
/// passed socket binds its `listen` as usual. Descriptors no service takes are closed then.
/// The box owns every descriptor it still holds: what is left when it goes is closed.
public final class PassedSockets {
    private var sockets: [(name: String, box: FileDescriptorBox)]

    /// The sockets passed, by name, in the order systemd passed them.
    public var names: [String] { sockets.map(\.name) }

    /// The first descriptor number systemd passes (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: CInt = 3

    init(_ sockets: [(name: String, box: FileDescriptorBox)]) {
        self.sockets = sockets
    }

    /// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` and unsets them (a child of
    /// Ganger must not think the sockets are its own); each passed descriptor gets CLOEXEC at
    /// once. Nil when no sockets were passed to this process; a problem with the variables is
    /// thrown as a message for the log (exit 2: a unit that passes sockets Ganger cannot read
    /// is a setup error).
    public static func fromEnvironment() throws(StartupError) -> PassedSockets? {
        let values = takeEnvironment(["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"])
        let names: [String]
        switch parse(pid: values["LISTEN_PID"], count: values["LISTEN_FDS"], names: values["LISTEN_FDNAMES"], ownPID: getpid()) {
        case let .success(parsed): names = parsed
        case let .failure(error): throw error
        }
        guard !names.isEmpty else { return nil }
        var sockets: [(name: String, box: FileDescriptorBox)] = []
        for (offset, name) in names.enumerated() {
            let fd = firstDescriptor + CInt(offset)
            guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else {
                throw StartupError(description: "socket activation: descriptor \(fd) (\(name)) is not open: \(String(cString: strerror(errno)))")
            }
            sockets.append((name, FileDescriptorBox(FileDescriptor(taking: fd))))
        }
        return PassedSockets(sockets)
    }

    /// The names of the descriptors passed (one per descriptor, from 3 on), or none when the
    /// variables are not meant for `ownPID` (`LISTEN_PID` unset or another process's: they were
    /// inherited, not passed). A descriptor without a name in `LISTEN_FDNAMES` is "unknown",
    /// as systemd calls it.
    static func parse(pid: String?, count: String?, names: String?, ownPID: Int32) -> Result<[String], StartupError> {
        guard let pid, let count, Int32(pid) == ownPID else { return .success([]) }
        guard let fds = Int(count), fds >= 0, fds <= 1024 else {
            return .failure(StartupError(description: "socket activation: LISTEN_FDS=\(count) is not a count of descriptors"))
        }
        let given = names.map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        guard given.isEmpty || given.count == fds else {
            return .failure(StartupError(description:
                "socket activation: LISTEN_FDNAMES names \(given.count) descriptor(s), LISTEN_FDS passes \(fds)"))
        }
        return .success((0..<fds).map { index in index < given.count && !given[index].isEmpty ? given[index] : "unknown" })
    }

    /// The socket named `name`, now the caller's; nil when none (left) has that name.
    public func take(_ name: String) -> FileDescriptor? {
        guard let index = sockets.firstIndex(where: { $0.name == name && $0.box.rawValue != nil }) else { return nil }
        return sockets[index].box.take()
    }

    /// Closes every socket no service took; returns their names (for a warning).
    @discardableResult
    public func closeUnclaimed() -> [String] {
        let left = sockets.filter { $0.box.rawValue != nil }
        for socket in left { socket.box.close() }
        sockets.removeAll()
        return left.map(\.name)
    }
}

/// The values of the environment variables `names` (those set), each unset from the process
/// environment. Main thread, before other threads read the environment (setenv is not
/// thread-safe).
func takeEnvironment(_ names: [String]) -> [String: String] {
    var values: [String: String] = [:]
    for name in names {
        if let value = getenv(name) { values[name] = String(cString: value) }
        unsetenv(name)
    }
    return values
}
