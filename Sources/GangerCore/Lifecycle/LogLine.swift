/// A log line a pure machine asks its driver to write: the machine decides what is worth
/// saying, the driver has the logger (and adds the service's name).
public struct LogLine: Sendable, Equatable {
    public enum Level: Sendable { case debug, notice, warning }
    public let level: Level
    public let message: String
    public let metadata: [String: String]

    public init(level: Level, message: String, metadata: [String: String]) {
        self.level = level
        self.message = message
        self.metadata = metadata
    }
}
