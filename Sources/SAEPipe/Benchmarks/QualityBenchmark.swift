import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipePlot
import SAEPipeSAE

/// `saepipe bench quality`: trains SAE recipes at several sparsity levels on one activation set,
/// with the train stage's held-out split, and reports the held-out frontier (L0 against FVE).
public enum QualityBenchmark {
    /// A training recipe: an activation and its sparsity control.
    public enum Recipe: String, CaseIterable, Sendable {
        /// ReLU + L1 (λ sets the sparsity).
        case relu
        /// TopK with AuxK.
        case topk
        /// TopK without AuxK (the ablation).
        case topkNoAux = "topk-noaux"
        /// BatchTopK with AuxK.
        case batchtopk
        /// JumpReLU with an L0 penalty (λ sets the sparsity).
        case jumprelu

        var selectsByRank: Bool { self != .relu && self != .jumprelu }
    }

    /// What to train: recipes × levels × learning rates, everything else from the schema's defaults.
    public struct Plan: Sendable {
        public var recipes: [Recipe]
        /// Levels of the rank recipes (k).
        public var kValues: [Int]
        /// Levels of ReLU (λ).
        public var l1Values: [Double]
        /// Levels of JumpReLU (its L0 coefficient λ).
        public var l0Values: [Double] = [0.3, 1, 3]
        /// Learning rates to try; empty: the base settings' `train.lr`.
        public var learningRates: [Double]
        public var tokens: Int
        public var features: Int?
        public var batchSize: Int?
        /// Seed of the held-out split, and of the training when `trainingSeeds` is empty.
        public var seed: UInt64
        /// Each configuration trains once per seed (initialization and batch order), all on the split of `seed`.
        public var trainingSeeds: [UInt64] = []

        public init(recipes: [Recipe], kValues: [Int], l1Values: [Double], learningRates: [Double], tokens: Int, features: Int?,
                    batchSize: Int?, seed: UInt64) {
            (self.recipes, self.kValues, self.l1Values, self.learningRates) = (recipes, kValues, l1Values, learningRates)
            (self.tokens, self.features, self.batchSize, self.seed) = (tokens, features, batchSize, seed)
        }

        /// The settings of every run, in order (a configuration's seeds one after another).
        public func runs(base: TrainSettings) -> [(recipe: Recipe, level: Double, lr: Double, seed: UInt64, settings: TrainSettings)] {
            recipes.flatMap { recipe in
                (recipe.selectsByRank ? kValues.map(Double.init) : recipe == .jumprelu ? l0Values : l1Values).flatMap { level in
                    (learningRates.isEmpty ? [Double(base.lr)] : learningRates).flatMap { lr in
                        (trainingSeeds.isEmpty ? [seed] : trainingSeeds).map { trainingSeed in
                            (recipe, level, lr, trainingSeed, settings(base: base, recipe: recipe, level: level, lr: lr, seed: trainingSeed))
                        }
                    }
                }
            }
        }

        func settings(base: TrainSettings, recipe: Recipe, level: Double, lr: Double, seed: UInt64) -> TrainSettings {
            var s = base
            s.tokens = tokens
            s.epochs = nil
            if let features { s.dSAE = features }
            if let batchSize { s.batchSize = batchSize }
            s.seed = seed
            s.lr = Float(lr)
            switch recipe {
            case .relu: s.activation = .relu; s.l1Coefficient = Float(level)
            case .topk: s.activation = .topK(Int(level))
            case .topkNoAux: s.activation = .topK(Int(level)); s.auxKCoefficient = 0
            case .batchtopk: s.activation = .batchTopK(Int(level))
            case .jumprelu: s.activation = .jumpReLU(bandwidth: base.jumpReLUBandwidth); s.l1Coefficient = Float(level)
            }
            return s
        }
    }

    /// One trained SAE's held-out figures (`--json` writes a list of these).
    public struct Run: Codable, Sendable, Equatable {
        public var recipe: String
        /// k for rank recipes, λ for ReLU.
        public var level: Double
        public var lr: Double
        public var l0: Double
        public var fve: Double
        public var mse: Double
        /// Share of features that never fire on the held-out rows.
        public var deadFraction: Double
        public var seconds: Double
        public var tokensPerSecond: Double
        public var features: Int
        public var trainingTokens: Int
        /// "k" or "λ": what `level` is, written by other tools' runs; saepipe's recipes imply it.
        public var levelName: String?
        /// The training seed (initialization and batch order); nil in files written before it was recorded, which trained with seed 0.
        public var seed: UInt64?

        public init(recipe: String, level: Double, lr: Double, l0: Double, fve: Double, mse: Double, deadFraction: Double,
                    seconds: Double, tokensPerSecond: Double, features: Int, trainingTokens: Int, seed: UInt64? = nil) {
            (self.recipe, self.level, self.lr, self.l0, self.fve, self.mse) = (recipe, level, lr, l0, fve, mse)
            (self.deadFraction, self.seconds, self.tokensPerSecond, self.features, self.trainingTokens) =
                (deadFraction, seconds, tokensPerSecond, features, trainingTokens)
            self.seed = seed
        }

