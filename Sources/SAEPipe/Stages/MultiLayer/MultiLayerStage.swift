import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels
import SAEPipePlot
import SAEPipeSAE

/// mlsae: a multi-layer SAE (`sae.layers`) evaluated layer by layer — reconstruction on each
/// layer's held-out rows and the loss with it spliced in at that layer — beside per-layer SAEs
/// of the same total width trained on the same standardized rows, with each latent's spread
/// over the layers (Lawson et al. 2024). The stage exists only when `sae.layers` is set.
public enum MultiLayerStage {
    public static let id = StageID("mlsae")

    public static let configFields: [ConfigField] = [
        ConfigField("mlsae", .section(ConfigSection([
            ConfigField("sequences", .int(1...100_000), default: .int(32), doc: "held-out windows per dataset for the loss spliced in at each layer"),
            ConfigField("batch_size", .int(1...1024), default: .int(8), doc: "windows per forward pass"),
            ConfigField("per_layer_saes", .bool, default: .bool(true),
                        doc: "also train one SAE per layer, together as wide as the multi-layer SAE (each with 1/L of its features and of its batch, over as many steps: its layer's share of the same vectors; same recipe otherwise), and compare them layer by layer"),
        ])), doc: "the multi-layer SAE's evaluation at each layer (runs when sae.layers is set)"),
    ]

