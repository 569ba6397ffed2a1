import SAEPipeCore

/// The config schema of a saepipe experiment: the project keys here, each stage's section
/// beside its settings. README's config reference is generated from it (`saepipe config-reference`).
public enum ExperimentSchema {
    public static let core: [ConfigField] = [
        ConfigField("run_name", .fileName, doc: "name of the run directory under paths.outputs; defaults to the config file's name"),
        ConfigField.seed,
        ConfigField(
            "paths",
            .section(ConfigSection([
                ConfigField("artifacts", .string, default: .string("artifacts"), doc: "caches: stage outputs, downloaded models and data"),
                ConfigField("outputs", .string, default: .string("outputs"), doc: "run directories with the human-facing results"),
            ])),
            doc: "where things are written, relative to the directory saepipe runs in"),
        ConfigField(
            "runtime",
            .section(ConfigSection([
                ConfigField("blas_threads", .int(0...1024), default: .int(0), doc: "OpenBLAS threads per stage; 0 uses every core, split between --jobs"),
            ])),
            doc: "execution settings, not part of any cache key or of the run's identity (the BLAS thread count can change the last bits of floating-point results)"),
    ]

    public static var schema: ConfigSchema { ConfigSchema(ConfigSection(core + PipelineStages.configFields + SweepDefinition.configFields + SlurmSettings.configFields)) }
}
