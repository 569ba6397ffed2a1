import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeModels
import SAEPipeSAE

/// eval: every (SAE, dataset) pair — reconstruction, sparsity, and the model's loss with
/// the hooked activation left alone, replaced by the SAE's reconstruction, or zeroed.
public enum EvalStage {
    public static let configFields: [ConfigField] = [
        ConfigField("eval", .section(ConfigSection([
            ConfigField("sequences", .int(1...100_000), default: .int(32), doc: "held-out windows per dataset for the spliced-loss evaluation (at most those training held out)"),
            ConfigField("batch_size", .int(1...1024), default: .int(8), doc: "windows per forward pass"),
            ConfigField("dense_threshold", .double(0...1), default: .double(0.1), doc: "a feature firing on more than this share of tokens counts as dense"),
        ])), doc: "evaluation of the SAEs on both datasets"),
    ]

    static let pairs = [("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")]

    public static func stage(config: ResolvedConfig, artifacts: String) -> StageSpec {
        let slice = config.value.slice(["seed", "model", "eval", "train.validation_fraction", "train.max_validation_rows"])
        return StageSpec(
            id: "eval", kind: "eval", version: 3, upstream: ["collect.A", "collect.B", "train.A", "train.B"], config: slice,
            run: { context in try run(context, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/results.json", to: context.runDirectory + "/results.json")
                for name in FileSystem.listFiles(in: context.entryDirectory + "/tables") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/tables/\(name)", to: context.runDirectory + "/tables/\(name)")
                }
                return ["results": .string("results.json")]
            })
    }

    /// One pair's numbers, under the keys DESIGN.md fixes for results.json.
    public struct PairMetrics: Sendable {
        public var reconstruction: SAEEvaluation
        public var denseFraction: Double
        /// Rows per L0 value (index = active features).
        public var l0Histogram: [Int] = []
        public var ceClean: Double
        public var ceSAE: Double
        public var ceZero: Double
        public var ceRecovered: Double { (ceZero - ceSAE) / (ceZero - ceClean) }

        public init(reconstruction: SAEEvaluation, denseFraction: Double, ceClean: Double, ceSAE: Double, ceZero: Double) {
            self.reconstruction = reconstruction
            self.denseFraction = denseFraction
            self.ceClean = ceClean
            self.ceSAE = ceSAE
            self.ceZero = ceZero
        }

        var json: [String: Any] {
            ["mse": reconstruction.mse, "fve": reconstruction.fve, "l0": reconstruction.l0, "l1": reconstruction.l1,
             "dead_fraction": reconstruction.deadFraction, "dense_fraction": denseFraction, "rows": reconstruction.rows,
             "ce_loss_clean": ceClean, "ce_loss_sae": ceSAE, "ce_loss_zero": ceZero,
             "ce_recovered": ceRecovered.isFinite ? ceRecovered : NSNull(), "l0_histogram": l0Histogram]
        }
    }

    static func run(_ context: StageContext, artifacts: String) throws {
        let config = context.config
        let hook = try CollectStage.hook(config)
        let seed = UInt64(config[path: "seed"].intValue ?? 0)
        let modelPath = try ModelSource.resolve(config[path: "model.name"].stringValue!, artifacts: artifacts)
        let model = try LanguageModel.load(modelPath)
        var saes: [String: (SAEParameters, SAEActivation)] = [:]
        for side in ["A", "B"] { saes[side] = try SAECheckpoint.readSAELens(try context.upstream("train.\(side)")) }

        var metrics: [String: PairMetrics] = [:]
        for data in ["A", "B"] {
            let directory = try context.upstream("collect.\(data)")
            let dataset = try ActivationDataset(
                directory: directory, validationFraction: config[path: "train.validation_fraction"].doubleValue ?? 0.05,
                maxValidationRows: config[path: "train.max_validation_rows"].intValue ?? 8192, seed: seed)
            let windows = try heldOutWindows(directory, count: config[path: "eval.sequences"].intValue!, seed: seed,
                                             heldOut: dataset.validationWindows)
            context.logger.info("eval: spliced loss on \(windows.batch) held-out windows of \(data)")
            let losses = try splicedLosses(
                model: model, tokens: windows, hook: hook, saes: saes, batchSize: config[path: "eval.batch_size"].intValue!)
            for trained in ["A", "B"] {
                let (parameters, activation) = saes[trained]!
                // One encoder pass gives the metrics, the firing frequencies and the L0 distribution.
                let analysis = SAEEvaluator.analyze(parameters, activation: activation, dataset: dataset, rows: dataset.validation, batchSize: 1024)
                let threshold = config[path: "eval.dense_threshold"].doubleValue ?? 0.1
                var pair = PairMetrics(
                    reconstruction: analysis.evaluation,
                    denseFraction: Double(analysis.frequencies.filter { $0 > threshold }.count) / Double(max(analysis.frequencies.count, 1)),
                    ceClean: losses.clean, ceSAE: losses.sae[trained]!, ceZero: losses.zero)
                pair.l0Histogram = analysis.l0Histogram
                metrics["\(trained)->\(data)"] = pair
            }
        }
        try write(metrics, hook: hook, model: config[path: "model.name"].stringValue!, to: context.outputDirectory)
    }

