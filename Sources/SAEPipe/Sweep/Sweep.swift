import Foundation
import SAEPipeCore
import SAEPipeEngine
import SAEPipeHub
import SAEPipeModels

/// A sweep: one base config and the keys to vary, expanded into variants that are each a
/// complete run under `<outputs>/sweeps/<name>/<variant>/`. Variants share every stage
/// whose config slice they share, through the content-addressed cache.
public struct SweepDefinition: Sendable {
    public var name: String
    /// `<outputs>/sweeps/<name>`, or `<name>-<hash>` when another sweep's config holds that name.
    public var directory: String
    public var base: ResolvedConfig
    public var axes: [SweepAxis]
    public var variants: [SweepVariant]
    /// Each variant runs up to this stage (all stages when nil).
    public var until: String?
    /// Why the sweep is not in `sweeps/<name>/`; nil when it is.
    public var note: String? = nil
    /// Where the variants' stages run (`sweep.executor`, or `--executor`).
    public var executor: Executor = .local

    public var sweptKeys: [String] { axes.map(\.key) }
}

/// One swept key: a list of values (grid) or a way to draw them (random search).
public struct SweepAxis: Sendable {
    public enum Kind: String, Sendable { case grid, range, logRange = "log_range", choice }
    public var key: String
    public var kind: Kind
    /// Grid and choice values; a range's two bounds.
    public var values: [YAMLNode]
    /// Where the axis was written (a config line or a command-line option), for errors.
    public var location: SourceLocation

    public var isRandom: Bool { kind != .grid }
}

public struct SweepVariant: Sendable {
    public var name: String
    /// The swept keys' values, as written (or drawn), in axis order.
    public var assignments: [(key: String, node: YAMLNode)]
    public var experiment: Experiment

    /// The decoded value of each swept key in this variant's resolved config.
    public func value(of key: String) -> ConfigValue { experiment.config[path: key] }
}

/// The sweep options given on the command line; they add to (or replace, key by key) the
/// config's `sweep:` section.
public struct SweepArguments: Sendable {
    public var grid: [String] = []
    public var random: Int?
    public var ranges: [String] = []
    public var logRanges: [String] = []
    public var choices: [String] = []
    public var seed: Int?
    public var name: String?
    public var until: String?
    public var executor: Executor?

    public init(grid: [String] = [], random: Int? = nil, ranges: [String] = [], logRanges: [String] = [],
                choices: [String] = [], seed: Int? = nil, name: String? = nil, until: String? = nil, executor: Executor? = nil) {
        self.executor = executor
        self.grid = grid
        self.random = random
        self.ranges = ranges
        self.logRanges = logRanges
        self.choices = choices
        self.seed = seed
        self.name = name
        self.until = until
    }
}

extension SweepDefinition {
    public static let configFields: [ConfigField] = [
        ConfigField("sweep", .section(ConfigSection([
            ConfigField("name", .fileName, doc: "the sweep's directory under paths.outputs/sweeps/; defaults to the config file's name"),
            ConfigField("grid", .dictionary(.list(.any)), default: .map([:]),
                        doc: "`key.path: [v1, v2, …]` — every combination of the listed values is a variant; `a..b` spans integers, `model.layer: all` every layer"),
            ConfigField("random", .section(ConfigSection([
                ConfigField("count", .int(0...100_000), default: .int(0), doc: "random draws; each is combined with every grid point"),
                ConfigField("seed", .int(0...Int(UInt32.max)), doc: "seed of the draws; defaults to the config's seed"),
                ConfigField("range", .dictionary(.list(.double())), default: .map([:]), doc: "`key.path: [low, high]`, drawn uniformly"),
                ConfigField("log_range", .dictionary(.list(.double())), default: .map([:]), doc: "`key.path: [low, high]`, drawn log-uniformly (low > 0)"),
                ConfigField("choice", .dictionary(.list(.any)), default: .map([:]), doc: "`key.path: [v1, v2, …]`, one drawn uniformly"),
            ])), doc: "random search"),
            ConfigField("until", .string, doc: "run each variant up to this stage (e.g. eval skips the figures); every stage by default"),
            ConfigField("executor", .choice(Executor.allCases.map(\.rawValue)), default: .string(Executor.local.rawValue),
                        doc: "`local` runs the variants here; `slurm` submits each stage as a Slurm job (see the `slurm` section)"),
        ])), doc: "`saepipe sweep`: the keys to vary; ignored by `saepipe run`"),
    ]

    /// The scalar keys of the `sweep:` section (its axes are read from the config's nodes, to keep their locations).
    struct SweepSection {
        var name: String?
        var until: String?
        var executor: Executor
        var randomCount: Int
        var randomSeed: Int?

