import SAEPipeCore
import SAEPipeEngine

/// The product's stages. Each capability (collect, train, interpret, eval, viz)
/// registers its config section and its stage specs here when it lands.
public enum PipelineStages {
    public static let configFields: [ConfigField] = CollectStage.configFields + TrainStage.configFields + InterpretStage.configFields + EvalStage.configFields
        + VizStage.configFields

    public static func stages(for config: ResolvedConfig) throws -> [StageSpec] {
        let artifacts = config[path: "paths.artifacts"].stringValue ?? "artifacts"
        var stages: [StageSpec] = []
        for side in ["A", "B"] {
            stages.append(try CollectStage.stage(side: side, config: config, artifacts: artifacts))
            stages.append(TrainStage.stage(side: side, config: config, artifacts: artifacts))
        }
        for side in ["A", "B"] { stages.append(InterpretStage.stage(side: side, config: config, artifacts: artifacts)) }
        stages.append(EvalStage.stage(config: config, artifacts: artifacts))
        stages.append(VizStage.stage(config: config))
        return stages
    }
}
