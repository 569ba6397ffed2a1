import SAEPipeCore
import SAEPipeEngine

/// The product's stages. Each capability (collect, train, interpret, eval, viz)
/// registers its config section and its stage specs here when it lands.
public enum PipelineStages {
    public static let configFields: [ConfigField] = CollectStage.configFields

    public static func stages(for config: ResolvedConfig) throws -> [StageSpec] {
        let artifacts = config[path: "paths.artifacts"].stringValue ?? "artifacts"
        return try ["A", "B"].map { try CollectStage.stage(side: $0, config: config, artifacts: artifacts) }
    }
}
