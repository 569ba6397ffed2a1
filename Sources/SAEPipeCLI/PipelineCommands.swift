import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeLinalg
import SAEPipeEngine

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the experiment's stages, reusing every cached output.",
        discussion: """
            Outputs go to <paths.outputs>/<run_name>/ (run_name defaults to the config file's name): \
            results.json, tables/, figures/, features/, manifest.json. If that directory holds the run of \
            a different config (a --set override, an edited file), this run goes to <run_name>-<hash>/ \
            instead and says so; `saepipe runs` lists both. Stage ids: \(Completions.stageList).

            Examples:
              saepipe run configs/default.yaml
              saepipe run configs/default.yaml --set train.l1_coefficient=5 --set train.tokens=500000
              saepipe run configs/default.yaml --until train --dry-run
              saepipe run configs/default.yaml --force interpret
              saepipe run configs/default.yaml --executor slurm       # each stage a Slurm job
            """)

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Rerun STAGE even if cached: an id (\(Completions.stageList.components(separatedBy: ", eval")[0]), eval, viz) or a kind (collect, train, interpret); bare --force reruns all.", valueName: "stage"),
            completion: Completions.stages)
    var force: [String] = []
    @Option(help: ArgumentHelp("Run only this stage (its upstream must be cached): \(Completions.stageList).", valueName: "stage"),
            completion: Completions.stages)
    var only: String?
    @Option(help: ArgumentHelp("Run this stage and everything downstream of it (ids as for --only).", valueName: "stage"), completion: Completions.stages)
    var from: String?
    @Option(help: ArgumentHelp("Run this stage and everything it depends on, nothing after (ids as for --only).", valueName: "stage"), completion: Completions.stages)
    var until: String?
    @Flag(help: "Say which stages would run and why; run nothing.")
    var dryRun = false
    @Option(help: "Independent stages to run at once.")
    var jobs = 1
    @Option(help: "Where the stages run: local (here) or slurm (one job per stage, options from the slurm: section).")
    var executor: Executor = .local
    @Flag(help: "With slurm: submit the jobs and return; the same command without --detach follows them.")
    var detach = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if detach, executor != .slurm { throw ValidationError("--detach is for --executor slurm") }
        if executor == .slurm, !force.isEmpty { throw ValidationError("--force is not supported with --executor slurm") }
    }

    func run() throws {
        global.apply()
        let experiment = try configOptions.load()
        experiment.configureThreads(jobs: jobs)
        let selection = RunSelection(force: force, only: only, from: from, until: until)
        if !dryRun, let advice = BLAS.environmentCoreAdvice { Console.shared.line(advice) }
        let report: RunReport
        if executor == .slurm, !dryRun {
            guard let finished = try RunOnSlurm.run(experiment, selection: selection, detach: detach) else { return }
            report = finished
        } else {
            report = try experiment.runner().run(RunOptions(selection: selection, dryRun: dryRun, jobs: jobs))
        }
        if dryRun {
            print(StatusReport.render(report.plans), terminator: "")
            print(StatusReport.destination(experiment.location()))
            return
        }
        if experiment.graph.stages.isEmpty {
            Console.shared.line("warning: no stages are defined for this config")
        }
        Console.shared.line(StatusReport.timings(report), minimum: .normal)
        if let directory = report.runDirectory, let summary = RunSummary.render(runDirectory: directory) {
            print(summary, terminator: "")
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "List every stage as cached or will-run, and why.",
        discussion: """
            Examples:
              saepipe status configs/default.yaml
              saepipe status configs/default.yaml --set train.tokens=500000   # what an override would rerun
            """)

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let experiment = try configOptions.load()
        print(StatusReport.render(try experiment.runner().plan()), terminator: "")
        print(StatusReport.destination(experiment.location()))
    }
}

