import SAEPipeCore
import SAEPipeEngine

/// The product's stages and their config sections.
public enum PipelineStages {
    public static let configFields: [ConfigField] = CollectStage.configFields + TrainStage.configFields + InterpretStage.configFields
        + EvalStage.configFields + VizStage.configFields + AblateStage.configFields + MultiLayerStage.configFields

    /// Every stage id a config can have, then the stage kinds (what --only, --from, --until
    /// and --force accept).
    public static let stageNames: [String] = Side.allCases.flatMap { ["collect.\($0)", "train.\($0)", "interpret.\($0)"] }
        + ["eval", "viz", "ablate", "mlsae", "collect", "train", "interpret"]

    /// collect and train per dataset, interpret per SAE, then eval and viz. Every problem the
    /// stages' settings and `Preflight` find is reported at once.
    public static func stages(for config: ResolvedConfig) throws -> [StageSpec] {
        let artifacts = try ProjectSettings.read(config.value).paths.artifacts
        let sides = Side.present(in: config.value)
        var problems = Preflight.problems(in: config)
        var stages: [StageSpec] = []
        func add(_ build: () throws -> StageSpec) {
            do { stages.append(try build()) } catch let error as SAEPipeError { problems += error.all } catch {
                problems.append(SAEPipeError.fromSystem(error))
            }
        }
        for side in sides {
            add { try CollectStage.stage(side: side, config: config, artifacts: artifacts) }
            add { try TrainStage.stage(side: side, config: config, artifacts: artifacts) }
        }
        for side in sides { add { try InterpretStage.stage(side: side, config: config, artifacts: artifacts) } }
        add { try EvalStage.stage(config: config, artifacts: artifacts) }
        add { try VizStage.stage(config: config) }
        if AblateStage.requested(config.value) { add { try AblateStage.stage(config: config, artifacts: artifacts) } }
        if MultiLayerStage.requested(config.value) { add { try MultiLayerStage.stage(config: config, artifacts: artifacts) } }
        if !problems.isEmpty { throw SAEPipeError.combining(problems) }
        return stages
    }
}
