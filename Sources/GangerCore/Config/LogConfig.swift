/// Logging (`log:`): how much and in which shape.
public struct LogConfig: Sendable, Equatable {
    public var level: Level
    public var format: Format

    /// swift-log's levels, by the same names, least severe first.
    public enum Level: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// `text`: one human-readable line per event; `json`: one JSON object per line.
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public init(level: Level = .info, format: Format = .text) {
        self.level = level
        self.format = format
    }
}
