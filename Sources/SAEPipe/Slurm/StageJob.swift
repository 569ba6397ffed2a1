import Foundation
import SAEPipeCore
import SAEPipeEngine

/// What one Slurm job does (`saepipe stage-job`): computes one stage's cache entry from the
/// resolved config the submitter wrote, and nothing else; the submitter builds run directories.
public enum StageJob {
    /// Returns whether the stage ran or was already cached (another job finished it first).
    @discardableResult
    public static func run(configPath: String, stage: String, key expectedKey: String) throws -> StageStatus {
        let experiment = try Experiment.load(configPath: configPath)
        experiment.configureThreads(jobs: 1)
        let runner = experiment.runner()
        let selection = RunSelection(only: stage)
        let plans = try runner.plan(selection)
        guard let plan = plans.first(where: { $0.stage.id.rawValue == stage }) else {
            throw SAEPipeError.input("the config has no stage `\(stage)`", file: configPath)
        }
        guard plan.key == expectedKey else {
            throw SAEPipeError.input(
                "stage \(stage) would now compute entry \(plan.key.prefix(12)), not the submitted \(expectedKey.prefix(12)): a file it reads changed after submission",
                file: configPath, hint: "rerun the submitting command; it submits what the files hold now")
        }
        let report = try runner.run(RunOptions(selection: selection, assemble: false))
        return report.outcomes.first { $0.id == plan.stage.id }?.status ?? .cached
    }
}
