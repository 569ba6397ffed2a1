import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run one experiment per combination of config values; shared stages run once.",
        discussion: """
            Variants run under <paths.outputs>/sweeps/<name>/<variant>/ and the summary (summary.csv, \
            summary.md, figures/) is written beside them. Rerunning skips finished variants. Values are \
            typed as in YAML: --grid train.l1_coefficient=1,3,10 --grid sae.expansion=4,8; \
            --grid model.layer=0..5 or =all for every layer. Random search: --random 8 \
            --log-range train.l1_coefficient=0.5,20 --range train.lr=1e-4,1e-3 --choice sae.expansion=4,8. \
            A sweep of a different config with the same name goes to sweeps/<name>-<hash>/ instead of \
            replacing it. Export a finished sweep with `saepipe export NAME --to DIR`. With --executor slurm \
            every stage to compute is a Slurm job (the cache must be on a filesystem all nodes share); the \
            slurm: config section holds the job options.

            Examples:
              saepipe sweep configs/sweep-quickstart.yaml
              saepipe sweep configs/default.yaml --grid train.l1_coefficient=1,3,10 --until eval
              saepipe sweep configs/default.yaml --random 6 --log-range train.l1_coefficient=0.5,20 --jobs 2
              saepipe sweep configs/sweep-quickstart.yaml --executor slurm --detach   # one Slurm job per stage
              saepipe sweep configs/sweep-quickstart.yaml --executor slurm --status   # follow them again
            """)

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("A key and the values it takes; every combination of the grids is a variant.", valueName: "key.path=v1,v2,…"),
            completion: Completions.setKeys)
    var grid: [String] = []
    @Option(help: "Random draws (each combined with every grid point).")
    var random: Int?
    @Option(help: ArgumentHelp("A key drawn uniformly from [low, high].", valueName: "key.path=low,high"))
    var range: [String] = []
    @Option(name: .customLong("log-range"), help: ArgumentHelp("A key drawn log-uniformly from [low, high].", valueName: "key.path=low,high"))
    var logRange: [String] = []
    @Option(help: ArgumentHelp("A key drawn from a list of values.", valueName: "key.path=v1,v2,…"))
    var choice: [String] = []
    @Option(help: "Seed of the random draws (default: sweep.random.seed, then the config's seed).")
    var seed: Int?
    @Option(help: "The sweep's directory name (default: sweep.name, then the config file's name).")
    var name: String?
    @Option(help: ArgumentHelp("Run each variant up to this stage: \(Completions.stageList).", valueName: "stage"), completion: Completions.stages)
    var until: String?
    @Option(help: "Variants to run at once.")
    var jobs = 1
    @Flag(help: "List the variants and what each would run; run nothing.")
    var dryRun = false
    @Option(help: "Where the stages run: local (here) or slurm (one job per stage; default: sweep.executor).")
    var executor: Executor?
    @Flag(help: "With slurm: submit the jobs and return; --status follows them later.")
    var detach = false
    @Flag(help: "With slurm: submit nothing; show the sweep's jobs and wait for them (with --detach: show once).")
    var status = false
    @Flag(help: "With slurm: cancel the sweep's pending and running jobs.")
    var cancel = false

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if let random, random < 1 { throw ValidationError("--random must be at least 1") }
        if status && cancel { throw ValidationError("--status and --cancel exclude each other") }
        if executor == .local, detach || status || cancel {
            throw ValidationError("--detach, --status and --cancel are for --executor slurm")
        }
    }

    func run() throws {
        global.apply()
        let arguments = SweepArguments(grid: grid, random: random, ranges: range, logRanges: logRange, choices: choice,
                                       seed: seed, name: name, until: until, executor: executor)
        let definition = try SweepDefinition.load(configPath: configOptions.config, overrides: configOptions.overrides,
                                                  arguments: arguments)
        let runner = SweepRunner(definition, jobs: jobs)
        if definition.executor == .local, detach || status || cancel {
            throw ValidationError("--detach, --status and --cancel are for --executor slurm (or sweep.executor: slurm)")
        }
        if let note = definition.note { Console.shared.line("note: \(note)") }
        if dryRun {
            let rows = try runner.plan().map { plan in
                [plan.variant.name, plan.finished ? "finished" : plan.toRun.isEmpty ? "will assemble" : "will run " + plan.toRun.map(\.rawValue).joined(separator: ", ")]
            }
            print("sweep \(definition.name) → \(definition.directory)/")
            print(TextTable.render(header: ["variant", "status"], rows: rows), terminator: "")
            return
        }
        let outcomes: [SweepRunner.Outcome]
        if definition.executor == .slurm {
            let action: SlurmAction = cancel ? .cancel : status ? .status(detach: detach) : .submit(detach: detach)
            guard let finished = try runner.runOnSlurm(action) else { return }
            outcomes = finished
        } else {
            outcomes = try runner.run()
        }
        if let summary = runner.summary { print(SweepSummary.terminalTable(summary), terminator: "") }
        Console.shared.line("summary: \(definition.directory)/summary.md, figures in \(definition.directory)/figures/")
        if outcomes.contains(where: { $0.status == .failed }) {
            throw SAEPipeError.runtime("some variants failed; see \(definition.directory)/summary.md",
                                       hint: "fix the cause and rerun the same command: finished variants are skipped")
        }
    }
}
