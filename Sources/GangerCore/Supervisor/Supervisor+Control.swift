import EventLoop
import Glibc
import Logging

/// The control socket (`control.socket`): a unix `SOCK_SEQPACKET` socket, mode 0600, on which a
/// `ganger run --takeover` of the same user asks this process for its sockets and sessions
/// (TakeoverDonor.swift).
extension Supervisor {
    /// Binds the control socket (a stale one left by a killed process is replaced). Not fatal:
    /// without it this process serves as usual but cannot be taken over, and says so.
    func openControlSocket() {
        guard let reactor, controlListener == nil else { return }
        let path = config.controlSocketPath
        do {
            try Self.prepareControlDirectory(of: path)
            if access(path, F_OK) == 0 {
                if let alive = try? DescriptorPassing.connect(path: path) {
                    alive.close()
                    logger.error("control socket in use by another process: takeover of this one is off", metadata: ["path": "\(path)"])
                    return
                }
                unlink(path)
            }
            let socket = try DescriptorPassing.listen(path: path)
            controlListener = try Listener(reactor: reactor, adopting: socket) { [unowned self] client, _ in controlAccepted(client) }
            controlPath = path
            logger.info("control socket", metadata: ["path": "\(path)"])
        } catch {
            logger.error("cannot open the control socket: takeover of this process is off", metadata: [
                "path": "\(path)", "error": "\(error)",
            ])
        }
    }

    /// The control socket's directory: created owner-only when missing (a shared volume's
    /// directory is left as the operator made it).
    static func prepareControlDirectory(of path: String) throws(SyscallError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        if access(directory, F_OK) != 0 && mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SyscallError("mkdir(\(directory))", errno: errno)
        }
    }

    /// Closes the control socket; `unlinking` removes its path too (a shutdown; after a
    /// takeover the path is the new process's).
    func closeControlSocket(unlinking: Bool) {
        controlListener?.close()
        controlListener = nil
        if unlinking, let controlPath { unlink(controlPath) }
        controlPath = nil
    }

    func controlAccepted(_ client: consuming FileDescriptor) {
        guard let reactor else { return client.close() }
        let box = FileDescriptorBox(client)
        do {
            let donor = try TakeoverDonor(supervisor: self, reactor: reactor, socket: box.take()!)
            if let refusal = takeoverRefusal(peer: donor.peer) {
                logger.warning("takeover refused", metadata: ["reason": "\(refusal)", "peer_pid": "\(donor.peer?.pid ?? 0)"])
                return donor.refuse(refusal)
            }
            self.donor = donor
        } catch {
            logger.error("control connection failed", metadata: ["error": "\(error)"])
        }
    }

    /// Why a takeover cannot start now, if it cannot.
    private func takeoverRefusal(peer: (uid: UInt32, pid: Int32)?) -> String? {
        guard let peer else { return "the peer's credentials are unknown" }
        if peer.uid != currentUserID() { return "uid \(peer.uid) is not this process's (\(currentUserID()))" }
        if donor != nil { return "a takeover is already in progress" }
        if draining { return "shutting down" }
        if !services.allSatisfy({ $0.listener != nil }) { return "still starting" }
        return nil
    }
}
