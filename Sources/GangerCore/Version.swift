/// Ganger's release version, printed by `ganger version`.
public enum GangerVersion {
    public static let string = "0.1.0"
}
