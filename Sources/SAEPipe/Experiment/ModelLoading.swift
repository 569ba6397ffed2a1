import SAEPipeHub
import SAEPipeModels

extension ModelSource {
    /// Resolves a model name (directory, .gguf or Hub id) and loads it in one step.
    public static func load(_ spec: String, artifacts: String, scope: LoadScope = .everything) throws -> LanguageModel {
        try LanguageModel.load(resolve(spec, artifacts: artifacts), scope: scope)
    }
}