        static func read(_ config: ConfigValue) throws -> SweepSection {
            let reader = ConfigReader(config)
            return SweepSection(
                name: try reader.decode(String?.self, at: "sweep.name"), until: try reader.decode(String?.self, at: "sweep.until"),
                executor: try reader.decode(Executor.self, at: "sweep.executor"),
                randomCount: try reader.decode(Int.self, at: "sweep.random.count"),
                randomSeed: try reader.decode(Int?.self, at: "sweep.random.seed"))
        }
    }

    /// Loads the config, reads its `sweep:` section and `arguments`, and builds every variant,
    /// so a bad key or value stops the sweep before anything runs.
    public static func load(
        configPath: String, overrides: [String] = [], arguments: SweepArguments = SweepArguments(),
        schema: ConfigSchema = ExperimentSchema.schema,
        stages: (ResolvedConfig) throws -> [StageSpec] = PipelineStages.stages(for:)
    ) throws -> SweepDefinition {
        let loader = ConfigLoader(schema: schema)
        let (node, files) = try loader.loadNode(path: configPath, overrides: overrides)
        let base = try loader.resolve(node, path: configPath, files: files)
        var axes = try axesFromConfig(node.value(forKey: "sweep"))
        for axis in try axesFromArguments(arguments) {
            axes.removeAll { $0.key == axis.key }
            axes.append(axis)
        }
        let project = try ProjectSettings.read(base.value)
        let section = try SweepSection.read(base.value)
        let randomCount = arguments.random ?? section.randomCount
        guard !axes.isEmpty else {
            throw SAEPipeError.input("the sweep varies no key", file: configPath,
                                     hint: "add --grid key.path=v1,v2 (or --random N with --range/--log-range/--choice), or a `sweep: {grid: …}` section")
        }
        if let random = axes.first(where: \.isRandom), randomCount == 0 {
            throw SAEPipeError.input("`\(random.key)` is drawn at random but no draws are asked for", at: random.location,
                                     key: "sweep.random.count", hint: "pass --random N or set sweep.random.count")
        }
        if randomCount > 0, !axes.contains(where: \.isRandom) {
            throw SAEPipeError.input("--random \(randomCount) needs a key to draw", file: configPath,
                                     hint: "add --range, --log-range or --choice (or sweep.random.range/log_range/choice)")
        }
        let outputs = project.paths.outputs
        let stem = URL(fileURLWithPath: configPath).deletingPathExtension().lastPathComponent
        let name = arguments.name ?? section.name ?? stem
        if let problem = ConfigSchema.fileNameProblem(name) {
            throw SAEPipeError.input("sweep name `\(name)` cannot name a directory: \(problem)", key: "sweep.name",
                                     hint: "use letters, digits, '-' and '_'")
        }
        let seed = arguments.seed ?? section.randomSeed ?? Int(project.seed)

        let gridValues = try axes.filter { !$0.isRandom }.map { try expand($0, schema: schema, base: base) }
        var draws: [[YAMLNode]] = [[]]
        if randomCount > 0 {
            var generator = SplitMix64(seed: UInt64(seed) ^ 0x5357_4545_5053_4545)  // "SWEEPSEE": draws differ from training's stream
            let random = axes.filter(\.isRandom)
            draws = try (0..<randomCount).map { _ in try random.map { try draw($0, schema: schema, generator: &generator) } }
        }
        var combinations: [[YAMLNode]] = [[]]
        for values in gridValues { combinations = combinations.flatMap { prefix in values.map { prefix + [$0] } } }
        let ordered = axes.filter { !$0.isRandom } + axes.filter(\.isRandom)
        // A grid over model.layer collects every swept layer in one pass that all variants share.
        let sharedLayers: YAMLNode? = {
            guard let index = axes.filter({ !$0.isRandom }).firstIndex(where: { $0.key == "model.layer" }),
                  base.value[path: "model.layers"] == .null, base.value[path: "model.hook"] == .null else { return nil }
            let layers = Set(gridValues[index].compactMap { $0.scalarText.flatMap(Int.init) }).sorted()
            let here = SourceLocation(file: "sweep \(name)", line: 1, column: 1)
            return layers.count > 1 ? .sequence(layers.map { .scalar(String($0), quoted: false, here) }, here) : nil
        }()
        func build(in directory: String) throws -> [SweepVariant] {
            var names = Set<String>()
            var variants: [SweepVariant] = []
            for combination in combinations {
                for drawn in draws {
                    let assignments = Array(zip(ordered.map(\.key), combination + drawn)).map { (key: $0.0, node: $0.1) }
                    let baseName = variantName(assignments)
                    var variantName = baseName
                    var suffix = 2
                    while names.contains(variantName) { variantName = "\(baseName)-\(suffix)"; suffix += 1 }
                    names.insert(variantName)
                    var variantNode = loader.removing("sweep", from: node)
                    for (axis, assignment) in zip(ordered, assignments) {
                        variantNode = loader.setting(assignment.node, at: axis.key.split(separator: ".").map(String.init),
                                                     in: variantNode, keyLocation: axis.location)
                    }
                    let here = SourceLocation(file: "sweep \(name)", line: 1, column: 1)
                    if let sharedLayers {
                        variantNode = loader.setting(sharedLayers, at: ["model", "layers"], in: variantNode, keyLocation: here)
                    }
                    variantNode = loader.setting(.scalar(directory, quoted: true, here), at: ["paths", "outputs"], in: variantNode, keyLocation: here)
                    variantNode = loader.setting(.scalar(variantName, quoted: true, here), at: ["run_name"], in: variantNode, keyLocation: here)
                    let config = try loader.resolve(variantNode, path: configPath, files: files)
                    let experiment: Experiment
                    do { experiment = try Experiment.make(config: config, stages: stages) } catch var error as SAEPipeError {
                        error.message = "sweep variant `\(variantName)`: " + error.message
                        throw error
                    }
                    variants.append(SweepVariant(name: variantName, assignments: assignments, experiment: experiment))
                }
            }
            return variants
        }
        // The sweep's directory belongs to the definition that made it: when a variant there was
        // made from a different config (the base config or the values changed), this sweep
        // goes to a hash-suffixed sibling instead of replacing it.
        var directory = "\(outputs)/sweeps/\(name)"
        var variants = try build(in: directory)
        var note: String?
        if let clash = variants.first(where: { $0.experiment.location().note != nil }) {
            let fingerprint = Hashing.sha256Hex(variants.map { RunLocation.identity(of: $0.experiment.config.value).canonicalJSON }.joined(separator: "\n"))
            let moved = "\(outputs)/sweeps/\(name)-\(fingerprint.prefix(RunLocation.hashLength))"
            note = "\(directory)/ holds a sweep of a different config (its variant \(clash.name) differs), so this sweep's outputs are in \(moved)/"
            directory = moved
            variants = try build(in: directory)
        }
        let until = arguments.until ?? section.until
        if let until, let first = variants.first, !first.experiment.graph.stages.contains(where: { $0.id.rawValue == until || $0.kind == until }) {
            throw SAEPipeError.input("no stage `\(until)` to run the variants until", key: "sweep.until",
                                     hint: "use one of " + first.experiment.graph.stages.map(\.id.rawValue).joined(separator: ", "))
        }
        return SweepDefinition(name: name, directory: directory, base: base, axes: ordered, variants: variants, until: until, note: note,
                               executor: arguments.executor ?? section.executor)
    }

