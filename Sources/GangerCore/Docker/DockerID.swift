/// What Ganger takes as a container id from a daemon (a create's answer, a listing) or from the
/// process it takes over: 1–64 lowercase hex digits, as Docker and Podman give them. An id goes
/// into request paths (`/containers/{id}/kill`) unescaped and into the log, so anything else —
/// a `/`, a `?`, a CR or LF from a daemon that is broken or hostile — is refused where it is
/// read, with the call failing as a malformed answer, instead of reaching another request.
enum DockerID {
    static let maxLength = 64

    static func isValid(_ id: String) -> Bool {
        var count = 0
        for byte in id.utf8 {
            guard (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) else { return false }
            count += 1
            if count > maxLength { return false }
        }
        return count > 0
    }

    /// How the log names a container: an id by its first 12 digits (as `docker ps` does), a
    /// name (a create whose answer never came is removed by the name it gave) whole.
    static func short(_ idOrName: String) -> String {
        isValid(idOrName) ? String(idOrName.prefix(12)) : idOrName
    }

    /// The id under `key`, refused as corrupt data when it is not one.
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> String {
        let id = try container.decode(String.self, forKey: key)
        guard isValid(id) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                   debugDescription: "not a container id (1–\(maxLength) lowercase hex digits)")
        }
        return id
    }
}
