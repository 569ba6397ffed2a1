import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels
import SAEPipePlot
import SAEPipeSAE

/// ablate (`saepipe ablate`, or `ablate.features` / `ablate.top` in a config): chosen features
/// zeroed in their SAE's spliced reconstruction, and the change in next-token loss on every
/// dataset's held-out windows, with the tokens it hurt most. The stage exists only when asked for.
public enum AblateStage {
    public static let id = StageID("ablate")

    public static let configFields: [ConfigField] = [
        ConfigField("ablate", .section(ConfigSection([
            ConfigField("features", .section(ConfigSection([
                ConfigField("A", .list(.int(0...100_000_000)), default: .list([]), doc: "SAE A's features to ablate"),
                ConfigField("B", .list(.int(0...100_000_000)), default: .list([]), doc: "SAE B's features to ablate"),
            ])), doc: "features by index"),
            ConfigField("top", .int(0...10_000), default: .int(0),
                        doc: "also the N features of each SAE that fire most often on its own dataset's held-out rows"),
            ConfigField("sequences", .int(1...100_000), default: .int(32), doc: "held-out windows of each dataset to measure on"),
        ])), doc: "feature ablation (saepipe ablate): runs only when features are listed or top > 0"),
    ]

    struct Settings {
        var seed: UInt64
        var model: ModelSettings
        var split: ValidationSplit
        var sides: [Side]
        var features: [Side: [Int]]
        var top: Int
        var sequences: Int
        var labels: DatasetLabels
        var activations: ActivationSetChoice

        static func read(_ config: ConfigValue) throws -> (Settings, ConfigValue) {
            try ConfigReader.settings(from: config) { reader in
                let sides = try Side.present(reader)
                var features: [Side: [Int]] = [:]
                for side in sides { features[side] = try reader.decode([Int].self, at: "ablate.features.\(side)") }
                return Settings(
                    seed: try reader.decode(UInt64.self, at: "seed"), model: try ModelSettings.read(reader),
                    split: try reader.decode(ValidationSplit.self, at: "train"), sides: sides, features: features,
                    top: try reader.decode(Int.self, at: "ablate.top"), sequences: try reader.decode(Int.self, at: "ablate.sequences"),
                    labels: try DatasetLabels.read(reader), activations: try ActivationSetChoice.read(reader, config: config))
            }
        }
    }

    /// Whether a config asks for the stage.
    public static func requested(_ config: ConfigValue) -> Bool {
        let lists = Side.allCases.compactMap { config.value(at: ["ablate", "features", $0.rawValue])?.listValue }
        return lists.contains { !$0.isEmpty } || (config.value(at: ["ablate", "top"])?.intValue ?? 0) > 0
    }

    public static let fileName = "ablation.json"

    public static func stage(config: ResolvedConfig, artifacts: String) throws -> StageSpec {
        let (settings, slice) = try Settings.read(config.value)
        return StageSpec(
            id: id, kind: "ablate", version: 1, upstream: settings.sides.map(StageID.collect) + settings.sides.map(StageID.train),
            config: slice,
            run: { context in try run(context, artifacts: artifacts) },
            publish: { context in
                try FileSystem.copyReplacing(context.entryDirectory + "/\(fileName)", to: context.runDirectory + "/\(fileName)")
                for name in ["ablation.csv", "ablation.md"] {
                    try FileSystem.copyReplacing(context.entryDirectory + "/tables/\(name)", to: context.runDirectory + "/tables/\(name)")
                }
                try FileSystem.copyReplacing(context.entryDirectory + "/figures/ablation.png", to: context.runDirectory + "/figures/ablation.png")
                return ["ablation": .string(fileName)]
            })
    }

    static func run(_ context: StageContext, artifacts: String) throws {
        let (settings, _) = try Settings.read(context.config)
        let hook = try settings.model.hookPoint()
        let modelPath = try ModelSource.resolve(settings.model.name, artifacts: artifacts)
        let model = try LanguageModel.load(modelPath)
        let tokenizer = try Tokenizer.load(model: modelPath)
        var datasets: [Side: ActivationDataset] = [:]
        var windows: [Side: TokenBatch] = [:]
        for side in settings.sides {
            let directory = try settings.activations.directory(entry: try context.upstream(.collect(side)))
            let dataset = try ActivationDataset(directory: directory, split: settings.split, seed: settings.seed)
            datasets[side] = dataset
            windows[side] = try SplicedLoss.heldOutWindows(directory, count: settings.sequences, seed: settings.seed,
                                                           heldOut: dataset.validationWindows)
        }
        var file = AblationFile(sequences: windows.mapValues(\.batch).reduce(into: [:]) { $0[$1.key.rawValue] = $1.value }, features: [])
        for side in settings.sides {
            let (sae, activation) = try SAECheckpoint.readSAELens(try context.upstream(.train(side)))
            let listed = settings.features[side] ?? []
            if let outside = listed.first(where: { $0 >= sae.features }) {
                throw SAEPipeError.input("SAE \(side) has \(sae.features) features, so \(outside) is not one of them",
                                         key: "ablate.features.\(side)")
            }
            let dataset = datasets[side]!.normalized(sae.inputNormalization)
            let frequencies = SAEEvaluator.firingFrequencies(sae, activation: activation, dataset: dataset, rows: dataset.validation,
                                                             batchSize: 1024)
            let byFrequency = frequencies.indices.sorted { (frequencies[$0], $1) > (frequencies[$1], $0) }
            var chosen = listed
            for feature in byFrequency.prefix(settings.top) where !chosen.contains(feature) { chosen.append(feature) }
            guard !chosen.isEmpty else { continue }
            var effects: [Side: [Int: FeatureLossEffects.Effect]] = [:]
            for data in settings.sides {
                let batches = (windows[data]!.batch + 7) / 8
                let progress = SAEPipeCore.Progress("ablate SAE \(side) on \(data)", total: chosen.count * batches, unit: "passes")
                effects[data] = try FeatureLossEffects.measure(model: model, hook: hook, sae: sae, activation: activation, features: chosen,
                                                               tokens: windows[data]!, batchSize: 8, keepTokens: 5, progress: progress)
                progress.finish()
            }
            for feature in chosen {
                file.features.append(AblationFile.Feature(
                    sae: side.rawValue, feature: feature, frequency: frequencies[feature],
                    effects: settings.sides.map { data in
                        let effect = effects[data]![feature]!
                        let tokens = windows[data]!
                        return AblationFile.Effect(
                            dataset: data.rawValue, meanLossChange: effect.meanLossChange, interval: interval(effect.windowMeans),
                            predictions: effect.predictions,
                            topTokens: effect.topTokens.map { token in
                                let ids = tokens.ids[(token.window * tokens.seqLen)..<((token.window + 1) * tokens.seqLen)].map(Int.init)
                                let before = ids[max(0, token.position - 12)..<token.position]
                                return AblationFile.Token(token: tokenizer.decode([ids[token.position]]), context: tokenizer.decode(Array(before)),
                                                          lossChange: token.lossChange)
                            })
                    }))
            }
        }
        try JSONFile.write(file, to: context.output(fileName))
        try table(file).write(to: context.output("tables"), name: "ablation")
        try chart(file, labels: settings.labels, subtitle: "\(FileSystem.lastComponent(of: settings.model.name)) · \(hook)")
            .render(text: try TextRenderer()).writePNG(to: context.output("figures") + "/ablation.png")
    }

