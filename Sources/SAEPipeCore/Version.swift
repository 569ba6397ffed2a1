/// The saepipe release; recorded in every cache manifest and run manifest.
public enum SAEPipeVersion {
    public static let current = "0.1.0"
}
