import ArgumentParser
import Foundation
import SAEPipeCore
import SAEPipeHub
import SAEPipeLinalg
import SAEPipeModels
import SAEPipe
import SAEPipeSAE

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure throughput on this machine.",
        discussion: """
            Examples:
              saepipe bench blas --size 1024
              saepipe bench forward --model artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf --layer 3
              saepipe bench train --d 576 --f 4608
              saepipe bench match --a outputs/default/…/train/A --b …/train/B
              saepipe bench quality --acts artifacts/cache/collect/<key> --tokens 1000000 --json quality.json
            """,
        subcommands: [BenchBLAS.self, BenchForward.self, BenchTrain.self, BenchMatch.self, BenchQuality.self])
}

/// `--threads`, shared by the benchmarks.
struct BenchThreads: ParsableArguments {
    @Option(help: "OpenBLAS threads (0: every core).")
    var threads = 0

    func apply() {
        BLAS.threads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
    }
}

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas", abstract: "sgemm GFLOP/s for an n×n×n product, and the OpenBLAS kernels in use.")

    @Option(help: "Matrix size n.")
    var size = 2048
    @Option(help: "Timed repetitions after one warm-up; the best is reported.")
    var repeats = 10
    @OptionGroup var threads: BenchThreads

    func run() throws {
        threads.apply()
        let result = BLASBenchmark.sgemm(size: size, repeats: repeats)
        let env = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
        let how = BLAS.reexecutedForCore ? "set by saepipe (re-exec)" : env != nil ? "set in the environment" : "detected by OpenBLAS"
        print("openblas core:  \(result.coreName) (\(how); CPU supports \(BLAS.preferredCore ?? "no AVX2/AVX-512 family"))")
        print("threads:        \(result.threads)")
        print(String(format: "sgemm %d³:     %.1f GFLOP/s (best of %d, %.3f s)", size, result.gflops, repeats, result.bestSeconds))
    }
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward-pass tokens/s: to a layer's MLP output (as collect runs) or the full model with logits and NLL.")

    @Option(help: "A model directory, .gguf or Hub id; or a random-weight shape: \(RandomModel.Shape.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: String
    @Option(help: "Stop at this layer's mlp_out (omit for the full forward with logits).")
    var untilLayer: Int?
    @Option(help: "Sequences per pass.")
    var batch = 16
    @Option(help: "Tokens per sequence.")
    var seq = 128
    @Option(help: "Timed passes after one warm-up.")
    var repeats = 5
    @OptionGroup var threads: BenchThreads

    func run() throws {
        threads.apply()
        var path = model
        var scratch: String?
        if let shape = RandomModel.Shape(rawValue: model), !FileSystem.exists(model) {
            scratch = NSTemporaryDirectory() + "saepipe-bench-\(getpid())"
            try RandomModel.write(shape, to: scratch!)
            path = scratch!
        }
        defer { if let scratch { FileSystem.remove(scratch) } }
        let scope = untilLayer.map { LoadScope.through(HookPoint(layer: $0, site: .mlpOut)) } ?? .everything
        let loaded = try ModelSource.load(path, artifacts: "artifacts", scope: scope)
        let result = try ForwardBenchmark.run(loaded, batch: batch, seqLen: seq, untilLayer: untilLayer, repeats: repeats)
        let d = loaded.dimensions
        print("model:      \(model) (\(d.architecture), \(d.layerCount) layers, d_model \(d.dModel), \(loaded.weightTypes.first?.type ?? "?") weights)")
        print("pass:       " + (untilLayer.map { "layers 0…\($0), stop at layers.\($0).mlp_out" } ?? "all layers + logits + token NLL"))
        print("batch:      \(batch) × \(seq) tokens, \(BLAS.threads) threads, openblas \(BLAS.coreName)")
        print(String(format: "tokens/s:   %.0f best, %.0f median of %d (pass %.3f s best)", result.tokensPerSecond,
                     result.medianTokensPerSecond, repeats, result.seconds.min() ?? 0))
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "SAE training tokens/s (ReLU + L1) on synthetic activations, and the feature density it ran at.")

    @Option(help: "Activation width d.")
    var d = 512
    @Option(help: "Features F.")
    var f = 4096
    @Option(help: "Rows per step.")
    var batch = 4096
    @Option(help: "Timed steps.")
    var steps = 20
    @Option(help: "Untimed steps first (the density falls as training proceeds).")
    var warmup = 30
    @Option(help: "L1 coefficient λ.")
    var l1 = 5.0
    @Option(help: "auto (sparse below 8% density), dense or sparse.")
    var compute = "auto"
    @OptionGroup var threads: BenchThreads

    func validate() throws {
        guard ["auto", "dense", "sparse"].contains(compute) else { throw ValidationError("--compute is auto, dense or sparse") }
    }

    func run() throws {
        threads.apply()
        var settings = TrainSettings.defaults
        settings.l1Coefficient = Float(l1)
        settings.lrWarmupSteps = 0
        settings.l1WarmupFraction = 0
        settings.compute = compute == "dense" ? .dense : compute == "sparse" ? .sparse : .standard
        let result = try TrainBenchmark.run(d: d, features: f, batch: batch, steps: steps, warmupSteps: warmup, settings: settings,
                                            console: Console.shared)
        print("sae:        d \(d) → F \(f), ReLU + L1 (λ \(l1)), unit-norm decoder, Adam, compute \(compute)")
        print("batch:      \(batch) rows, \(BLAS.threads) threads, openblas \(BLAS.coreName)")
        print(String(format: "density:    L0 %.1f of %d (%.2f%%) over the timed steps", result.l0, f, 100 * result.density))
        print(String(format: "tokens/s:   %.0f (%d timed steps after %d warm-up steps)", result.tokensPerSecond, result.timedSteps, warmup))
    }
}

