import CYAML

extension YAMLComposer {
    /// One libyaml parse event with its strings copied into Swift, so that the C event can be
    /// deleted as soon as it is read. Only what composing needs is kept (no version directives,
    /// no collection styles).
    enum Event {
        case streamStart, streamEnd
        case documentStart(YAMLMark), documentEnd
        case alias(String, YAMLMark)
        case scalar(YAMLScalar, anchor: String?)
        case sequenceStart(anchor: String?, YAMLMark), sequenceEnd
        case mappingStart(anchor: String?, YAMLMark), mappingEnd

        /// Copies `event`; the caller still deletes it.
        init(_ event: yaml_event_t) {
            let mark = YAMLMark(event.start_mark)
            switch event.type {
            case YAML_STREAM_START_EVENT: self = .streamStart
            case YAML_DOCUMENT_START_EVENT: self = .documentStart(mark)
            case YAML_DOCUMENT_END_EVENT: self = .documentEnd
            case YAML_ALIAS_EVENT: self = .alias(Self.string(event.data.alias.anchor) ?? "", mark)
            case YAML_SCALAR_EVENT:
                let data = event.data.scalar
                // Scalars may hold NUL ("\0" in double quotes): the length counts, not a terminator.
                let text = String(decoding: UnsafeBufferPointer(start: data.value, count: data.length), as: UTF8.self)
                let scalar = YAMLScalar(text: text, style: Self.style(data.style), tag: Self.string(data.tag), mark: mark)
                self = .scalar(scalar, anchor: Self.string(data.anchor))
            case YAML_SEQUENCE_START_EVENT: self = .sequenceStart(anchor: Self.string(event.data.sequence_start.anchor), mark)
            case YAML_SEQUENCE_END_EVENT: self = .sequenceEnd
            case YAML_MAPPING_START_EVENT: self = .mappingStart(anchor: Self.string(event.data.mapping_start.anchor), mark)
            case YAML_MAPPING_END_EVENT: self = .mappingEnd
            default: self = .streamEnd  // YAML_STREAM_END_EVENT (a successful parse never yields NO_EVENT)
            }
        }

        /// A NUL-terminated anchor or tag, nil when libyaml has none.
        private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }

        private static func style(_ style: yaml_scalar_style_t) -> YAMLScalar.Style {
            switch style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain  // libyaml reports ANY only for scalars it emits, never for parsed ones
            }
        }
    }
}

extension YAMLMark {
    /// libyaml's 0-based mark, 1-based.
    init(_ mark: yaml_mark_t) {
        self.init(line: mark.line + 1, column: mark.column + 1)
    }
}
