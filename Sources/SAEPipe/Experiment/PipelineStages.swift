import SAEPipeCore
import SAEPipeEngine

/// The product's stages and their config sections.
public enum PipelineStages {
    public static let configFields: [ConfigField] = CollectStage.configFields + TrainStage.configFields + InterpretStage.configFields
        + EvalStage.configFields + VizStage.configFields

    /// collect and train per dataset, interpret per SAE, then eval and viz.
    public static func stages(for config: ResolvedConfig) throws -> [StageSpec] {
        let artifacts = try ProjectSettings.read(config.value).paths.artifacts
        var stages: [StageSpec] = []
        for side in Side.allCases {
            stages.append(try CollectStage.stage(side: side, config: config, artifacts: artifacts))
            stages.append(try TrainStage.stage(side: side, config: config, artifacts: artifacts))
        }
        for side in Side.allCases { stages.append(try InterpretStage.stage(side: side, config: config, artifacts: artifacts)) }
        stages.append(try EvalStage.stage(config: config, artifacts: artifacts))
        stages.append(try VizStage.stage(config: config))
        return stages
    }
}
