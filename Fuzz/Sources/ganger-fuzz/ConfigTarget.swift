@testable import GangerCore

/// The configuration loader and `ganger check`'s renderer. Input: a YAML document.
///
/// Properties: a configuration that loads renders (secrets shown) to YAML that loads back to an
/// equal configuration, and rendering that one gives the same text again.
enum ConfigTarget {
    static func run(_ input: [UInt8]) {
        guard let text = String(validating: input, as: UTF8.self),
              let config = try? ConfigLoader.parse(yaml: text, source: "<fuzz>", environment: [:])
        else { return }
        let rendered = config.renderYAML(showSecrets: true)
        let back: GangerConfig
        do {
            back = try ConfigLoader.parse(yaml: rendered, source: "<rendered>", environment: [:])
        } catch {
            return require(false, "the rendered configuration does not load: \(error)\n--- input\n\(text)\n--- rendered\n\(rendered)")
        }
        require(back == config, "the rendered configuration loads differently\n--- input\n\(text)\n--- rendered\n\(rendered)")
        require(back.renderYAML(showSecrets: true) == rendered, "rendering is not stable\n--- rendered\n\(rendered)")
    }
}
