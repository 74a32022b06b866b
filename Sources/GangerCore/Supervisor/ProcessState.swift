import Glibc

/// Whether a process on this host still counts as running, for the instance lease.
///
/// `kill(pid, 0)` succeeds for a zombie too: a Ganger killed with SIGKILL stays one until its
/// parent reaps it (seconds under a slow reaper, for good under a parent that never waits, as a
/// shell's background job or a container's PID 1 that is not an init). A zombie runs no code and
/// holds no descriptor, so its lease is over; without this a restart right after a crash was
/// refused with "held by another Ganger (pid N)" until the lease ran out.
enum ProcessState {
    /// Running (or stopped, or unknown to us: another user's, or /proc unreadable) rather than
    /// gone or a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let state = state(of: pid) else { return true }
        return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
    }

    /// The state letter of `/proc/<pid>/stat`; nil when it cannot be read.
    static func state(of pid: Int32) -> UInt8? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // The state is the third field; the command before it is at most 16 bytes in parentheses.
        var buffer = [UInt8](repeating: 0, count: 256)
        var count = 0
        repeat { count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } } while count < 0 && errno == EINTR
        guard count > 0 else { return nil }
        return state(inStat: buffer[..<count])
    }

    /// The state letter in a `/proc/<pid>/stat` line: the field after the last ')' (the command
    /// may itself hold spaces and parentheses).
    static func state(inStat line: ArraySlice<UInt8>) -> UInt8? {
        guard let close = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let at = close + 2
        guard at < line.endIndex, line[close + 1] == UInt8(ascii: " ") else { return nil }
        let letter = line[at]
        return (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(letter) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(letter) ? letter : nil
    }
}
