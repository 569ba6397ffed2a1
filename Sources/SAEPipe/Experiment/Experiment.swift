import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipeLinalg

/// A loaded config wired to its stage graph and runner: what every CLI command starts from.
public struct Experiment: Sendable {
    public let config: ResolvedConfig
    public let graph: StageGraph
    public let paths: ProjectPaths

    public let settings: ProjectSettings
    public var runName: String { settings.runName }

    /// Loads with the product schema and stages.
    public static func load(configPath: String, overrides: [String] = []) throws -> Experiment {
        try load(configPath: configPath, overrides: overrides, schema: ExperimentSchema.schema,
                 stages: PipelineStages.stages(for:))
    }

    /// Loads with a given schema and stage builder (tests use their own).
    public static func load(
        configPath: String, overrides: [String], schema: ConfigSchema,
        stages: (ResolvedConfig) throws -> [StageSpec]
    ) throws -> Experiment {
        try make(config: try ConfigLoader(schema: schema).load(path: configPath, overrides: overrides), stages: stages)
    }

    /// Wires an already resolved config to its stages (sweep variants are built this way).
    public static func make(config: ResolvedConfig, stages: (ResolvedConfig) throws -> [StageSpec]) throws -> Experiment {
        do {
            let settings = try ProjectSettings.read(config.value)
            let paths = ProjectPaths(artifacts: settings.paths.artifacts, outputs: settings.paths.outputs)
            return Experiment(config: config, graph: try StageGraph(try stages(config)), paths: paths, settings: settings)
        } catch let error as SAEPipeError {
            // Errors that name a key point at the line that wrote it.
            throw config.placing(error)
        }
    }

    /// Where this config's outputs go: `outputs/<run_name>/`, or a hash-suffixed sibling when
    /// another config's run holds that name.
    public func location() -> RunLocation { RunLocation.choose(paths: paths, runName: runName, config: config.value, defaults: config.defaults) }

    public func runner() -> PipelineRunner {
        PipelineRunner(graph: graph, config: config, runName: runName, paths: paths)
    }

    /// Gives each concurrently running stage its share of the cores: the machine's, or in a
    /// Slurm job the CPUs allotted to it (`SLURM_CPUS_PER_TASK`).
    public func configureThreads(jobs: Int) {
        let requested = settings.runtime.blasThreads
        let allotted = ProcessInfo.processInfo.environment["SLURM_CPUS_PER_TASK"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
        let cores = allotted ?? ProcessInfo.processInfo.activeProcessorCount
        BLAS.threads = requested > 0 ? requested : max(1, cores / max(1, jobs))
    }
}
