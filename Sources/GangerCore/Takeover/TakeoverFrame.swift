import FoundationEssentials

/// One message of the takeover protocol on the control socket: a 12-byte header (magic
/// `GNGT`, version, kind, a zero byte, payload length, big-endian) and a JSON payload, with the
/// descriptors it describes attached (SCM_RIGHTS). A `SOCK_SEQPACKET` socket keeps each message
/// whole with its descriptors. Anything else — another magic or version, a length that does not
/// match, an unknown kind, a payload that does not decode — is refused, never guessed at.
public enum TakeoverFrame {
    public static let magic: [UInt8] = Array("GNGT".utf8)
    /// Bumped whenever a message changes meaning; both sides must speak the same.
    public static let version: UInt16 = 1
    public static let headerSize = 12
    /// Per message: the payload (sessions are sent in batches that fit) and descriptors.
    public static let maxBytes = 64 << 10
    public static let maxDescriptors = 240

    public enum Kind: UInt8, Sendable, CaseIterable {
        /// New → old: I want to take over (`TakeoverHello`).
        case hello = 1
        /// Either way: no, and why (`TakeoverRefusal`); the takeover is off.
        case refuse = 2
        /// Old → new: the instance and its listening sockets (`TakeoverState`).
        case state = 3
        /// Old → new: a batch of sessions (`TakeoverSessions`).
        case sessions = 4
        /// Old → new: that was everything.
        case end = 5
        /// New → old: everything taken in, leases held; the old one may let go.
        case ready = 6
        /// Old → new: let go; the new one serves from now on.
        case commit = 7
    }

    public static func encode(_ kind: Kind, _ body: some Encodable) throws(TakeoverError) -> [UInt8] {
        let payload: [UInt8]
        do { payload = Array(try JSONEncoder().encode(body)) } catch { throw TakeoverError("cannot encode \(kind): \(error)") }
        guard headerSize + payload.count <= maxBytes else { throw TakeoverError("\(kind) message of \(payload.count) bytes is over \(maxBytes)") }
        var frame = magic
        frame += [UInt8(version >> 8), UInt8(version & 0xff), kind.rawValue, 0]
        let length = UInt32(payload.count)
        frame += [UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
        return frame + payload
    }

    /// The kind and payload of a received message, checked.
    public static func decode(_ bytes: [UInt8]) throws(TakeoverError) -> (kind: Kind, payload: [UInt8]) {
        guard bytes.count >= headerSize, Array(bytes[0..<4]) == magic else { throw TakeoverError("not a takeover message") }
        let version = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        guard version == Self.version else {
            throw TakeoverError("takeover protocol version \(version), this Ganger speaks \(Self.version)")
        }
        guard let kind = Kind(rawValue: bytes[6]), bytes[7] == 0 else { throw TakeoverError("unknown message kind \(bytes[6])") }
        let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        guard length == bytes.count - headerSize else {
            throw TakeoverError("\(kind) message says \(length) bytes, carries \(bytes.count - headerSize)")
        }
        return (kind, Array(bytes[headerSize...]))
    }

    public static func body<T: Decodable>(_ type: T.Type, _ payload: [UInt8]) throws(TakeoverError) -> T {
        do { return try JSONDecoder().decode(type, from: Data(payload)) } catch { throw TakeoverError("malformed \(type): \(error)") }
    }
}

/// Why a takeover cannot go on (either side), for the log and the other side.
public struct TakeoverError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
