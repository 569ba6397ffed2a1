import Foundation
import SAEPipeCore

/// `jobs.json` in a Slurm state directory (`<sweep>/slurm/` or `<outputs>/.slurm/<run>/`):
/// the latest job submitted for each cache entry, so a later command can follow, reuse,
/// resubmit or cancel it. Written by `SlurmExecutor` only.
public struct SlurmJobsFile: Codable, Sendable, Equatable {
    public static let fileName = "jobs.json"

    public struct Job: Codable, Sendable, Equatable {
        /// The cache entry the job writes, `kind/key`.
        public var entry: String
        /// The Slurm job name, `saepipe-<kind>-<key prefix>`: other sweeps find the job by it.
        public var name: String
        public var id: String
        /// The stages it computes, `variant: stage` (one entry can serve many variants).
        public var stages: [String]
        public var dependencies: [String]
        /// Where the job's output goes; empty for a job another command submitted.
        public var log: String
        /// ISO 8601, UTC.
        public var submitted: String
        /// Submissions of this entry so far (a rerun after a failure adds one).
        public var attempts: Int
    }

    public var jobs: [Job]

    public init(jobs: [Job] = []) { self.jobs = jobs }

    public static func read(directory: String) throws -> SlurmJobsFile {
        let path = "\(directory)/\(fileName)"
        guard FileSystem.exists(path) else { return SlurmJobsFile() }
        return try JSONFile.read(SlurmJobsFile.self, from: path, hint: "remove it to forget the jobs it lists (they keep running)")
    }

    public func write(directory: String) throws {
        try JSONFile.write(self, to: "\(directory)/\(SlurmJobsFile.fileName)")
    }

    public func job(forEntry entry: String) -> Job? { jobs.first { $0.entry == entry } }

    mutating func record(_ job: Job) {
        jobs.removeAll { $0.entry == job.entry }
        jobs.append(job)
    }
}