    // MARK: - Axes

    static func axesFromConfig(_ section: YAMLNode?) throws -> [SweepAxis] {
        guard let section else { return [] }
        var axes: [SweepAxis] = []
        func entries(_ node: YAMLNode?, _ kind: SweepAxis.Kind) {
            guard case .mapping(let pairs, _)? = node else { return }
            for pair in pairs {
                guard let key = pair.key.scalarText else { continue }
                let values: [YAMLNode]
                if case .sequence(let items, _) = pair.value { values = items } else { values = [pair.value] }
                axes.append(SweepAxis(key: key, kind: kind, values: values, location: pair.key.location))
            }
        }
        entries(section.value(forKey: "grid"), .grid)
        let random = section.value(forKey: "random")
        entries(random?.value(forKey: "range"), .range)
        entries(random?.value(forKey: "log_range"), .logRange)
        entries(random?.value(forKey: "choice"), .choice)
        for axis in axes where axis.values.isEmpty {
            throw SAEPipeError.input("`\(axis.key)` lists no values", at: axis.location, key: "sweep", hint: "give at least one value")
        }
        return axes
    }

    static func axesFromArguments(_ arguments: SweepArguments) throws -> [SweepAxis] {
        var axes: [SweepAxis] = []
        for (option, kind, list) in [("--grid", SweepAxis.Kind.grid, arguments.grid), ("--range", .range, arguments.ranges),
                                     ("--log-range", .logRange, arguments.logRanges), ("--choice", .choice, arguments.choices)] {
            for (index, text) in list.enumerated() {
                let source = "\(option)[\(index + 1)] '\(text)'"
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                    throw SAEPipeError.input("\(option) must look like key.path=v1,v2", at: SourceLocation(file: source, line: 1, column: 1),
                                             hint: "for example \(option) train.l1_coefficient=" + (kind == .grid || kind == .choice ? "1,3,10" : "0.5,20"))
                }
                let key = String(text[..<equals])
                let valueText = String(text[text.index(after: equals)...])
                // The values are read as a YAML flow list, so they are typed like config values.
                let listText = valueText.hasPrefix("[") ? valueText : "[\(valueText)]"
                let parsed = try YAMLParser.parse(listText, sourceName: source)
                let shifted = ConfigLoader.shift(parsed, columns: key.count + (valueText.hasPrefix("[") ? 1 : 0))
                guard case .sequence(let items, _) = shifted, !items.isEmpty else {
                    throw SAEPipeError.input("\(option) \(key) lists no values", at: SourceLocation(file: source, line: 1, column: key.count + 2))
                }
                axes.append(SweepAxis(key: key, kind: kind, values: items, location: SourceLocation(file: source, line: 1, column: 1)))
            }
        }
        return axes
    }

    /// A grid axis's values, with `a..b` integer spans and `model.layer: all` spelled out.
    static func expand(_ axis: SweepAxis, schema: ConfigSchema, base: ResolvedConfig) throws -> [YAMLNode] {
        let path = axis.key.split(separator: ".").map(String.init)
        let isInt: Bool
        if case .int? = schema.type(at: path) { isInt = true } else { isInt = false }
        return try axis.values.flatMap { node -> [YAMLNode] in
            guard case .scalar(let text, false, let location) = node else { return [node] }
            if text == "all", axis.key == "model.layer" {
                return (0..<(try layerCount(base))).map { .scalar(String($0), quoted: false, location) }
            }
            let ends = text.components(separatedBy: "..")
            guard isInt, ends.count == 2, let low = Int(ends[0]), let high = Int(ends[1]) else { return [node] }
            guard low <= high else {
                throw SAEPipeError.input("empty span \(text) for `\(axis.key)`", at: location, key: axis.key, hint: "write low..high")
            }
            return (low...high).map { .scalar(String($0), quoted: false, location) }
        }
    }

    static func layerCount(_ base: ResolvedConfig) throws -> Int {
        let name = try ModelSettings.read(ConfigReader(base.value)).name
        let artifacts = try ProjectSettings.read(base.value).paths.artifacts
        // Only the embedding is read: the dimensions are in the config or GGUF header.
        let model = try ModelSource.load(name, artifacts: artifacts, scope: LoadScope(layers: 0, unembedding: false))
        return model.dimensions.layerCount
    }

    /// One random value for `axis`; numbers are kept to 4 significant digits so a variant's
    /// name is its value.
    static func draw(_ axis: SweepAxis, schema: ConfigSchema, generator: inout SplitMix64) throws -> YAMLNode {
        let u = generator.nextUnit()
        if axis.kind == .choice { return axis.values[min(Int(u * Double(axis.values.count)), axis.values.count - 1)] }
        let bounds = axis.values.compactMap { $0.scalarText.flatMap(Double.init) }
        guard bounds.count == 2, bounds[0] < bounds[1] else {
            throw SAEPipeError.input("`\(axis.key)` needs two numbers, low < high", at: axis.location, key: axis.key)
        }
        let type = schema.type(at: axis.key.split(separator: ".").map(String.init))
        let value: Double
        if axis.kind == .logRange {
            guard bounds[0] > 0 else {
                throw SAEPipeError.input("a log range needs low > 0 (`\(axis.key)`)", at: axis.location, key: axis.key, hint: "use range for spans that include 0")
            }
            value = exp(log(bounds[0]) + u * (log(bounds[1]) - log(bounds[0])))
        } else {
            value = bounds[0] + u * (bounds[1] - bounds[0])
        }
        switch type {
        case .int?: return .scalar(String(Int(value.rounded())), quoted: false, axis.location)
        case .double?: return .scalar(String(format: "%.4g", value), quoted: false, axis.location)
        default:
            throw SAEPipeError.input("`\(axis.key)` is not a numeric key, so it cannot be drawn from a range", at: axis.location,
                                     key: axis.key, hint: "use a choice (--choice \(axis.key)=a,b) or a grid")
        }
    }

    // MARK: - Names

    /// `l1_coefficient=3,expansion=8`: the last part of each key, unless two swept keys share it.
    static func variantName(_ assignments: [(key: String, node: YAMLNode)]) -> String {
        let lasts = assignments.map { String($0.key.split(separator: ".").last ?? "") }
        return assignments.enumerated().map { index, assignment in
            let key = lasts.filter { $0 == lasts[index] }.count > 1 ? assignment.key : lasts[index]
            return "\(key)=\(display(assignment.node))"
        }.joined(separator: ",")
    }

    static func display(_ node: YAMLNode) -> String {
        let text: String
        switch node {
        case .scalar(let value, _, _): text = value
        case .sequence(let items, _): text = items.map(display).joined(separator: "+")
        case .mapping: text = "map"
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
        return String(text.map { allowed.contains($0) ? $0 : "_" })
    }
}
