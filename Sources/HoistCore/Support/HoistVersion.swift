/// Hoist's version, reported by the daemon and the CLI.
public enum HoistVersion {
    public static let current = "0.1.0"
}
