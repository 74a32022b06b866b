@testable import EventLoop
import FoundationEssentials
@testable import GangerCore

/// The Docker API answers Ganger decodes. Input: a JSON document, which is also taken as the
/// chunked body of a `GET /events` reply.
///
/// Properties: decoding never traps; a create's or a listing's container id is hex digits (it
/// goes into request paths); a network keeps sessions apart only as `ServiceNetwork` says; an inspected container's address is nil or not empty, and
/// a published port is never 0 (Ganger would connect to it); a non-2xx body gives a message;
/// the `/events` stream yields the same events whether its bytes arrive whole or cut, and never
/// more events than lines.
enum DockerTarget {
    static func run(_ input: [UInt8]) {
        let decoder = JSONDecoder()
        let data = Data(input)
        if let inspect = try? decoder.decode(ContainerInspect.self, from: data) {
            for network in ["bridge", "ganger", ""] {
                if let ip = inspect.ipAddress(on: network) { require(!ip.isEmpty, "an empty address") }
            }
            for port: UInt16 in [0, 80, 5000, 12345, 65535] {
                if let published = inspect.publishedPort(port) {
                    require(published != 0, "port \(port) published as 0: \(String(decoding: input, as: UTF8.self))")
                }
            }
        }
        // Ids go into request paths: whatever decodes must be one (`DockerID`).
        for summary in (try? decoder.decode([ContainerSummary].self, from: data)) ?? [] {
            require(DockerID.isValid(summary.id), "a listing gave the id \(summary.id.debugDescription)")
        }
        if let created = try? decoder.decode(CreateResponse.self, from: data) {
            require(DockerID.isValid(created.id), "a create gave the id \(created.id.debugDescription)")
        }
        _ = try? decoder.decode(VersionResponse.self, from: data)
        // A daemon's word on its log driver decides a create's log options: only a driver
        // Ganger knows the options of may be named there.
        if let info = try? decoder.decode(InfoResponse.self, from: data),
           let config = ContainerSpec.logConfig(limit: ByteSize(bytes: 10 << 20), driver: info.loggingDriver) {
            require(ContainerSpec.fileLogDrivers.contains(config.type), "the log driver \(config.type.debugDescription) got options")
        }
        // A network's answer decides whether a sandboxed service is warned: only a bridge
        // network with inter-container communication off, or the null driver, keeps sessions
        // from reaching each other.
        if let network = try? decoder.decode(NetworkInspect.self, from: data), !ServiceNetwork.siblingsReachEachOther(network) {
            require(network.driver == "null" || (network.driver == "bridge" && network.options?[ServiceNetwork.iccOption] == "false"),
                    "sessions judged apart on \(String(decoding: input, as: UTF8.self))")
        }
        _ = try? decoder.decode(PullProgress.self, from: data)
        let error = DockerClient.statusError("fuzz", "GET /fuzz", 500, input)
        require(error.message.count <= 512 || (try? decoder.decode(ErrorBody.self, from: data)) != nil,
                "a non-JSON error body gave a message of \(error.message.count) characters")

        let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let stream = head + ChunkedTarget.encode(input)
        let whole = events([stream])
        let cut = events(Split.twoPieces(stream, at: Split.point(input, count: stream.count)))
        require(whole == cut, "the /events stream yields \(whole) whole but \(cut) cut")
        let lines = input.split(separator: 0x0A).count
        require(whole.count <= lines, "\(whole.count) events from \(lines) lines")
    }

    /// What DockerClient.events reports for these pieces of a reply: parser, line splitter,
    /// one DockerEvent per decodable line (actor id and action, for comparison).
    static func events(_ pieces: [[UInt8]]) -> [String] {
        var parser = HTTPResponseParser()
        parser.expect(method: .get)
        var splitter = LineSplitter()
        var found: [String] = []
        func deliver(_ line: [UInt8]) {
            if let event = try? JSONDecoder().decode(DockerEvent.self, from: Data(line)) {
                found.append("\(event.type ?? "-") \(event.action) \(event.actor.id)")
            }
        }
        do {
            for piece in pieces {
                for event in try parser.feed(piece) {
                    if case .body(let chunk) = event { for line in try splitter.feed(chunk) { deliver(line) } }
                }
            }
        } catch {
            require(false, "a well-formed /events reply failed: \(error)")
        }
        if let last = splitter.finish() { deliver(last) }
        return found
    }
}
