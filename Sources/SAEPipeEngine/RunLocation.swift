import Foundation
import SAEPipeCore

/// Where a run's human-facing outputs go. `outputs/<run_name>/` belongs to the resolved config
/// that first made it; a different resolved config with the same name (a `--set` override, an
/// edited file) goes to `outputs/<run_name>-<hash>/`, so no run silently replaces another's.
public struct RunLocation: Sendable, Equatable {
    /// The directory, `outputs/<name>`.
    public var path: String
    /// Its name under `outputs/`: the run name, or the run name with the config's hash.
    public var name: String
    /// Why the run is not at `outputs/<run_name>/`, with the config differences; nil when it is.
    public var note: String?

    /// Characters of the config's SHA-256 in a suffixed name.
    public static let hashLength = 8

    /// Sections that say how to run, not what to compute: a run with another executor, Slurm
    /// options or BLAS thread count is the same run; `ablate` adds measurements to a run without
    /// changing it.
    public static let executionSections: Set<String> = ["runtime", "slurm", "sweep", "ablate"]

    /// The part of a resolved config that makes a run what it is.
    public static func identity(of config: ConfigValue) -> ConfigValue {
        guard case .map(var sections) = config else { return config }
        for key in executionSections { sections.removeValue(forKey: key) }
        return .map(sections)
    }

    /// Two configs' identities, comparable across saepipe versions: a key the older config lacks
    /// (a setting added since) counts at its default from `defaults`, so setting it to anything else
    /// is a difference; a key the schema no longer has, or that `defaults` does not know, is left out.
    public static func comparable(_ old: ConfigValue, _ new: ConfigValue, defaults: ConfigValue = .null)
        -> (old: ConfigValue, new: ConfigValue)
    {
        func common(_ a: ConfigValue, _ b: ConfigValue, _ fallback: ConfigValue) -> (ConfigValue, ConfigValue) {
            guard case .map(let left) = a, case .map(let right) = b else { return (a, b) }
            func known(_ key: String) -> ConfigValue? { if case .map(let m) = fallback { m[key] } else { nil } }
            var (keptLeft, keptRight) = (left, right)
            for key in left.keys where right[key] == nil { keptLeft.removeValue(forKey: key) }
            for key in right.keys where left[key] == nil {
                if let value = known(key) { keptLeft[key] = value } else { keptRight.removeValue(forKey: key) }
            }
            for key in keptLeft.keys {
                let (l, r) = common(keptLeft[key]!, keptRight[key]!, known(key) ?? .null)
                (keptLeft[key], keptRight[key]) = (l, r)
            }
            return (.map(keptLeft), .map(keptRight))
        }
        return common(identity(of: old), identity(of: new), identity(of: defaults))
    }

    public static func choose(paths: ProjectPaths, runName: String, config fullConfig: ConfigValue,
                              defaults: ConfigValue = .null) -> RunLocation {
        let base = paths.runDirectory(runName)
        let config = identity(of: fullConfig)
        guard let existing = try? RunManifest.read(runDirectory: base) else { return RunLocation(path: base, name: runName, note: nil) }
        let (before, now) = comparable(existing.config, fullConfig, defaults: defaults)
        guard before.canonicalJSON != now.canonicalJSON else { return RunLocation(path: base, name: runName, note: nil) }
        let name = "\(runName)-\(String(Hashing.sha256Hex(config.canonicalJSON).prefix(hashLength)))"
        let changes = Planner.configChanges(old: before, new: now).map { $0.replacingOccurrences(of: "config ", with: "") }
        let shown = changes.prefix(4).joined(separator: "; ") + (changes.count > 4 ? "; … (\(changes.count) differences)" : "")
        return RunLocation(
            path: paths.runDirectory(name), name: name,
            note: "\(base)/ holds the run of a different config (\(shown)), so this run's outputs are in \(paths.runDirectory(name))/")
    }
}