    struct MultiLayerSettings: Decodable {
        var sequences: Int
        var batchSize: Int
        var perLayerSAEs: Bool
        enum CodingKeys: String, CodingKey { case sequences, batchSize = "batch_size", perLayerSAEs = "per_layer_saes" }
    }

    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        var train: TrainSettings
        var sides: [Side]
        var activations: ActivationSetChoice
        var mlsae: MultiLayerSettings
        var resamples: Int
        var denseThreshold: Double
        var labels: DatasetLabels

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: try ModelSettings.read(reader),
                    train: try reader.decode(TrainSettings.self, at: ""), sides: try Side.present(reader),
                    activations: try ActivationSetChoice.read(reader, config: config),
                    mlsae: try reader.decode(MultiLayerSettings.self, at: "mlsae"),
                    resamples: try reader.decode(Int.self, at: "eval.bootstrap_resamples"),
                    denseThreshold: try reader.decode(Double.self, at: "eval.dense_threshold"), labels: try DatasetLabels.read(reader))
            }
        }
    }

    /// Whether a config trains a multi-layer SAE.
    public static func requested(_ config: ConfigValue) -> Bool { config[path: "sae.layers"] != .null }

    public static func stage(config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (settings, slice) = try Settings.read(config.value)
        return StageSpec(
            id: id, kind: "mlsae", version: 3, upstream: settings.sides.map(StageID.collect) + settings.sides.map(StageID.train),
            config: slice,
            run: { context in try run(context, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/\(MultiLayerFile.fileName)",
                                             to: context.runDirectory + "/\(MultiLayerFile.fileName)")
                for name in FileSystem.listFiles(in: context.entryDirectory + "/tables") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/tables/\(name)", to: context.runDirectory + "/tables/\(name)")
                }
                for name in FileSystem.listFiles(in: context.entryDirectory + "/figures") {
                    try FileSystem.copyReplacing(context.entryDirectory + "/figures/\(name)", to: context.runDirectory + "/figures/\(name)")
                }
                return ["mlsae": .string(MultiLayerFile.fileName)]
            })
    }

    /// In each layer's evaluation the multi-layer SAE takes slot A and that layer's own SAE slot
    /// B: the shared evaluation code pairs two SAEs on the same rows, resamples and windows.
    static let (mlsaeSlot, perLayerSlot) = (Side.A, Side.B)

    static func run(_ context: StageContext, artifacts: String) throws {
        let (settings, _) = try Settings.read(context.config)
        guard let site = HookSite(stream: settings.model.stream) else {
            throw SAEPipeError.input("`\(settings.model.stream)` is not a stream", key: "model.stream")
        }
        let model = try LanguageModel.load(try ModelSource.resolve(settings.model.name, artifacts: artifacts))
        var file = MultiLayerFile(model: settings.model.name, stream: settings.model.stream, saes: [:],
                                  bootstrap: .init(resamples: settings.resamples, unit: "held-out window", level: 0.95))
        for side in settings.sides {
            let (mlsae, activation) = try SAECheckpoint.readSAELens(try context.upstream(.train(side)))
            guard let sets = try settings.activations.trainingSets(entry: try context.upstream(.collect(side))) else {
                throw SAEPipeError.input("the mlsae stage needs sae.layers", key: "sae.layers")
            }
            let layers = sets.map(\.layer)
            let dataset = try ActivationDataset(directories: sets.map(\.directory), split: settings.train.validation, seed: settings.seed,
                                                normalization: .layerNorm)
            let windows = try SplicedLoss.heldOutWindows(sets[0].directory, count: settings.mlsae.sequences, seed: settings.seed,
                                                         heldOut: dataset.validationWindows)
            context.logger.info("MLSAE \(side): \(mlsae.features) latents over layers \(layers.first!)–\(layers.last!), \(windows.batch) windows per layer")
            let distribution = LayerDistribution.measure(mlsae, activation: activation, dataset: dataset, layers: layers)
            let steps = settings.train.steps(trainingRows: dataset.training.count)
            let perLayer = settings.mlsae.perLayerSAEs
                ? perLayerSettings(settings.train, features: mlsae.features, layers: layers.count, steps: steps) : nil
            var byLayer: [MultiLayerFile.Layer] = []
            var previous: SAEParameters?
            let progress = SAEPipeCore.Progress("mlsae.\(side) layers", total: layers.count, unit: "layers")
            for (part, layer) in layers.enumerated() {
                let started = Date()
                let (entry, own) = try evaluateLayer(
                    layer, part: part, directory: sets[part].directory, mlsae: (mlsae, activation), dataset: dataset, perLayer: perLayer,
                    previous: previous, model: model, windows: windows, site: site, settings: settings, side: side)
                previous = own
                byLayer.append(entry)
                let line = String(format: "layer %d: MLSAE fve %.3f, l0 %.1f, ce %+.3f", layer, entry.mlsae.fve, entry.mlsae.l0, entry.mlsae.ceLossIncrease)
                    + (entry.perLayer.map { String(format: "; own SAE fve %.3f, l0 %.1f, ce %+.3f", $0.fve, $0.l0, $0.ceLossIncrease) } ?? "")
                    + String(format: " (%.1f s)", Date().timeIntervalSince(started))
                context.logger.info("\(line)")
                progress.advance(by: 1)
            }
            progress.finish()
            file.saes[side.rawValue] = summary(distribution, features: mlsae.features, byLayer: byLayer, perLayer: perLayer)
        }
        try JSONFile.write(file, to: context.output(MultiLayerFile.fileName))
        try FileSystem.createDirectory(context.output("tables"))
        try file.layerTable().write(to: context.output("tables"), name: "mlsae_layers")
        for (side, sae) in file.saes { try MultiLayerFile.latentTable(sae).write(to: context.output("tables"), name: "mlsae_latents_\(side)") }
        try FileSystem.createDirectory(context.output("figures"))
        let text = try TextRenderer()
        for (name, canvas) in MultiLayerFigures.figures(file, labels: settings.labels, text: text) {
            try canvas.writePNG(to: context.output("figures") + "/\(name).png")
        }
    }

    /// One layer: the multi-layer SAE on its held-out vectors and spliced in at it, beside the
    /// layer's own SAE (trained here, when asked for) on the same rows, resamples and windows.
    static func evaluateLayer(
        _ layer: Int, part: Int, directory: String, mlsae: (SAEParameters, SAEActivation), dataset: ActivationDataset,
        perLayer: TrainSettings?, previous: SAEParameters?, model: LanguageModel, windows: TokenBatch, site: HookSite,
        settings: Settings, side: Side
    ) throws -> (MultiLayerFile.Layer, SAEParameters?) {
        var saes = [mlsaeSlot: mlsae]
        var units: [Side: (sums: [ReconstructionSums], l0Histogram: [Int])] = [:]
        let sums = SAEEvaluator.unitSums(mlsae.0, activation: mlsae.1, dataset: dataset, units: dataset.validationUnits(part: part))
        units[mlsaeSlot] = (sums.units, sums.l0Histogram)
        var own: SAEParameters?
        if let perLayer {
            let single = try ActivationDataset(directory: directory, split: settings.train.validation, seed: settings.seed,
                                               normalization: .layerNorm)
            // Each starts from its own dictionary: SAEs grown from one initialization share
            // directions they never moved from, which would inflate the MMCS between them.
            var seeded = perLayer
            seeded.seed = settings.seed &+ UInt64(layer + 1) &* 0x9E37_79B9_7F4A_7C15
            var trainer = Trainer(dataset: single, settings: seeded, checkpointDirectory: nil)
            trainer.label = "mlsae.\(side) layer \(layer) SAE"
            let trained = try trainer.train().parameters
            let ownSums = SAEEvaluator.unitSums(trained, activation: perLayer.activation.inference, dataset: single, units: single.validationUnits)
            units[perLayerSlot] = (ownSums.units, ownSums.l0Histogram)
            saes[perLayerSlot] = (trained, perLayer.activation.inference)
            own = trained
        }
        let losses = try SplicedLoss.measure(model: model, tokens: windows, hook: HookPoint(layer: layer, site: site), saes: saes,
                                             batchSize: settings.mlsae.batchSize)
        let seed = settings.seed ^ UInt64(layer) ^ (side == .A ? 0xA : 0xB)
        let evaluation = DatasetEvaluation(units: units, windows: losses, seed: seed, resamples: settings.resamples,
                                           denseThreshold: settings.denseThreshold)
        var entry = MultiLayerFile.Layer(layer: layer, mlsae: evaluation.pairMetrics(mlsaeSlot),
                                         perLayer: own == nil ? nil : evaluation.pairMetrics(perLayerSlot))
        if let own {
            let paired = evaluation.transfer(from: perLayerSlot, home: mlsaeSlot, reported: (false, false))
            entry.comparison = MultiLayerFile.Comparison(
                fveDifference: paired.fveDrop, fveInterval: paired.intervals["fve_drop"],
                ceLossDifference: paired.ceLossDifference, ceLossInterval: paired.intervals["ce_loss_difference"])
            let toMLSAE = try FeatureMatching.mmcs(own, mlsae.0)
            entry.mmcsPerLayerToMLSAE = MultiLayerFile.MMCS(forward: toMLSAE.forward, backward: toMLSAE.backward)
            if let previous {
                let toPrevious = try FeatureMatching.mmcs(own, previous)
                entry.mmcsPerLayerToPrevious = MultiLayerFile.MMCS(forward: toPrevious.forward, backward: toPrevious.backward)
            }
        }
        return (entry, own)
    }

    /// The recipe of each per-layer SAE: the multi-layer SAE's, with 1/L of its features and 1/L of
    /// its batch over as many optimizer steps — so the L of them together match its width, and each
    /// sees its layer's share of the vectors the multi-layer SAE saw, on the same learning-rate
    /// schedule — dead-latent windows of as many steps, and k at most half their width.
    static func perLayerSettings(_ settings: TrainSettings, features: Int, layers: Int, steps: Int) -> TrainSettings {
        var own = settings
        own.dSAE = max(2, features / layers)
        own.batchSize = max(1, settings.batchSize / layers)
        own.epochs = nil
        own.tokens = steps * own.batchSize
        // Dead is counted in tokens: the same share of the run, so AuxK revives latents silent as many steps.
        own.auxKDeadTokens = max(1, settings.auxKDeadTokens / layers)
        own.deadWindowTokens = max(1, settings.deadWindowTokens / layers)
        own.snapshots = []
        own.validateEvery = 0
        let k = { (k: Int) in min(k, max(1, own.dSAE! / 2)) }
        switch settings.activation {
        case .topK(let value): own.activation = .topK(k(value))
        case .batchTopK(let value): own.activation = .batchTopK(k(value))
        default: break
        }
        return own
    }

    static func summary(_ distribution: LayerDistribution, features: Int, byLayer: [MultiLayerFile.Layer], perLayer: TrainSettings?)
        -> MultiLayerFile.SAE {
        let latents = (0..<features).map { latent -> MultiLayerFile.Latent in
            let moments = distribution.moments(latent)
            return MultiLayerFile.Latent(latent: latent, fired: distribution.counts.reduce(0) { $0 + $1[latent] }, meanLayer: moments?.mean,
                                         layerStd: moments?.std, shares: distribution.shares(latent))
        }
        let stds = latents.compactMap(\.layerStd)
        return MultiLayerFile.SAE(
            features: features, layers: distribution.layers, perLayerFeatures: perLayer?.dSAE,
            perLayerTokens: perLayer?.tokens, byLayer: byLayer, latents: latents,
            liveLatents: stds.count, meanLayerStd: stds.isEmpty ? nil : stds.reduce(0, +) / Double(stds.count))
    }
}
