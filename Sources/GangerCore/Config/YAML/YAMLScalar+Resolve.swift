extension YAMLScalar {
    /// What a scalar means to a YAML 1.1 loader (libyaml's own version of YAML, and what Yams,
    /// PyYAML and Go's yaml.v2 resolve): the config decoder reads every value from its text, but
    /// needs to know which plain scalars are null, and the renderer which strings it may write
    /// unquoted without them reading back as something else (`yes`, `1_000`, `2024-01-02`).
    enum Resolved: Sendable, Equatable {
        case null, bool, int, float, merge, timestamp, value, str
    }

    /// The scalar's type: from its explicit tag when it has one, `str` when it was quoted or
    /// written as a block, else from its text (see `resolve(plain:)`).
    var resolved: Resolved {
        if let tag { return Self.resolve(tag: tag) }
        guard style == .plain else { return .str }
        return Self.resolve(plain: text)
    }

    /// Null as YAML 1.1 writes it plainly: empty, `~`, `null`, `Null`, `NULL` (or tagged `!!null`).
    /// The decoder asks this of every value, so it skips the patterns `resolved` may try.
    var isNull: Bool {
        if let tag { return Self.resolve(tag: tag) == .null }
        return style == .plain && (text.isEmpty || Rules.null.contains(text))
    }

    /// The type of a plain, untagged scalar with this text. The rules and their order are
    /// YAML 1.1's (https://yaml.org/type/), as Yams' default resolver applied them before
    /// Ganger composed YAML itself, so `ganger check` quotes exactly the strings it quoted then.
    static func resolve(plain text: String) -> Resolved {
        // The word forms and the patterns exclude each other, so the words go first and the
        // patterns are only tried on text that starts like a number or a date.
        guard let first = text.utf8.first else { return .null }
        if Rules.bool.contains(text) { return .bool }
        if Rules.null.contains(text) { return .null }
        if text == "<<" { return .merge }
        if text == "=" { return .value }
        guard Self.mayBeNumeric(first) else { return .str }
        if (try? Rules.int.wholeMatch(in: text)) != nil { return .int }
        if (try? Rules.float.wholeMatch(in: text)) != nil { return .float }
        if (try? Rules.timestamp.wholeMatch(in: text)) != nil { return .timestamp }
        return .str
    }

    /// The type named by an explicit tag; tags outside YAML's own (`!local`, the non-specific
    /// `!`) read as strings, which is how the config uses every value anyway.
    static func resolve(tag: String) -> Resolved {
        switch tag {
        case "tag:yaml.org,2002:null": .null
        case "tag:yaml.org,2002:bool": .bool
        case "tag:yaml.org,2002:int": .int
        case "tag:yaml.org,2002:float": .float
        case "tag:yaml.org,2002:merge": .merge
        case "tag:yaml.org,2002:timestamp": .timestamp
        case "tag:yaml.org,2002:value": .value
        default: .str
        }
    }

    /// Whether text starting with `byte` may be an int, float or timestamp: a digit, a sign or `.`.
    private static func mayBeNumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "+-.".utf8.contains(byte)
    }
}

/// YAML 1.1's implicit-type patterns (https://yaml.org/type/bool.html, int.html, float.html,
/// timestamp.html), spelled as Yams' default resolver spells them. The patterns are computed
/// properties, a fresh `Regex` per use: `Regex` is not `Sendable` (it compiles itself lazily on
/// first match), and only plain scalars that start like a number get this far.
private enum Rules {
    static let bool: Set<String> = [
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ]
    static let null: Set<String> = ["~", "null", "Null", "NULL"]
    // Binary, octal (0o17 or 017), decimal, hexadecimal, sexagesimal (1:30), with `_` separators.
    static var int: Regex<Substring> { #/[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+/# }
    // Decimal with optional fraction and exponent, `.5`, sexagesimal, infinities, NaN.
    static var float: Regex<Substring> { #/[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)/# }
    // A date, or a date and time with an optional fraction and zone.
    static var timestamp: Regex<Substring> { #/[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?/# }
}
