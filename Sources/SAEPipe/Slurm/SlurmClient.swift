import Foundation
import SAEPipeCore

/// A job's state as Slurm reports it, folded to what saepipe acts on.
public enum SlurmJobState: Sendable, Equatable {
    /// Queued; the reason says for what (`Dependency`, `Resources`, `Priority`…).
    case pending(reason: String)
    case running
    case completed
    /// Ended without success: FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED…, as Slurm names it.
    case ended(String)

    public var isActive: Bool {
        switch self {
        case .pending, .running: return true
        case .completed, .ended: return false
        }
    }

    /// Reads squeue's or sacct's state name (`CANCELLED by 0` included).
    public init(slurmState: String, reason: String = "") {
        let state = slurmState.split(separator: " ").first.map(String.init) ?? slurmState
        switch state {
        case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD":
            // A dependency that failed can never be met: the job would wait forever.
            self = reason == "DependencyNeverSatisfied" ? .ended("DEPENDENCY_NEVER_SATISFIED") : .pending(reason: reason)
        case "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED":
            self = .running
        case "COMPLETED": self = .completed
        default: self = .ended(state)
        }
    }
}

/// Slurm's command-line tools (`sbatch`, `squeue`, `sacct`, `scancel`), found on PATH. Each
/// call is a short process; saepipe talks to no daemon itself.
public struct SlurmClient: Sendable {
    public init() {}

    /// Why Slurm cannot be used from here, or nil when `sbatch` and `squeue` are on PATH.
    public static func unavailableReason() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let missing = ["sbatch", "squeue", "scancel"].filter { tool in
            !path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
        return missing.isEmpty ? nil : "\(missing.joined(separator: ", ")) not found on PATH"
    }

    /// Submits a batch job running `command` and returns its id.
    public func submit(name: String, log: String, workingDirectory: String, dependencies: [String], options: [String],
                       command: [String]) throws -> String {
        var arguments = ["--parsable", "--job-name=\(name)", "--output=\(log)", "--chdir=\(workingDirectory)"]
        if !dependencies.isEmpty {
            // A failed upstream cancels the job instead of leaving it queued forever.
            arguments += ["--dependency=afterok:" + dependencies.joined(separator: ":"), "--kill-on-invalid-dep=yes"]
        }
        arguments += options
        arguments.append("--wrap=exec " + command.map(SlurmClient.shellQuoted).joined(separator: " "))
        let result = try run("sbatch", arguments)
        guard result.status == 0 else {
            throw SAEPipeError.runtime("sbatch refused job \(name): \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))",
                                       hint: "check the slurm: section's options (partition, account, time, mem) against `sinfo`")
        }
        // --parsable prints `id` or `id;cluster`.
        let id = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SAEPipeError.runtime("sbatch printed no job id for \(name): \(result.output)")
        }
        return id
    }

    /// The state of each job Slurm still knows: squeue first (it keeps finished jobs for a
    /// while), then sacct where accounting is enabled. Jobs neither knows are left out.
    public func states(of ids: [String]) throws -> [String: SlurmJobState] {
        guard !ids.isEmpty else { return [:] }
        var states: [String: SlurmJobState] = [:]
        for job in try queue() where ids.contains(job.id) { states[job.id] = job.state }
        let unknown = ids.filter { states[$0] == nil }
        if !unknown.isEmpty {
            let result = try run("sacct", ["--noheader", "--parsable2", "--allocations", "--jobs=" + unknown.joined(separator: ","),
                                           "--format=JobID,State"])
            if result.status == 0 {
                for line in result.output.split(separator: "\n") {
                    let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    guard fields.count >= 2, unknown.contains(fields[0]) else { continue }
                    states[fields[0]] = SlurmJobState(slurmState: fields[1])
                }
            }
        }
        return states
    }

    /// This user's jobs that Slurm lists (pending, running and recently ended).
    public func queue() throws -> [(id: String, name: String, state: SlurmJobState)] {
        let result = try run("squeue", ["--noheader", "--me", "--states=all", "--format=%i|%j|%T|%r"])
        guard result.status == 0 else {
            throw SAEPipeError.runtime("squeue failed: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))",
                                       hint: "is the Slurm controller reachable from here? (`sinfo` says)")
        }
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 4 else { return nil }
            return (fields[0].trimmingCharacters(in: .whitespaces), fields[1], SlurmJobState(slurmState: fields[2], reason: fields[3]))
        }
    }

    public func cancel(_ ids: [String]) throws {
        guard !ids.isEmpty else { return }
        let result = try run("scancel", ids)
        guard result.status == 0 else {
            throw SAEPipeError.runtime("scancel failed: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// `'text'` for a POSIX shell.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    func run(_ tool: String, _ arguments: [String]) throws -> Subprocess.Result {
        let result: Subprocess.Result
        do { result = try Subprocess.run(tool, arguments) } catch {
            throw SAEPipeError.runtime("cannot start \(tool): \(error.localizedDescription)", hint: "is Slurm installed on this machine?")
        }
        if result.status == 127 {
            throw SAEPipeError.runtime("\(tool) not found on PATH", hint: "run where Slurm's client tools are installed")
        }
        return result
    }
}
