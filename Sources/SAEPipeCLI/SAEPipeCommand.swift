import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine

struct SAEPipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saepipe",
        abstract: "Run sparse-autoencoder experiments on a CPU: collect, train, interpret, eval, report.",
        discussion: """
            Examples:
              saepipe run configs/default.yaml              # the quickstart: outputs/default/
              saepipe validate configs/default.yaml --set model.layer=5
              saepipe export default --to blog/

            Shell completion: saepipe --generate-completion-script bash > /etc/bash_completion.d/saepipe
            (or zsh, fish); it completes config files, stage ids and --set keys.
            """,
        version: SAEPipeVersion.current,
        subcommands: [
            RunCommand.self, RunsCommand.self, StatusCommand.self, DagCommand.self, ValidateCommand.self, ConfigReferenceCommand.self,
            TokenizeCommand.self, ForwardCommand.self, ModelCommand.self, BenchCommand.self, SAEMetricsCommand.self, SweepCommand.self, ExportCommand.self, ServeCommand.self, AblateCommand.self, StageJobCommand.self,
        ])
}

struct GlobalOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "Only print warnings and errors.")
    var quiet = false
    @Flag(name: [.short, .long], help: "Print debug detail.")
    var verbose = false

    func apply() {
        Console.shared.verbosity = quiet ? .quiet : verbose ? .verbose : .normal
    }
}

struct ConfigOptions: ParsableArguments {
    @Argument(help: "Experiment config (.yaml, .yml or .json).", completion: Completions.configFiles)
    var config: String
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, typed by the schema (repeatable); `saepipe config-reference` lists the keys.", valueName: "key.path=value"),
            completion: Completions.setKeys)
    var overrides: [String] = []

    func load() throws -> Experiment {
        try Experiment.load(configPath: config, overrides: overrides)
    }
}

enum CLIArguments {
    /// `--force` takes an optional stage: a bare `--force` (at the end, before another
    /// option, or before the config path) means every stage.
    static func normalize(_ arguments: [String]) -> [String] {
        // Only `run` takes a stage after --force; export's --force is a plain flag.
        guard let command = arguments.first(where: { !$0.hasPrefix("-") }), command == "run" else {
            return arguments
        }
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--force" {
                let next = index + 1 < arguments.count ? arguments[index + 1] : nil
                if let next, !next.hasPrefix("-"), !looksLikePath(next) {
                    result.append("--force=\(next)")
                    index += 2
                    continue
                }
                result.append("--force=all")
            } else {
                result.append(argument)
            }
            index += 1
        }
        return result
    }

    private static func looksLikePath(_ text: String) -> Bool {
        text.contains("/") || [".yaml", ".yml", ".json"].contains { text.hasSuffix($0) }
    }
}

extension DAGRenderer.Format: ExpressibleByArgument {}
