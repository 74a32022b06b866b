import Testing
@testable import GangerCore

/// YAML 1.1 resolution of plain scalars, which decides what counts as null in the config and
/// which strings `ganger check` must quote. The table is Yams' default resolver's, which the
/// config used before it composed YAML itself.
@Suite struct YAMLScalarResolveTests {
    @Test(arguments: ["", "~", "null", "Null", "NULL"])
    func null_forms(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .null)
        #expect(YAMLScalar(text: text).isNull)
    }

    @Test(arguments: ["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                      "on", "On", "ON", "off", "Off", "OFF"])
    func bool_forms(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .bool)
    }

    @Test(arguments: ["0", "-1", "+7", "1_000", "0x1F", "0o17", "017", "0b101", "1:30", "190:20:30"])
    func int_forms(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .int)
    }

    @Test(arguments: ["1.5", "1.", ".5", "1e3", "-2.5E-3", "1_000.5", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1:30.5"])
    func float_forms(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .float)
    }

    @Test(arguments: ["2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z"])
    func timestamp_forms(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .timestamp)
    }

    @Test func mergeAndValue_indicators() {
        #expect(YAMLScalar.resolve(plain: "<<") == .merge)
        #expect(YAMLScalar.resolve(plain: "=") == .value)
    }

    /// Near misses: YAML 1.1 words in other casings, `y`/`n` (not in this table), and the
    /// values a Ganger config is full of.
    @Test(arguments: ["nULL", "none", "yES", "y", "n", "tRUE", "0.0.0.0", "0.0.0.0:5454", "1.2.3", "12345/tcp", "256m",
                      "5s", "1h", "0x", "0b2", "08_9x", "2001-1-1", "ganger-echo:latest", "unix:///var/run/docker.sock",
                      "-", "+", ".", "<", "==", "1:60"])
    func strings(_ text: String) {
        #expect(YAMLScalar.resolve(plain: text) == .str)
        #expect(!YAMLScalar(text: text).isNull)
    }

    @Test func quotedAndBlockScalars_areStrings_whateverTheirText() {
        for style in [YAMLScalar.Style.singleQuoted, .doubleQuoted, .literal, .folded] {
            #expect(YAMLScalar(text: "null", style: style).resolved == .str)
            #expect(!YAMLScalar(text: "", style: style).isNull)
            #expect(YAMLScalar(text: "1", style: style).resolved == .str)
        }
        #expect(YAMLScalar(text: "1", style: .plain).resolved == .int)
    }

    @Test func explicitTags_override_plainResolution() {
        #expect(YAMLScalar(text: "1", tag: "tag:yaml.org,2002:str").resolved == .str)
        #expect(YAMLScalar(text: "x", tag: "tag:yaml.org,2002:null").isNull)
        #expect(!YAMLScalar(text: "null", tag: "tag:yaml.org,2002:str").isNull)
        #expect(YAMLScalar(text: "1", style: .doubleQuoted, tag: "tag:yaml.org,2002:int").resolved == .int)
        #expect(YAMLScalar(text: "null", tag: "!").resolved == .str)
    }
}