struct DagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dag", abstract: "Print the stage graph.",
        discussion: """
            Examples:
              saepipe dag configs/default.yaml
              saepipe dag configs/default.yaml --format mermaid
            """)

    @OptionGroup var configOptions: ConfigOptions
    @Option(help: "The graph's notation.")
    var format: DAGRenderer.Format = .text

    func run() throws {
        let experiment = try configOptions.load()
        let plans = try experiment.runner().plan()
        print(DAGRenderer.render(experiment.graph, plans: plans, format: format), terminator: "")
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check a config and print it fully resolved, with defaults.",
        discussion: """
            Checks everything that can be checked before work: every key against the schema, the model \
            file and its layer count, the datasets' files and the output directories. All problems are \
            listed together, each with file:line:col and the key.

            Examples:
              saepipe validate configs/default.yaml
              saepipe validate configs/default.yaml --docs          # each key with what it means
              saepipe validate my.yaml --set model.layer=5 --format json
            """)

    @OptionGroup var configOptions: ConfigOptions
    enum Format: String, CaseIterable, ExpressibleByArgument { case yaml, json }

    @Option(help: "The resolved config's notation.")
    var format: Format = .yaml
    @Flag(help: "Annotate each key with what it means (YAML only).")
    var docs = false

    func run() throws {
        let experiment = try configOptions.load()
        switch format {
        case .yaml:
            let notes = docs ? ExperimentSchema.schema.docs() : [:]
            print("# resolved from " + experiment.config.sourceFiles.joined(separator: " ← "))
            print(experiment.config.value.yaml(docs: notes), terminator: "")
        case .json:
            print(experiment.config.value.prettyJSON())
        }
    }
}

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List the runs under outputs/ with how each differs from the run that holds its name.",
        discussion: """
            A run's outputs go to outputs/<run_name>/ unless another config's run is there; then they go to \
            outputs/<run_name>-<hash>/ (a --set override, an edited config). This lists both kinds, with the \
            config differences of the suffixed ones.

            Examples:
              saepipe runs
              saepipe runs --outputs results/
            """)

    @Option(help: "The outputs directory (paths.outputs).")
    var outputs = "outputs"

    func run() throws {
        print(RunListing.render(outputs: outputs), terminator: "")
    }
}

struct ConfigReferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference", abstract: "Print every config key with its type, default and meaning (Markdown).",
        discussion: """
            Examples:
              saepipe config-reference
              saepipe config-reference | grep train.
            """)

    func run() throws {
        print(ExperimentSchema.schema.markdownReference(), terminator: "")
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a blog bundle for a finished run or sweep: report.md, report.html, figures, tables.",
        discussion: """
            RUN is a run name under outputs/ (as `saepipe runs` lists them, e.g. default or default-1a2b3c4d), \
            a sweep name under outputs/sweeps/, or a directory. A sweep's bundle holds its summary, figures \
            and one report per finished variant.

            Examples:
              saepipe export default --to blog/
              saepipe export lambda --to blog/lambda-sweep     # a sweep
              saepipe export outputs/default --to /tmp/bundle --force
            """)

    @Argument(help: "A run or sweep name under outputs/, or a run directory.", completion: Completions.runNames)
    var runName: String
    @Option(help: "The bundle's directory: new, empty, or an earlier bundle (replaced).")
    var to: String
    @Flag(help: "Replace --to even when it holds files saepipe did not write.")
    var force = false
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try BlogExport.export(run: runName, to: to, force: force)
        Console.shared.line("wrote \(to)/report.md and \(to)/report.html")
    }
}

/// What a Slurm job runs: one stage's cache entry, from the resolved config its submitter wrote.
struct StageJobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage-job", abstract: "Compute one stage's cache entry (what --executor slurm's jobs run).",
        discussion: """
            Refuses to run when the stage's cache key is no longer --key (a file it reads changed after \
            submission). Writes no run directory; the submitting command builds it.

            Examples:
              saepipe stage-job outputs/.slurm/default/configs/default.json --stage train.A --key 3f2a…
            """,
        shouldDisplay: false)

    @Argument(help: "The resolved config the submitter wrote.")
    var config: String
    @Option(help: "The stage id.")
    var stage: String
    @Option(help: "The cache key the submitter computed.")
    var key: String
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let status = try StageJob.run(configPath: config, stage: stage, key: key)
        Console.shared.line("\(stage): \(status == .ran ? "computed" : "already cached")")
    }
}

struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Zero chosen features in a finished run's spliced reconstruction and measure the next-token loss change on each dataset.",
        discussion: """
            Runs the ablate stage on the run's own config (cached like any stage) and writes \
            ablation.json, tables/ablation.csv|md and figures/ablation.png into the run directory: per \
            feature and dataset, the mean loss change per predicted token over held-out windows with a \
            95% interval, and the tokens it hurt most.

            Examples:
              saepipe ablate default --features A:12,40 --features B:7
              saepipe ablate default --top 10 --sequences 64
            """)

    @Argument(help: "A run name under outputs/, or a run directory.", completion: Completions.runNames)
    var runName: String
    @Option(help: "SIDE:i,j,… — features of SAE A or B to ablate (repeatable).")
    var features: [String] = []
    @Option(help: "Also the N features of each SAE that fire most often on its own dataset.")
    var top: Int?
    @Option(help: "Held-out windows per dataset.")
    var sequences: Int?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let path = try AblateRun.run(runName, overrides: try AblateRun.overrides(features: features, top: top, sequences: sequences))
        Console.shared.line("wrote \(path)")
    }
}
