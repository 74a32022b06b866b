/// A position in a YAML document, 1-based as an editor shows it. Columns count characters
/// (Unicode scalars), not bytes, as libyaml does.
struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    var line: Int
    var column: Int

    /// `line 3, column 7`: the form every config error uses.
    var description: String { "line \(line), column \(column)" }
}

/// One scalar as written: its text after YAML's unescaping and folding, how it was written
/// (only a plain scalar is subject to tag resolution: `"null"` is a string, `null` is not),
/// an explicit tag if one was given (`!!str 1`), and where it starts.
struct YAMLScalar: Sendable, Equatable {
    enum Style: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    var text: String
    var style: Style = .plain
    /// The full tag (`tag:yaml.org,2002:str`, `!local`), nil when the document gives none.
    var tag: String? = nil
    var mark = YAMLMark(line: 1, column: 1)
}

/// A composed YAML node: what `YAMLComposer` builds from libyaml's events. Aliases are already
/// replaced by the node their anchor names, merge keys (`<<`) already applied, so a consumer
/// only ever sees these three shapes.
enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    case sequence([YAMLNode], YAMLMark)
    /// Key-value pairs in document order; keys are unique (the composer rejects duplicates).
    case mapping([(key: YAMLNode, value: YAMLNode)], YAMLMark)

    /// Where the node starts: a scalar's first character, or a collection's `[`, `{`, `-` or
    /// first key.
    var mark: YAMLMark {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .sequence(_, let mark), .mapping(_, let mark): mark
        }
    }
}
