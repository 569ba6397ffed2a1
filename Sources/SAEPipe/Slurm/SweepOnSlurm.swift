import Foundation
import SAEPipeCore
import SAEPipeEngine

/// What `--executor slurm` does with the jobs: submit them (and wait, or detach), follow
/// jobs submitted earlier, or cancel them.
public enum SlurmAction: Sendable, Equatable {
    case submit(detach: Bool)
    /// `--status`: submit nothing; show the jobs, and wait for them unless `detach`.
    case status(detach: Bool)
    case cancel
}

extension SweepRunner {
    /// The sweep's jobs live in `<sweep>/slurm/`: jobs.json, the variants' resolved configs, logs.
    public func slurmExecutor(client: SlurmClient = SlurmClient(), binary: String? = nil) throws -> SlurmExecutor {
        let settings: SlurmSettings
        do { settings = try SlurmSettings.read(definition.base.value) } catch let error as SAEPipeError { throw definition.base.placing(error) }
        try FileSystem.createDirectory(definition.directory)
        return try SlurmExecutor(
            units: definition.variants.map { SlurmExecutor.Unit(name: $0.name, experiment: $0.experiment, selection: selection) },
            directory: "\(definition.directory)/slurm", settings: settings, client: client, binary: binary)
    }

    /// Runs the sweep's stages as Slurm jobs. Returns nil when it detached (or cancelled)
    /// before the jobs ended; otherwise every variant's outcome, with the summary written.
    public func runOnSlurm(_ action: SlurmAction, client: SlurmClient = SlurmClient(), binary: String? = nil) throws -> [Outcome]? {
        let executor = try slurmExecutor(client: client, binary: binary)
        let console = Console.shared
        let started = Date()
        var shown: [SlurmExecutor.Row] = []
        switch action {
        case .cancel:
            let ids = try executor.cancel()
            console.line(ids.isEmpty ? "sweep \(definition.name): no pending or running jobs to cancel"
                                     : "sweep \(definition.name): cancelled jobs \(ids.joined(separator: " "))")
            return nil
        case .submit(let detach):
            let before = try SlurmJobsFile.read(directory: executor.directory)
            shown = try executor.submit()
            let after = try SlurmJobsFile.read(directory: executor.directory)
            let submitted = after.jobs.filter { job in before.job(forEntry: job.entry)?.id != job.id && !job.log.isEmpty }.count
            console.line("sweep \(definition.name): \(definition.variants.count) variants, \(executor.needs.count) stage entries to compute "
                         + "(\(submitted) jobs submitted now) — \(definition.directory)/")
            if !shown.isEmpty { print(executor.table(shown), terminator: "") }
            if detach {
                console.line("detached: the jobs run on; `saepipe sweep … --status` follows them, `--cancel` cancels them")
                return nil
            }
        case .status(let detach):
            guard !(try SlurmJobsFile.read(directory: executor.directory)).jobs.isEmpty else {
                console.line("sweep \(definition.name): no Slurm jobs were submitted for it yet; run the same command without --status to submit them")
                return nil
            }
            shown = try executor.status()
            print(executor.table(shown), terminator: "")
            if detach { return nil }
        }
        Interruption.shared.addNote("the Slurm jobs keep running; `saepipe sweep … --status` follows them again, `--cancel` cancels them")
        let rows = try executor.wait(after: shown) { console.line(executor.line($0)) }
        for (index, variant) in definition.variants.enumerated() {
            let problem = executor.problem(of: variant.name, in: rows)
            if let problem {
                update(index) {
                    $0.status = .failed
                    $0.error = problem
                }
                continue
            }
            // Every entry is cached now: this assembles the run directory and computes nothing.
            let runner = variant.experiment.runner()
            let plans = try runner.plan(selection)
            if let missing = plans.first(where: { $0.action == .run }) {
                update(index) {
                    $0.status = .failed
                    $0.error = "\(missing.stage.id) is not cached after its job"
                }
                continue
            }
            _ = try runner.run(RunOptions(selection: selection))
            let mine = rows.filter { $0.need.units.contains(variant.name) }
            // The variant's compute time: what its jobs' stages took (queueing left out).
            let cache = CacheStore(root: variant.experiment.paths.cache)
            let seconds = mine.compactMap { cache.readManifest(kind: $0.need.kind, key: $0.need.key)?.seconds }.reduce(0, +)
            update(index) {
                $0.status = mine.isEmpty ? .done : .finished
                $0.ranStages = mine.map(\.need.stageId)
                $0.seconds = seconds
            }
        }
        try saveState()
        summary = try SweepSummary.write(definition, outcomes: snapshot())
        let failed = snapshot().filter { $0.status == .failed }
        console.line("sweep \(definition.name): \(definition.variants.count - failed.count) of \(definition.variants.count) variants complete"
                     + (failed.isEmpty ? "" : ", \(failed.count) failed") + " in \(Progress.duration(Date().timeIntervalSince(started)))")
        for outcome in failed { console.line("  \(outcome.variant): \(outcome.error ?? "failed")") }
        return snapshot()
    }
}

/// `saepipe run --executor slurm`: one experiment's stages as Slurm jobs, their state in
/// `<outputs>/.slurm/<run>/`.
public enum RunOnSlurm {
    public static func executor(_ experiment: Experiment, selection: RunSelection, client: SlurmClient = SlurmClient(),
                                binary: String? = nil) throws -> SlurmExecutor {
        let settings: SlurmSettings
        do { settings = try SlurmSettings.read(experiment.config.value) } catch let error as SAEPipeError { throw experiment.config.placing(error) }
        return try SlurmExecutor(
            units: [SlurmExecutor.Unit(name: experiment.location().name, experiment: experiment, selection: selection)],
            directory: "\(experiment.paths.outputs)/.slurm/\(experiment.location().name)", settings: settings, client: client, binary: binary)
    }

    /// Submits (or follows) the jobs and, once they all finished, assembles the run directory.
    /// Returns nil when it detached.
    public static func run(_ experiment: Experiment, selection: RunSelection, detach: Bool, client: SlurmClient = SlurmClient(),
                           binary: String? = nil) throws -> RunReport? {
        let started = Date()
        let executor = try executor(experiment, selection: selection, client: client, binary: binary)
        let rows = try executor.submit()
        let console = Console.shared
        console.line("slurm: \(executor.needs.count) stage entries to compute; jobs in \(executor.directory)/")
        if !rows.isEmpty { print(executor.table(rows), terminator: "") }
        if detach {
            console.line("detached: the jobs run on; rerun the same command (without --detach) to follow them and build the run directory")
            return nil
        }
        Interruption.shared.addNote("the Slurm jobs keep running; rerun the same command to follow them")
        let final = try executor.wait(after: rows) { console.line(executor.line($0)) }
        if let problem = executor.problem(of: executor.units[0].name, in: final) {
            throw SAEPipeError.runtime("a Slurm job did not finish: \(problem)",
                                       hint: "fix the cause and rerun the same command: finished stages stay cached, failed ones are resubmitted")
        }
        var report = try experiment.runner().run(RunOptions(selection: selection))
        // The jobs computed these stages: say so, with the time each took (from its entry's manifest).
        let cache = CacheStore(root: experiment.paths.cache)
        for row in final where row.job != nil {
            guard let index = report.outcomes.firstIndex(where: { $0.id == row.need.stageId }) else { continue }
            report.outcomes[index].status = .ran
            report.outcomes[index].seconds = cache.readManifest(kind: row.need.kind, key: row.need.key)?.seconds ?? 0
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