    /// 95% interval of the mean over windows (normal approximation; nil with fewer than two windows).
    static func interval(_ values: [Double]) -> [Double]? {
        guard values.count >= 2 else { return nil }
        let n = Double(values.count), mean = values.reduce(0, +) / n
        let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        return [mean - 1.96 * sd / n.squareRoot(), mean + 1.96 * sd / n.squareRoot()]
    }

    static func table(_ file: AblationFile) -> Table {
        Table(header: ["SAE", "feature", "frequency", "dataset", "mean_loss_change", "ci_low", "ci_high", "predictions", "most_hurt_token"],
              rows: file.features.flatMap { feature in
                  feature.effects.map { effect in
                      [feature.sae, "\(feature.feature)", String(format: "%.4g", feature.frequency), effect.dataset,
                       String(format: "%.5f", effect.meanLossChange), effect.interval.map { String(format: "%.5f", $0[0]) } ?? "",
                       effect.interval.map { String(format: "%.5f", $0[1]) } ?? "", "\(effect.predictions)",
                       effect.topTokens.first.map { "\($0.context)[\($0.token)] +\(String(format: "%.3f", $0.lossChange))" } ?? ""]
                  }
              })
    }

    /// Mean loss change per feature on each dataset, with 95% intervals.
    static func chart(_ file: AblationFile, labels: DatasetLabels, subtitle: String) -> Chart {
        let datasets = Array(Set(file.features.flatMap { $0.effects.map(\.dataset) })).sorted()
        var series: [Series] = []
        for (index, dataset) in datasets.enumerated() {
            let width = 0.8 / Double(datasets.count)
            var bars: [(x0: Double, x1: Double, y: Double)] = []
            var whiskers: [Series.ErrorBar] = []
            for (position, feature) in file.features.enumerated() {
                guard let effect = feature.effects.first(where: { $0.dataset == dataset }) else { continue }
                let x0 = Double(position) + 0.1 + Double(index) * width
                bars.append((x0, x0 + width * 0.9, effect.meanLossChange))
                if let interval = effect.interval { whiskers.append(Series.ErrorBar(x: x0 + width * 0.45, y0: interval[0], y1: interval[1])) }
            }
            let side = Side(rawValue: dataset) ?? .A
            series.append(.bars(name: "on \(labels[side])", bars: bars, color: Color.palette[index]))
            series.append(.errorBars(intervals: whiskers, color: Color.palette[index].darker))
        }
        var chart = Chart(title: "Next-token loss change when each feature is ablated (95% intervals over windows)",
                          xLabel: "SAE and feature", yLabel: "mean loss change per token (nats)", series: series)
        chart.subtitle = subtitle
        chart.xCategories = file.features.map { "\($0.sae)\($0.feature)" }
        return chart
    }
}

/// `ablation.json`: each ablated feature's effect on every dataset's held-out windows. Written by
/// the ablate stage; read by tests and people.
public struct AblationFile: Codable, Sendable, Equatable {
    public struct Token: Codable, Sendable, Equatable {
        public var token: String
        /// Up to 12 tokens before it.
        public var context: String
        public var lossChange: Double
        enum CodingKeys: String, CodingKey { case token, context, lossChange = "loss_change" }
    }

    public struct Effect: Codable, Sendable, Equatable {
        public var dataset: String
        /// Mean over windows of each window's mean NLL(without) − NLL(with), nats per token: positive, the feature helps.
        public var meanLossChange: Double
        public var interval: [Double]?
        public var predictions: Int
        public var topTokens: [Token]
        enum CodingKeys: String, CodingKey {
            case dataset, meanLossChange = "mean_loss_change", interval, predictions, topTokens = "top_tokens"
        }
    }

    public struct Feature: Codable, Sendable, Equatable {
        public var sae: String
        public var feature: Int
        /// Share of its own dataset's held-out rows it fires on.
        public var frequency: Double
        public var effects: [Effect]
    }

    /// Windows measured per dataset.
    public var sequences: [String: Int]
    public var features: [Feature]
}