struct BenchMatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Time the A↔B feature matching (decoder cosines, best matches, one-to-one assignment) of two SAE checkpoints.")

    @Option(help: "A SAELens-format checkpoint directory (cfg.json + sae_weights.safetensors), e.g. a train cache entry.")
    var a: String
    @Option(help: "The other checkpoint directory.")
    var b: String
    @OptionGroup var threads: BenchThreads

    func run() throws {
        threads.apply()
        let (first, _) = try SAECheckpoint.readSAELens(a)
        let (second, _) = try SAECheckpoint.readSAELens(b)
        let started = Date()
        let matching = try FeatureMatching(first, second)
        let seconds = Date().timeIntervalSince(started)
        print("features:      \(first.features) × \(second.features), d \(first.d)")
        print(String(format: "MMCS:          A→B %.4f, B→A %.4f", matching.mmcsForward, matching.mmcsBackward))
        print(String(format: "matched ≥ 0.7: %.1f%% of %d pairs", 100 * matching.sharedFraction(threshold: 0.7), matching.pairs.count))
        print(String(format: "same index:    %.1f%% of the pairs", 100 * matching.sameIndexFraction))
        print(String(format: "time:          %.2f s", seconds))
    }
}

struct BenchQuality: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Train SAE recipes at several sparsity levels on one activation set and print the held-out L0–FVE frontier.",
        discussion: """
            Every run uses the train stage's defaults (configs' schema), or --config's sae and train
            sections, with --set overrides and the train stage's held-out windows, except what the
            recipe options set (activation, level, --lr, --batch, --features, --tokens, --seed, --seeds). Recipes: \(QualityBenchmark.Recipe.allCases.map(\.rawValue).joined(separator: ", ")).
            relu runs at each --l1 λ, jumprelu at each --l0 λ, the others at each --k.
            Against other tools: --split-out writes the held-out rows for scripts/bench-anchors.py,
            whose runs --compare adds to the table and figure with the margin at each of their L0s;
            --runs reuses an earlier --json instead of training again.
            """)

    @Option(help: "An activation set: a directory with acts.mmap and meta.json (a collect cache entry).")
    var acts: String
    @Option(help: "Training tokens per SAE.")
    var tokens = 1_000_000
    @Option(help: "Comma-separated recipes.")
    var recipes = "relu,topk,batchtopk"
    @Option(help: "Comma-separated k values (topk, topk-noaux, batchtopk).")
    var k = "16,32,64,128"
    @Option(help: "Comma-separated λ values (relu).")
    var l1 = "1.5,3,6,12"
    @Option(help: "Comma-separated L0 coefficients λ (jumprelu).")
    var l0 = "0.3,1,3"
    @Option(help: "Comma-separated learning rates (default: train.lr of the base settings).")
    var lr: String?
    @Option(help: "Features (default: sae.expansion × d).")
    var features: Int?
    @Option(help: "Rows per step (default: train.batch_size's default).")
    var batch: Int?
    @Option(help: "Seed of the split, the initialization and the batches.")
    var seed: UInt64 = 0
    @Option(help: "Comma-separated training seeds: every configuration trains once per seed on the split of --seed, and the tables give mean FVE ± its standard error.")
    var seeds: String?
    @Option(help: "A config whose sae and train sections are every run's base settings (default: the schema's defaults).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a base setting, e.g. --set train.lr_decay_fraction=0.4; repeatable.")
    var overrides: [String] = []
    @Option(help: "Write the runs as JSON to this file.")
    var json: String?
    @Option(help: "Write the frontier figure to this PNG (default: beside --json, with .png).")
    var png: String?
    @Option(help: "Write the held-out rows (the train stage's split) to this JSON file, for scripts/bench-anchors.py.")
    var splitOut: String?
    @Option(help: "Runs of other tools (scripts/bench-anchors.py --json) to compare with; repeatable.")
    var compare: [String] = []
    @Option(help: "saepipe's runs from an earlier --json, instead of training them again.")
    var runs: String?
    @OptionGroup var threads: BenchThreads

    func list<T>(_ text: String, _ name: String, _ parse: (String) -> T?) throws -> [T] {
        let values = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = values.compactMap(parse)
        guard !values.isEmpty, parsed.count == values.count else { throw ValidationError("--\(name) takes comma-separated values, got '\(text)'") }
        return parsed
    }

    func plan() throws -> QualityBenchmark.Plan {
        let recipeList = try list(recipes, "recipes") { QualityBenchmark.Recipe(rawValue: $0) }
        let kValues = try list(k, "k") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        let l1Values = try list(l1, "l1") { Double($0).flatMap { $0 >= 0 ? $0 : nil } }
        let l0Values = try list(l0, "l0") { Double($0).flatMap { $0 >= 0 ? $0 : nil } }
        let rates = try lr.map { try list($0, "lr") { Double($0).flatMap { $0 > 0 ? $0 : nil } } } ?? []
        guard tokens > 0 else { throw ValidationError("--tokens must be positive") }
        var plan = QualityBenchmark.Plan(recipes: recipeList, kValues: kValues, l1Values: l1Values, learningRates: rates, tokens: tokens,
                                         features: features, batchSize: batch, seed: seed)
        plan.l0Values = l0Values
        plan.trainingSeeds = try seeds.map { try list($0, "seeds") { UInt64($0) } } ?? []
        guard Set(plan.trainingSeeds).count == plan.trainingSeeds.count else { throw ValidationError("--seeds lists a seed twice") }
        return plan
    }

    func validate() throws { _ = try plan() }

    func run() throws {
        threads.apply()
        let plan = try plan()
        let ours: [QualityBenchmark.Run]
        if let runs {
            ours = try JSONFile.read([QualityBenchmark.Run].self, from: runs, hint: "a file `bench quality --json` wrote")
            if let splitOut { try QualityBenchmark.writeSplit(activations: acts, seed: seed, to: splitOut) }
        } else {
            let base = try QualityBenchmark.baseSettings(config: config, overrides: overrides)
            ours = try QualityBenchmark.run(activations: acts, plan: plan, base: base, console: Console.shared, splitOutput: splitOut) { run in
                let seedText = plan.trainingSeeds.count > 1 ? " seed \(run.seed ?? 0)" : ""
                Console.shared.line(String(format: "%@ %@%@: L0 %.1f, FVE %.3f, dead %.1f%%, %.0f s", run.recipe, run.levelText, seedText,
                                           run.l0, run.fve, 100 * run.deadFraction, run.seconds))
            }
        }
        let anchors = try compare.flatMap { path in
            try JSONFile.read([QualityBenchmark.Run].self, from: path, hint: "a file scripts/bench-anchors.py --json wrote")
        }
        print(QualityBenchmark.table(ours + anchors))
        print("cpu: \(ProcessStats.cpuModel ?? "unknown"), \(BLAS.threads) threads, openblas \(BLAS.coreName)")
        if let advice = BLAS.environmentCoreAdvice { print(advice) }
        if !anchors.isEmpty { print("\n" + QualityBenchmark.comparisonText(ours: ours, anchors: anchors)) }
        if let figure = QualityBenchmark.figurePath(png: png, json: json) {
            try QualityBenchmark.writeFigure(ours + anchors, subtitle: QualityBenchmark.subtitle(activations: acts, runs: ours + anchors), to: figure)
            print("figure: \(figure)")
        } else {
            print("figure: none (--png FILE draws the frontier)")
        }
        if let json, runs == nil {
            try JSONFile.write(ours, to: json)
            print("runs:   \(json)")
        }
    }
}

