import Foundation
import SAEPipeCore

/// The `slurm:` section: the `sbatch` options of the jobs `--executor slurm` submits, with
/// overrides per stage kind (more memory for collect, a longer limit for train).
public struct SlurmSettings: Sendable, Decodable {
    /// Options of one job; nil leaves the option to the cluster's defaults (or, per stage kind,
    /// to the section's own value).
    public struct JobOptions: Sendable, Decodable, Equatable {
        public var partition: String?
        public var time: String?
        public var cpusPerTask: Int?
        public var mem: String?
        public var account: String?
        public var extraArgs: [String]?

        enum CodingKeys: String, CodingKey {
            case partition, time, cpusPerTask = "cpus_per_task", mem, account, extraArgs = "extra_args"
        }

        /// `other`'s options where it sets them, ours elsewhere; extra arguments add up.
        func overridden(by other: JobOptions?) -> JobOptions {
            guard let other else { return self }
            return JobOptions(
                partition: other.partition ?? partition, time: other.time ?? time, cpusPerTask: other.cpusPerTask ?? cpusPerTask,
                mem: other.mem ?? mem, account: other.account ?? account, extraArgs: (extraArgs ?? []) + (other.extraArgs ?? []))
        }

        /// The `sbatch` arguments these options stand for.
        public var sbatchArguments: [String] {
            var arguments: [String] = []
            if let partition { arguments.append("--partition=\(partition)") }
            if let time { arguments.append("--time=\(time)") }
            if let cpusPerTask { arguments.append("--cpus-per-task=\(cpusPerTask)") }
            if let mem { arguments.append("--mem=\(mem)") }
            if let account { arguments.append("--account=\(account)") }
            return arguments + (extraArgs ?? [])
        }
    }

    public var job: JobOptions
    /// Overrides by stage kind (collect, train, interpret, eval, viz).
    public var stages: [String: JobOptions]
    /// Seconds between two looks at the queue while the submitting command waits.
    public var pollSeconds: Double
    /// The saepipe that jobs run; nil: the binary that submits them.
    public var binary: String?

    public static let stageKinds = ["collect", "train", "interpret", "eval", "viz"]

    public func options(forKind kind: String) -> JobOptions { job.overridden(by: stages[kind]) }

    static func jobFields(defaults: Bool) -> [ConfigField] {
        [
            ConfigField("partition", .string, doc: defaults ? "sbatch --partition; the cluster's default partition when unset" : "sbatch --partition"),
            ConfigField("time", .string, doc: defaults ? "sbatch --time, e.g. 2:00:00 or 1-00:00:00; the partition's limit when unset" : "sbatch --time"),
            ConfigField("cpus_per_task", .int(1...4096), default: defaults ? .int(2) : .null,
                        doc: "sbatch --cpus-per-task; a job's stage uses that many BLAS threads"),
            ConfigField("mem", .string, doc: defaults ? "sbatch --mem, e.g. 8G; the cluster's default when unset" : "sbatch --mem"),
            ConfigField("account", .string, doc: "sbatch --account"),
            ConfigField("extra_args", .list(.string), default: defaults ? .list([]) : .null,
                        doc: defaults ? "further sbatch arguments, e.g. [\"--qos=short\"]" : "further sbatch arguments, after the section's"),
        ]
    }

    public static let configFields: [ConfigField] = [
        ConfigField("slurm", .section(ConfigSection(jobFields(defaults: true) + [
            ConfigField("poll_seconds", .double(0.5...3600), default: .double(10), doc: "how often the submitting command looks at the queue"),
            ConfigField("binary", .string, doc: "the saepipe every node runs (a path on the shared filesystem); the submitting binary when unset"),
            ConfigField("stages", .section(ConfigSection(stageKinds.map { kind in
                ConfigField(kind, .section(ConfigSection(jobFields(defaults: false))), doc: "options of \(kind) jobs, over the section's")
            })), doc: "per stage kind, options that replace the section's (extra_args add to them)"),
        ])), doc: "`--executor slurm`: the options of the Slurm jobs each stage runs as; ignored by the local executor"),
    ]

    enum CodingKeys: String, CodingKey { case pollSeconds = "poll_seconds", binary, stages }

    public init(from decoder: Decoder) throws {
        job = try JobOptions(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        pollSeconds = try container.decode(Double.self, forKey: .pollSeconds)
        binary = try container.decodeIfPresent(String.self, forKey: .binary)
        stages = try container.decode([String: JobOptions].self, forKey: .stages)
    }

    /// Reads and checks the section: a malformed `time` or `mem` is refused here, not by sbatch later.
    public static func read(_ config: ConfigValue) throws -> SlurmSettings {
        let settings = try ConfigReader(config).decode(SlurmSettings.self, at: "slurm")
        for (prefix, options) in [("slurm", settings.job)] + settings.stages.sorted(by: { $0.key < $1.key }).map({ ("slurm.stages.\($0.key)", $0.value) }) {
            if let time = options.time, !isSlurmTime(time) {
                throw SAEPipeError.input("`\(time)` is not a Slurm time limit", key: "\(prefix).time",
                                         hint: "write minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 2:00:00)")
            }
            if let mem = options.mem, mem.range(of: #"^[0-9]+[KMGT]?$"#, options: .regularExpression) == nil {
                throw SAEPipeError.input("`\(mem)` is not a Slurm memory size", key: "\(prefix).mem", hint: "write a number with K, M, G or T, e.g. 8G")
            }
            for argument in options.extraArgs ?? [] where !argument.hasPrefix("-") {
                throw SAEPipeError.input("`\(argument)` is not an sbatch option", key: "\(prefix).extra_args",
                                         hint: "give each option as one item, e.g. [\"--qos=short\"]")
            }
        }
        return settings
    }

    /// Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED.
    static func isSlurmTime(_ text: String) -> Bool {
        if ["UNLIMITED", "INFINITE", "unlimited", "infinite"].contains(text) { return true }
        return text.range(of: #"^([0-9]+-[0-9]+(:[0-9]+){0,2}|[0-9]+(:[0-9]+){0,2})$"#, options: .regularExpression) != nil
    }
}
