import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeEngine

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the experiment's stages, reusing every cached output.")

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Rerun STAGE (an id like train.A or a kind like train) even if cached; bare --force reruns all.", valueName: "stage"))
    var force: [String] = []
    @Option(help: "Run only this stage (its upstream must be cached).")
    var only: String?
    @Option(help: "Run this stage and everything downstream of it.")
    var from: String?
    @Option(help: "Run this stage and everything it depends on, nothing after.")
    var until: String?
    @Flag(help: "Say which stages would run and why; run nothing.")
    var dryRun = false
    @Option(help: "Independent stages to run at once.")
    var jobs = 1

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        global.apply()
        let experiment = try configOptions.load()
        experiment.configureThreads(jobs: jobs)
        let selection = RunSelection(force: force, only: only, from: from, until: until)
        let report = try experiment.runner().run(RunOptions(selection: selection, dryRun: dryRun, jobs: jobs))
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
        commandName: "status", abstract: "List every stage as cached or will-run, and why.")

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
    static let configuration = CommandConfiguration(commandName: "dag", abstract: "Print the stage graph.")

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
        commandName: "validate", abstract: "Check a config and print it fully resolved, with defaults.")

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
        commandName: "config-reference", abstract: "Print every config key with its type, default and meaning (Markdown).")

    func run() throws {
        print(ExperimentSchema.schema.markdownReference(), terminator: "")
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a blog bundle for a finished run: report.md, report.html, figures, tables.")

    @Argument(help: "A run name under outputs/ or a run directory.")
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