    /// Up to `count` full-length held-out windows of a collected dataset (the windows training
    /// held out), in a seeded order.
    public static func heldOutWindows(_ directory: String, count: Int, seed: UInt64, heldOut: [Int]) throws -> TokenBatch {
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/meta.json"))) as? [String: Any] ?? [:]
        guard let offsets = meta["sequence_offsets"] as? [Int], let seqLen = meta["seq_len"] as? Int else {
            throw SAEPipeError.input("activation metadata lacks sequence_offsets", file: "\(directory)/meta.json",
                                     hint: "rerun the collect stage")
        }
        let tokens = try ActivationStore.readInt32("\(directory)/tokens.mmap")
        var full = heldOut.filter { offsets[$0 + 1] - offsets[$0] == seqLen }
        guard !full.isEmpty else {
            throw SAEPipeError.input("no full-length held-out window to evaluate the loss on", file: directory,
                                     hint: "raise train.validation_fraction")
        }
        var generator = SplitMix64(seed: seed ^ 0xE7A1)
        for i in stride(from: full.count - 1, to: 0, by: -1) { full.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        let chosen = full.prefix(count)
        return TokenBatch(ids: chosen.flatMap { tokens[offsets[$0]..<offsets[$0 + 1]] }, batch: chosen.count, seqLen: seqLen)
    }

    /// Mean next-token loss with the hook clean, zeroed, and replaced by each SAE's
    /// reconstruction; the layers below the hook run once per batch.
    public static func splicedLosses(
        model: LanguageModel, tokens: TokenBatch, hook: HookPoint, saes: [String: (SAEParameters, SAEActivation)], batchSize: Int
    ) throws -> (clean: Double, zero: Double, sae: [String: Double]) {
        var totals: [String: Double] = [:]
        var count = 0
        let start = HookPoint(layer: hook.layer, site: .residPre)
        for first in stride(from: 0, to: tokens.batch, by: batchSize) {
            let n = min(batchSize, tokens.batch - first)
            let batch = TokenBatch(ids: Array(tokens.ids[(first * tokens.seqLen)..<((first + n) * tokens.seqLen)]), batch: n, seqLen: tokens.seqLen)
            let below = try model.forward(batch, ForwardRequest(capture: [start]))
            let residual = below.captured[start]!
            func loss(_ intervention: HookIntervention?) throws -> [Float] {
                try model.forward(batch, ForwardRequest(
                    intervene: intervention == nil ? [] : [hook], intervention: intervention, outputs: [.tokenNLL],
                    startLayer: hook.layer, startResidual: residual)).tokenNLL!
            }
            var runs: [(String, [Float])] = [("clean", try loss(nil)), ("zero", try loss { _, _, buffer in buffer.update(repeating: 0) })]
            for (side, sae) in saes.sorted(by: { $0.key < $1.key }) {
                let (parameters, activation) = sae
                runs.append((side, try loss { _, _, buffer in
                    _ = SAEMath.reconstructInPlace(parameters, activation: activation, buffer.baseAddress!, rows: buffer.count / parameters.d)
                }))
            }
            for (name, values) in runs { totals[name, default: 0] += values.reduce(0.0) { $0 + Double($1) } }
            count += n * (tokens.seqLen - 1)
        }
        let mean = { (name: String) in totals[name]! / Double(max(count, 1)) }
        return (mean("clean"), mean("zero"), Dictionary(uniqueKeysWithValues: saes.keys.map { ($0, mean($0)) }))
    }

    static func write(_ metrics: [String: PairMetrics], hook: HookPoint, model: String, to directory: String) throws {
        var eval: [String: Any] = [:]
        for (key, value) in metrics { eval[key] = value.json }
        func degradation(_ cross: String, _ home: String) -> [String: Any] {
            let (c, h) = (metrics[cross]!.reconstruction, metrics[home]!.reconstruction)
            return ["fve_drop": h.fve - c.fve, "mse_ratio": h.mse > 0 ? c.mse / h.mse : NSNull(),
                    "ce_recovered_drop": metrics[home]!.ceRecovered - metrics[cross]!.ceRecovered, "baseline": home]
        }
        let results: [String: Any] = [
            "model": model, "hook": hook.description, "eval": eval,
            "cross_domain": ["A->B": degradation("A->B", "B->B"), "B->A": degradation("B->A", "A->A")],
            "saepipe_version": SAEPipeVersion.current,
        ]
        let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
        try FileSystem.writeAtomically(data, to: "\(directory)/results.json")

        let n = { (value: Double) in Table.number(value) }
        let tables = "\(directory)/tables"
        try Table(
            header: ["pair", "SAE trained on", "evaluated on", "mse", "fve", "l0", "l1", "dead_fraction", "dense_fraction",
                     "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_recovered"],
            rows: pairs.map { trained, data in
                let m = metrics["\(trained)->\(data)"]!, r = m.reconstruction
                return ["\(trained)->\(data)", trained, data, String(format: "%.6g", r.mse), n(r.fve), Table.number(r.l0, digits: 1),
                        Table.number(r.l1, digits: 2), n(r.deadFraction), n(m.denseFraction), n(m.ceClean), n(m.ceSAE), n(m.ceZero),
                        n(m.ceRecovered)]
            }).write(to: tables, name: "eval")
        for (name, value) in [("fve_matrix", { (m: PairMetrics) in m.reconstruction.fve }),
                              ("ce_recovered_matrix", { (m: PairMetrics) in m.ceRecovered })] {
            try Table(header: ["SAE trained on \\ evaluated on", "A", "B"],
                      rows: ["A", "B"].map { trained in [trained] + ["A", "B"].map { n(value(metrics["\(trained)->\($0)"]!)) } })
                .write(to: tables, name: name)
        }
        try Table(
            header: ["transfer", "baseline", "fve_drop", "mse_ratio", "ce_recovered_drop"],
            rows: [("A->B", "B->B"), ("B->A", "A->A")].map { cross, home in
                let (c, h) = (metrics[cross]!, metrics[home]!)
                return [cross, home, n(h.reconstruction.fve - c.reconstruction.fve),
                        n(c.reconstruction.mse / h.reconstruction.mse), n(h.ceRecovered - c.ceRecovered)]
            }).write(to: tables, name: "cross_domain")
    }
}
