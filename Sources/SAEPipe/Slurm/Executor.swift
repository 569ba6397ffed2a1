/// Where a run's or sweep's stages execute.
public enum Executor: String, Sendable, Codable, CaseIterable {
    /// In this process, as threads (the default).
    case local
    /// As Slurm jobs, one per stage, over a cache on a filesystem every node shares.
    case slurm
}