        enum CodingKeys: String, CodingKey {
            case recipe, level, lr, l0, fve, mse, deadFraction = "dead_fraction", seconds, tokensPerSecond = "tokens_per_s", features
            case trainingTokens = "training_tokens", levelName = "level_name", seed
        }

        /// "k 32" or "λ 3".
        public var levelText: String {
            (levelName ?? ([Recipe.relu.rawValue, Recipe.jumprelu.rawValue].contains(recipe) ? "λ" : "k")) + " " + NumberFormat.short(level)
        }
    }

    /// Trains every run of `plan` on the activation set in `directory` (acts.mmap + meta.json).
    /// With `splitOutput`, first writes the held-out rows there (`Split`).
    public static func run(
        activations directory: String, plan: Plan, base: TrainSettings = .defaults, console: Console, splitOutput: String? = nil,
        finished: (Run) -> Void = { _ in }
    ) throws -> [Run] {
        let dataset = try ActivationDataset(directory: directory, split: base.validation, seed: plan.seed)
        if let splitOutput { try writeSplit(dataset, seed: plan.seed, to: splitOutput) }
        var results: [Run] = []
        for (recipe, level, lr, seed, settings) in plan.runs(base: base) {
            var trainer = Trainer(dataset: dataset, settings: settings, checkpointDirectory: nil)
            trainer.console = console
            let levelText = (recipe.selectsByRank ? "k " : "λ ") + NumberFormat.short(level)
            trainer.label = "\(recipe.rawValue) \(levelText) lr \(NumberFormat.short(lr))" + (plan.trainingSeeds.count > 1 ? " seed \(seed)" : "")
            let started = Date()
            let result = try trainer.train()
            let validation = result.validation
            let run = Run(recipe: recipe.rawValue, level: level, lr: lr, l0: validation.l0, fve: validation.fve, mse: validation.mse,
                          deadFraction: validation.deadFraction, seconds: Date().timeIntervalSince(started),
                          tokensPerSecond: result.tokensPerSecond, features: result.parameters.features, trainingTokens: result.trainingTokens,
                          seed: seed)
            results.append(run)
            finished(run)
        }
        return results
    }

    /// The settings every run starts from: a config's `sae` and `train` sections (or the schema's
    /// defaults without one), with `--set key.path=value` overrides applied.
    public static func baseSettings(config: String?, overrides: [String]) throws -> TrainSettings {
        if let config {
            let resolved = try ConfigLoader(schema: ExperimentSchema.schema).load(path: config, overrides: overrides)
            return try ConfigReader(resolved.value).decode(TrainSettings.self, at: "")
        }
        let loader = ConfigLoader(schema: ConfigSchema(ConfigSection([ConfigField.seed] + TrainSettings.configFields)))
        var node = try YAMLParser.parse("{}", sourceName: "--set")
        for (index, override) in overrides.enumerated() { node = try loader.apply(override: override, index: index, to: node) }
        let resolved = try loader.resolve(node, path: "--set", files: [])
        return try ConfigReader(resolved.value).decode(TrainSettings.self, at: "")
    }

    /// Writes the held-out rows of the train stage's split of `dataset` (`--split-out`).
    public static func writeSplit(_ dataset: ActivationDataset, seed: UInt64, to path: String) throws {
        try JSONFile.write(Split(dataset: dataset, seed: seed), to: path, pretty: false)
    }

    /// Writes the split of the activation set in `directory` without training anything.
    public static func writeSplit(activations directory: String, seed: UInt64, to path: String) throws {
        let dataset = try ActivationDataset(directory: directory, split: TrainSettings.defaults.validation, seed: seed)
        try writeSplit(dataset, seed: seed, to: path)
    }

    /// Per recipe, the configurations (each its mean over seeds) no other one of that recipe beats on
    /// both L0 (lower) and FVE (higher).
    public static func frontier(_ runs: [Run]) -> [String: [Run]] {
        Dictionary(grouping: repeated(runs), by: \.mean.recipe).mapValues { paretoFront($0).map(\.mean) }
    }

    /// Whether `a` is at least as sparse and as faithful as `b`, and better in one.
    static func dominates(_ a: Run, _ b: Run) -> Bool {
        let noWorse = a.l0 <= b.l0 && a.fve >= b.fve
        let better = a.l0 < b.l0 || a.fve > b.fve
        return noWorse && better
    }