struct SAEMetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sae-metrics",
        abstract: "FVE, L0, MSE and dead features of a SAELens-format SAE on an activation set's held-out (or all) rows.",
        discussion: """
            The SAE is read as `sae.load` reads it, so one trained in SAELens and one trained here are
            scored on identical rows. Examples:
              saepipe sae-metrics --sae outputs/default/…/train/A --acts artifacts/cache/collect/<key>
              saepipe sae-metrics --sae my_saelens_sae --acts artifacts/cache/collect/<key> --rows all --json m.json
            """)

    @Option(help: "A SAELens SAE directory (cfg.json + sae_weights.safetensors).")
    var sae: String
    @Option(help: "An activation set: a directory with acts.mmap and meta.json.")
    var acts: String
    @Option(help: "held-out (the train stage's held-out windows) or all.")
    var rows: String = SAEMetrics.Rows.heldOut.rawValue
    @Option(help: "Seed of the held-out split (the config's seed).")
    var seed: UInt64 = 0
    @Option(help: "Also write the figures as JSON to this file.")
    var json: String?

    func validate() throws {
        guard SAEMetrics.Rows(rawValue: rows) != nil else { throw ValidationError("--rows is held-out or all") }
    }

    func run() throws {
        let report = try SAEMetrics.measure(sae: sae, activations: acts, rows: SAEMetrics.Rows(rawValue: rows)!, seed: seed)
        print("sae:   \(report.sae) (\(report.architecture), \(report.features) features)")
        print("rows:  \(report.rows) (\(report.which))")
        print(String(format: "fve:   %.6f\nl0:    %.4f\nmse:   %.6g\ndead:  %.2f%%", report.fve, report.l0, report.mse, 100 * report.deadFraction))
        if let json { try JSONFile.write(report, to: json) }
    }
}