    /// The table printed at the end: every run, frontier configurations marked; with several
    /// training seeds, each configuration's mean and spread after it.
    public static func table(_ runs: [Run]) -> String {
        let onFrontier = Set(frontier(runs).values.flatMap { $0 }.map(configurationKey))
        let seeded = Set(runs.map { $0.seed ?? 0 }).count > 1
        let header = ["recipe", "level", "lr"] + (seeded ? ["seed"] : []) + ["L0", "FVE", "MSE", "dead", "seconds", "tok/s", "frontier"]
        let rows = runs.map { run in
            [run.recipe, run.levelText, NumberFormat.short(run.lr)] + (seeded ? ["\(run.seed ?? 0)"] : [])
                + [String(format: "%.1f", run.l0), String(format: "%.3f", run.fve),
                   String(format: "%.4g", run.mse), String(format: "%.1f%%", 100 * run.deadFraction), String(format: "%.0f", run.seconds),
                   String(format: "%.0f", run.tokensPerSecond), onFrontier.contains(configurationKey(run)) ? "*" : ""]
        }
        var text = alignedTable(header: header, rows: rows)
        let repeatedOnes = repeated(runs).filter { $0.seeds > 1 }
        guard !repeatedOnes.isEmpty else { return text }
        text += "\n\nmeans over training seeds (± the standard error of the mean FVE, sd the seeds' standard deviation):\n"
        let meanRows = repeatedOnes.map { item in
            [item.mean.recipe, item.mean.levelText, NumberFormat.short(item.mean.lr), "\(item.seeds)", String(format: "%.1f", item.mean.l0),
             String(format: "%.4f ± ", item.mean.fve) + spreadText(item.fveStandardError ?? 0), spreadText(item.fveDeviation ?? 0),
             String(format: "%.1f%%", 100 * item.mean.deadFraction)]
        }
        text += alignedTable(header: ["recipe", "level", "lr", "seeds", "L0", "FVE", "sd", "dead"], rows: meanRows)
        return text
    }

    /// A spread in FVE units: four decimals, or two significant digits when that would print zero.
    static func spreadText(_ value: Double) -> String {
        value >= 0.0001 || value == 0 ? String(format: "%.4f", value) : String(format: "%.1e", value)
    }

    /// L0 (log scale) against held-out FVE, one line per recipe through its frontier of means over
    /// seeds, every run (each seed) a dot.
    public static func chart(_ runs: [Run], subtitle: String) -> Chart {
        var series: [Series] = []
        let recipes = recipeOrder(runs)
        for (index, recipe) in recipes.enumerated() {
            let color = Color.palette[index % Color.palette.count]
            let members = runs.filter { $0.recipe == recipe }
            series.append(.scatter(name: "", points: members.map { ($0.l0, $0.fve) }, color: color, radius: 3.5))
            series.append(.line(name: recipe, points: (frontier(runs)[recipe] ?? []).map { ($0.l0, $0.fve) }, color: color))
        }
        var chart = Chart(title: "Held-out FVE against L0, per recipe", xLabel: "L0 (active features per token, held out)",
                          yLabel: "fraction of variance explained (held out)", series: series)
        chart.subtitle = subtitle
        chart.xScale = .log10
        // With several learning rates, each dot says which; with many recipes only frontier dots are named.
        let severalRates = Set(runs.map(\.lr)).count > 1
        let named = recipes.count > 3 ? frontier(runs).values.flatMap { $0 } : repeated(runs).map(\.mean)
        chart.annotations = named.map { ($0.l0, $0.fve, $0.levelText + (severalRates ? ", lr " + String(format: "%.2g", $0.lr) : "")) }
        return chart
    }

    /// What the figure was made from: the activation set's model, hook and dataset, the budget and the CPU.
    public static func subtitle(activations directory: String, runs: [Run]) -> String {
        var parts: [String] = []
        if let provenance = (try? ActivationSetMeta.read(directory: directory))?.provenance {
            let model = FileSystem.lastComponent(of: provenance.model)
                .replacingOccurrences(of: #"\.(gguf|safetensors)$"#, with: "", options: .regularExpression)
            let files = provenance.datasetFiles.map { FileSystem.lastComponent(of: $0) }.joined(separator: ", ")
            parts += [model, provenance.hook] + (files.isEmpty ? [] : [files])
        } else {
            parts.append(FileSystem.lastComponent(of: directory))
        }
        if let run = runs.first { parts += ["\(NumberFormat.count(run.trainingTokens)) training tokens", "\(run.features) features"] }
        parts.append(ProcessStats.cpuModel ?? "unknown CPU")
        return parts.joined(separator: " · ")
    }

    /// Where the frontier figure goes: `--png` when given, else beside `--json` (its name with `.png`),
    /// else nowhere — a default in the working directory littered clones with untracked figures.
    public static func figurePath(png: String?, json: String?) -> String? {
        if let png { return png }
        guard let json else { return nil }
        let stem = json.hasSuffix(".json") ? String(json.dropLast(5)) : json
        return stem + ".png"
    }

    /// Writes `chart` as a PNG.
    public static func writeFigure(_ runs: [Run], subtitle: String, to path: String) throws {
        try chart(runs, subtitle: subtitle).render(text: try TextRenderer()).writePNG(to: path)
    }
}
